// evalkit's decode attention over a bfloat16 KV store, in float32 arithmetic.
//
// One decode step of the generation engine: every row adds one token and attends over its own
// keys 0..position. Each (row, key/value head) is computed alone, by the same loops whatever else
// is in the batch, with every sum in a fixed order, so a row's output bits depend only on its own
// query, keys and values: not on the batch, the other rows' lengths, or how rows are split over
// threads. The keys and values of a bfloat16 model are bfloat16 numbers already (they come out of
// bfloat16 linear layers), so storing them in bfloat16 loses nothing; they are widened to float32
// as they are read, and products, softmax and sums are float32. Reading half the bytes of a
// float32 store, and no masked keys at all, is where the speed comes from.
//
// Built by evalkit/models/decode_kernel.py with the system C++ compiler (-O3 -march=native -fopenmp,
// no -ffast-math) and called through ctypes; evalkit falls back to its torch path without it.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace {

constexpr int LANES = 16;
constexpr int64_t MAX_BLOCK_GROUPS = 16;  // query heads scored together by the generic path

inline float widen(uint16_t half) { return std::bit_cast<float>(static_cast<uint32_t>(half) << 16); }

// exp(x) for x <= 0 (softmax after subtracting the maximum), branch-free so its loop vectorizes:
// Cody-Waite reduction by ln 2 and Cephes' degree-6 polynomial for expf (within 2 ulp).
inline float exp_nonpositive(float x) {
    x = x < -87.0f ? -87.0f : x;
    float n = std::nearbyint(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t exponent = (static_cast<int32_t>(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &exponent, sizeof scale);
    return p * scale;
}

// Scratch of one thread: widened values, scores, output accumulators.
struct Scratch {
    std::vector<float> wide, scores, acc;
    void fit(int64_t dim, int64_t groups, int64_t n) {
        if (static_cast<int64_t>(wide.size()) < dim) wide.resize(dim);
        int64_t blocks = (n + LANES - 1) / LANES * LANES;
        if (static_cast<int64_t>(scores.size()) < groups * blocks) scores.resize(groups * blocks);
        if (static_cast<int64_t>(acc.size()) < groups * dim) acc.resize(groups * dim);
    }
};

// Scores of `groups` queries against keys j0..j0+LANES-1, keys stored transposed ([dim][capacity]):
// each key's sum runs over the dimension in order, one key per vector lane. G > 0 fixes the group
// count at compile time (the accumulators stay in registers); 0 takes `groups`.
template <int G>
inline void score_block(const float *q, const uint16_t *keys_t, float *scores, int64_t j0, int64_t dim,
                        int64_t capacity, int64_t groups, int64_t stride) {
    const int64_t count = G ? G : groups;
#if defined(__AVX512F__)
    __m512 acc[G ? G : MAX_BLOCK_GROUPS];
    for (int64_t g = 0; g < count; g++) acc[g] = _mm512_setzero_ps();
    for (int64_t c = 0; c < dim; c++) {
        __m256i half = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(keys_t + c * capacity + j0));
        __m512 k = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));
        for (int64_t g = 0; g < count; g++) acc[g] = _mm512_fmadd_ps(_mm512_set1_ps(q[g * dim + c]), k, acc[g]);
    }
    for (int64_t g = 0; g < count; g++) _mm512_storeu_ps(scores + g * stride + j0, acc[g]);
#else
    float acc[G ? G : MAX_BLOCK_GROUPS][LANES] = {};
    for (int64_t c = 0; c < dim; c++) {
        const uint16_t *row = keys_t + c * capacity + j0;
        float k[LANES];
        for (int l = 0; l < LANES; l++) k[l] = widen(row[l]);
        for (int64_t g = 0; g < count; g++) {
            const float qc = q[g * dim + c];
            for (int l = 0; l < LANES; l++) acc[g][l] = std::fma(qc, k[l], acc[g][l]);
        }
    }
    for (int64_t g = 0; g < count; g++) std::memcpy(scores + g * stride + j0, acc[g], sizeof acc[g]);
#endif
}

// acc[g][c] += p[g] * value[c] for one key's value vector, c in order.
inline void accumulate_value(const uint16_t *value, const float *p, int64_t p_stride, float *acc,
                             int64_t groups, int64_t dim, float *wide) {
#if defined(__AVX512F__)
    if (dim % LANES == 0) {
        for (int64_t c = 0; c < dim; c += LANES) {
            __m256i half = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(value + c));
            __m512 v = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));
            for (int64_t g = 0; g < groups; g++) {
                float *a = acc + g * dim + c;
                _mm512_storeu_ps(a, _mm512_fmadd_ps(_mm512_set1_ps(p[g * p_stride]), v, _mm512_loadu_ps(a)));
            }
        }
        return;
    }
