"""Throughput of the served backend against loopback ``transformers serve``, with the HF backend as baseline.

Usage: python bench/served_throughput.py [--samples 32] [--max-new-tokens 32] [--concurrency 1,4,16]
           [--threads N] [--continuous-batching] [--model-dir DIR] [--json OUT]

The same greedy prompts (the first ``--samples`` questions of
``suites/general-knowledge``, rendered as the runner renders them) are run:

* in-process by the HF backend, batch size 1 and batch size ``--samples``;
* over HTTP by :class:`~evalkit.models.openai_backend.OpenAIBackend` against
  ``transformers serve`` (started with ``tests/serve_fixture.py``) at each
  concurrency; with ``--continuous-batching`` a second server with continuous
  batching is measured too.

Each configuration gets one warm-up request first. Samples/s is samples over
wall time; completion tokens/s uses the tokens each backend reports (the
server's ``usage.completion_tokens`` includes the end-of-sequence token, the
HF backend's count does not, so served rows count up to one token more per
sample). ``--threads`` sets OpenMP/torch threads for both sides (default: the
machine's default), which matters a lot on a small, busy CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from serve_fixture import TransformersServe  # noqa: E402

from evalkit.models.loader import load_model  # noqa: E402
from evalkit.models.registry import model_path  # noqa: E402
from evalkit.models.spec import GenerationConfig, ModelSpec  # noqa: E402
from evalkit.suite.loader import load_suite  # noqa: E402


def measure(backend, inputs: list, config: GenerationConfig, **kwargs) -> dict:
    """Render and generate ``inputs`` once (after a one-prompt warm-up); wall time, samples/s and tokens/s."""
    prompts = [(f"s{i}", backend.render(text)) for i, text in enumerate(inputs)]
    backend.generate(prompts[:1], config, **kwargs)
    started = time.perf_counter()
    generations = backend.generate(prompts, config, **kwargs)
    wall = time.perf_counter() - started
    errors = [g.error for g in generations if g.error]
    if errors:
        raise SystemExit(f"{len(errors)} request(s) failed, e.g. {errors[0]}")
    tokens = sum(g.new_tokens for g in generations)
    return {"wall_s": wall, "samples_per_s": len(prompts) / wall, "tokens_per_s": tokens / wall,
            "tokens": tokens, "texts": [g.text for g in generations]}


def run_served(model_dir: Path, inputs: list, config: GenerationConfig, levels: list[int], *, cb: bool,
               log_dir: Path) -> list[tuple[str, dict]]:
    """Start ``transformers serve`` (optionally with continuous batching) and measure each concurrency."""
    label = "served+cb" if cb else "served"
    server = TransformersServe(model_dir, log_dir / f"{label}.log", startup_timeout=300,
                               extra_args=["--continuous-batching"] if cb else [])
    rows = []
    with server:
        for level in levels:
            spec = ModelSpec(name=label, backend="openai", base_url=server.base_url, model=server.model,
                             max_concurrency=level, timeout=600)
            backend = load_model(spec).backend
            rows.append((f"{label} c={level}", measure(backend, inputs, config)))
            backend.close()
            print(f"  {rows[-1][0]}: {rows[-1][1]['samples_per_s']:.2f} samples/s", flush=True)
    return rows


def print_table(rows: list[tuple[str, dict]], baseline: str) -> None:
    """The results as a plain-text table with ratios to ``baseline``."""
    base = dict(rows)[baseline]
    print(f"\n{'configuration':<22}{'wall s':>9}{'samples/s':>11}{'tok/s':>9}{'x samples/s':>13}"
          f"  (ratio vs {baseline})")
    for name, r in rows:
        ratio = r["samples_per_s"] / base["samples_per_s"]
        print(f"{name:<22}{r['wall_s']:>9.2f}{r['samples_per_s']:>11.2f}{r['tokens_per_s']:>9.1f}{ratio:>13.2f}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--threads", type=int, default=0, help="OpenMP/torch threads (0: default)")
    parser.add_argument("--model-dir", type=Path, help="model folder (default: the pulled default model)")
    parser.add_argument("--continuous-batching", action="store_true", help="also measure a CB server")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    if args.threads:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the server processes
        torch.set_num_threads(args.threads)
    model_dir = args.model_dir or model_path("smollm2-135m-instruct")
    suite = load_suite(str(ROOT / "suites" / "general-knowledge"), limit=args.samples)
    inputs = [suite.render_prompt(s) for s in suite.samples]
    config = GenerationConfig(max_new_tokens=args.max_new_tokens, temperature=0.0)
    levels = [int(x) for x in args.concurrency.split(",")]
    threads = args.threads or "default"
    print(f"{len(inputs)} prompts, max_new_tokens={args.max_new_tokens}, greedy, threads={threads}")

    hf = load_model(ModelSpec(name="hf", base=str(model_dir))).backend
    rows = [("hf batch=1", measure(hf, inputs, config, batch_size=1)),
            (f"hf batch={len(inputs)}", measure(hf, inputs, config, batch_size=len(inputs)))]
    for name, result in rows:
        print(f"  {name}: {result['samples_per_s']:.2f} samples/s", flush=True)
    with tempfile.TemporaryDirectory(prefix="served-bench-") as tmp:
        rows += run_served(model_dir, inputs, config, levels, cb=False, log_dir=Path(tmp))
        if args.continuous_batching:
            rows += run_served(model_dir, inputs, config, levels, cb=True, log_dir=Path(tmp))
    same = sum(r["texts"] == rows[0][1]["texts"] for _, r in rows)
    print_table(rows, "hf batch=1")
    print(f"\n{same}/{len(rows)} configurations produced exactly the texts of 'hf batch=1'.")
    if args.json:
        numbers = {name: {k: v for k, v in r.items() if k != "texts"} for name, r in rows}
        args.json.write_text(json.dumps(numbers, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
