"""The engine's compiled decode attention for bfloat16 arms: built once per machine, called through ctypes.

``csrc/decode_attention.cpp`` attends each row of a decode step over its own bfloat16 keys and
values in float32 arithmetic, one (row, key/value head) at a time, so a row's bits do not depend on
the batch or the thread count (see the source). It reads half the bytes of the float32 store and
no masked keys; on the 2-core AMD machine of docs/performance.md that made one layer's decode
attention 2.2-3.4x faster than the batched float32 matmuls it replaces, and generation 1.37x.

The library is compiled with the system C++ compiler (``$CXX``, else ``c++``/``g++``) the first time
it is needed and kept under ``$EVALKIT_HOME/kernels/<hash>`` (the hash covers the source, the flags,
the compiler and this CPU's model and flags, since ``-march=native`` code runs only where it was
built). Without a compiler, or when the build fails, :func:`available` is False and the engine
keeps its float32 KV store and torch attention; the fingerprint records which path an arm ran
(:func:`attention_path`), so the two never share cached generations. ``EVALKIT_DECODE_KERNEL=0``
turns the kernel off.

Nothing here imports torch at module level: the fingerprint asks :func:`attention_path` on warm runs
that import no model library.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "csrc" / "decode_attention.cpp"
# -fopenmp links libgomp.so.1: in a process that imported torch that is torch's own copy (same
# soname, already loaded), so the kernel's parallel rows run on torch's OpenMP threads.
FLAGS = ("-O3", "-march=native", "-std=c++20", "-shared", "-fPIC", "-fopenmp")
LIBRARY = "libevalkit_decode_attention.so"
KERNEL_PATH = "cpu-kernel-1"  # fingerprint value of the compiled path; bump with the numerics
TORCH_PATH = "torch-float32"
ENV = "EVALKIT_DECODE_KERNEL"
_ARGTYPES = [ctypes.c_void_p] * 5 + [ctypes.c_int64] * 6


def compiler() -> str | None:
    """The C++ compiler to build with: ``$CXX``, else ``c++`` or ``g++`` on PATH; None without one."""
    if os.environ.get("CXX"):
        return shutil.which(os.environ["CXX"]) or None
    return shutil.which("c++") or shutil.which("g++")


def _cpu_identity() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(errors="replace").splitlines()
    except OSError:
        return os.uname().machine
    wanted = [line for line in lines if line.startswith(("model name", "flags"))]
    return "\n".join(dict.fromkeys(wanted))  # each distinct line once (one per core otherwise)


def build_key(cxx: str) -> str:
    """The cache key of a build: source, flags, compiler and CPU."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    for part in (*FLAGS, os.path.realpath(cxx), _cpu_identity()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def _kernels_dir() -> Path:
    from evalkit.home import evalkit_home

    return evalkit_home() / "kernels"


def build(directory: Path | None = None) -> Path | None:
    """The compiled library, built now if this machine has none yet; None when it cannot be built."""
    cxx = compiler()
    if cxx is None or not SOURCE.is_file():
        return None
    folder = (directory or _kernels_dir()) / build_key(cxx)
    target = folder / LIBRARY
    if target.is_file():
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            partial = Path(scratch) / LIBRARY
            done = subprocess.run([cxx, *FLAGS, "-o", str(partial), str(SOURCE)],
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0 or not partial.is_file():
                return None
            os.replace(partial, target)  # atomic: a concurrent build ends with one complete file
    except (OSError, subprocess.SubprocessError):  # read-only home, compiler crash or timeout
        return None
    return target


def enabled() -> bool:
    """False when ``EVALKIT_DECODE_KERNEL=0`` turns the kernel off."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@lru_cache(maxsize=1)
def _library():
    if not enabled():
        return None
    path = build()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return None
    function = lib.evalkit_decode_attention_bf16
    function.restype = ctypes.c_int
    function.argtypes = _ARGTYPES
    return function


def available() -> bool:
    """Whether the compiled decode attention can run here (built, loadable, not turned off)."""
    return _library() is not None


def attention_path(dtype: str) -> str:
    """Which decode attention an arm computing in ``dtype`` runs: recorded in its fingerprint."""
    return KERNEL_PATH if dtype == "bfloat16" and available() else TORCH_PATH


def decode_attention(q, keys, values, positions, out, *, groups: int, threads: int = 1) -> None:
    """Attend rows ``0..len(positions)-1`` of a decode step (see ``csrc/decode_attention.cpp``).

    ``q`` [rows, heads, dim] float32 (scaled), ``keys`` [store rows, kv_heads, dim, capacity] (each
    key a column) and ``values`` [store rows, kv_heads, capacity, dim] bfloat16, ``positions`` [rows]
    int64, ``out`` [rows, heads, dim] float32, all contiguous; ``capacity`` a multiple of 16. The
    rows are dealt out to ``threads`` OpenMP threads; every row's result is the same however many.
    """
    function = _library()
    rows = int(positions.shape[0])
    kv_heads, capacity, dim = values.shape[1], values.shape[2], values.shape[3]
    code = function(q.data_ptr(), keys.data_ptr(), values.data_ptr(), positions.data_ptr(), out.data_ptr(),
                    rows, kv_heads, groups, capacity, dim, max(1, threads))
    if code:
        raise ValueError(f"decode kernel: cannot take head_dim {dim}, {groups} groups, capacity {capacity}")