#endif
    for (int64_t c = 0; c < dim; c++) wide[c] = widen(value[c]);
    for (int64_t g = 0; g < groups; g++) {
        const float pg = p[g * p_stride];
        float *a = acc + g * dim;
        for (int64_t c = 0; c < dim; c++) a[c] = std::fma(pg, wide[c], a[c]);
    }
}

// One key/value head of one row: its `groups` query heads attend over keys 0..n-1.
template <int G>
void attend_head(const float *queries, const uint16_t *keys_t, const uint16_t *values, float *out,
                 Scratch &scratch, int64_t n, int64_t groups, int64_t dim, int64_t capacity) {
    float *wide = scratch.wide.data();
    float *scores = scratch.scores.data();
    float *acc = scratch.acc.data();
    const int64_t stride = (n + LANES - 1) / LANES * LANES;  // the last block's extra lanes are dropped
    // A compile-time group count scores all groups at once; any other count goes MAX_BLOCK_GROUPS
    // groups at a time (each group's scores are the same either way).
    for (int64_t first = 0; first < groups; first += G ? G : MAX_BLOCK_GROUPS) {
        const int64_t count = G ? G : std::min<int64_t>(MAX_BLOCK_GROUPS, groups - first);
        for (int64_t j0 = 0; j0 < n; j0 += LANES)
            score_block<G>(queries + first * dim, keys_t, scores + first * stride, j0, dim, capacity, count,
                           stride);
    }
    for (int64_t g = 0; g < groups; g++) {
        float *s = scores + g * stride;
        float top = s[0];
        for (int64_t j = 1; j < n; j++) top = s[j] > top ? s[j] : top;
        for (int64_t j = 0; j < n; j++) s[j] = exp_nonpositive(s[j] - top);
        float total = 0.0f;
        for (int64_t j = 0; j < n; j++) total += s[j];
        float inverse = 1.0f / total;
        for (int64_t j = 0; j < n; j++) s[j] *= inverse;
    }
    for (int64_t i = 0; i < groups * dim; i++) acc[i] = 0.0f;
    for (int64_t j = 0; j < n; j++) accumulate_value(values + j * dim, scores + j, stride, acc, groups, dim, wide);
    std::memcpy(out, acc, groups * dim * sizeof(float));
}

template <int G>
void attend_rows(const float *q, const uint16_t *keys_t, const uint16_t *values, const int64_t *positions,
                 float *out, int64_t rows, int64_t kv_heads, int64_t groups, int64_t capacity, int64_t dim,
                 int threads) {
    const int64_t heads = kv_heads * groups;
    // Rows are independent, so how OpenMP deals them out changes no bits. The runtime is torch's own
    // (libgomp.so.1 is already loaded by torch), so its waiting threads take the work.
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t row = 0; row < rows; row++) {
        thread_local Scratch scratch;
        const int64_t n = positions[row] + 1;
        scratch.fit(dim, groups, n);
        for (int64_t h = 0; h < kv_heads; h++) {
            const int64_t slot = (row * kv_heads + h) * capacity * dim;
            const int64_t first = (row * heads + h * groups) * dim;
            attend_head<G>(q + first, keys_t + slot, values + slot, out + first, scratch, n, groups, dim,
                           capacity);
        }
    }
}

}  // namespace

// The `rows` rows of a decode step, on up to `threads` OpenMP threads. q: [rows, kv_heads * groups, dim] float32, already
// scaled; keys: [store rows, kv_heads, dim, capacity] bfloat16 bits (transposed: a key is a column),
// values: [store rows, kv_heads, capacity, dim]; capacity a multiple of LANES; positions: [rows]
// int64, each row attends to keys 0..positions[row]; out: [rows, kv_heads * groups, dim] float32.
// Returns 0, or 1 for a geometry this build does not take.
extern "C" int evalkit_decode_attention_bf16(const float *q, const uint16_t *keys, const uint16_t *values,
                                             const int64_t *positions, float *out, int64_t rows,
                                             int64_t kv_heads, int64_t groups, int64_t capacity,
                                             int64_t dim, int64_t threads) {
    if (groups < 1 || dim < 1 || kv_heads < 1 || capacity % LANES) return 1;
#define EVALKIT_ROWS(G) attend_rows<G>(q, keys, values, positions, out, rows, kv_heads, groups, capacity, \
                                       dim, static_cast<int>(threads))
    switch (groups) {
        case 1: EVALKIT_ROWS(1); break;
        case 2: EVALKIT_ROWS(2); break;
        case 3: EVALKIT_ROWS(3); break;
        case 4: EVALKIT_ROWS(4); break;
        case 8: EVALKIT_ROWS(8); break;
        default: EVALKIT_ROWS(0); break;
    }
#undef EVALKIT_ROWS
    return 0;
}

extern "C" int evalkit_decode_attention_version() { return 3; }
