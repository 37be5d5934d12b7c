"""The HF engine, in-process vLLM and served vLLM on the same prompts, interleaved, quiet and under load.

Usage: python bench/engines.py [--samples 16] [--max-new-tokens 32] [--dtypes float32,bfloat16]
           [--repeat 1] [--load-procs 2] [--threads 1] [--vllm-python PATH] [--json OUT]

For each dtype the first ``--samples`` support-triage prompts (greedy) go
through three paths, one after another in every round so that the machine's
other load hits them alike:

* **hf**: evalkit's HF engine in this process;
* **vllm**: ``backend: vllm`` in a worker process in the vLLM venv (built by
  ``tests/vllm_env.py``, or ``--vllm-python``), its engine kept warm between rounds;
* **served**: vLLM's OpenAI-compatible server on loopback (same venv) through
  ``backend: openai``, ``max_concurrency`` = ``--samples``.

Each path gets one warm-up generation first. Rounds run quiet (only what the
machine was already running) and then under synthetic load: ``--load-procs``
CPU-burning processes started by this script and stopped after. Reported per
row: wall seconds (best of ``--repeat``), completion tokens/s (each backend's
own count; served counts include the end-of-sequence token), the share of
texts identical to the HF float32 path's, the ratio to HF at that dtype and
load, and the 1-minute load average when the row was measured.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

sys.path.insert(0, str(benchlib.REPO / "tests"))

# 1 GiB of KV cache holds every sequence of the workload; the server and the worker run side by side.
KV_CACHE = {"VLLM_CPU_KVCACHE_SPACE": "1"}
WORKER_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", **KV_CACHE}
ENGINE = {"enforce_eager": True, "max_model_len": 2048}


def _burn() -> None:
    while True:
        pass


class Load:
    """``count`` CPU-burning processes for the duration of a ``with`` block."""

    def __init__(self, count: int):
        self.count, self.procs = count, []

    def __enter__(self) -> Load:
        self.procs = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(self.count)]
        for proc in self.procs:
            proc.start()
        time.sleep(2)
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.join(5)


class VLLMWorker:
    """``bench/engines.py --worker`` in the vLLM venv: one in-process vLLM arm, answering ``go`` lines."""

    def __init__(self, python: Path, model_dir: str, dtype: str, samples: int, max_new_tokens: int):
        from vllm_env import vllm_env

        args = json.dumps({"model_dir": model_dir, "dtype": dtype, "samples": samples,
                           "max_new_tokens": max_new_tokens})
        self.proc = subprocess.Popen([str(python), __file__, "--worker", args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env=vllm_env(**WORKER_ENV), cwd=str(benchlib.REPO))
        self._read()  # the warm-up

    def run(self) -> dict:
        """One timed generation of every prompt."""
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return self._read()

    def _read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith("RESULT "):
                return json.loads(line.removeprefix("RESULT "))
        raise SystemExit(f"the vLLM worker exited with {self.proc.wait()}")

    def close(self) -> None:
        """Stop the worker."""
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(60)


def worker(args: dict) -> None:
    """The worker side: build the vLLM arm, warm up, then time one generation per ``go``."""
    from evalkit.models.loader import load_model
    from evalkit.models.spec import GenerationConfig, ModelSpec

    spec = ModelSpec(backend="vllm", base=args["model_dir"], dtype=args["dtype"], vllm=ENGINE)
    backend = load_model(spec).backend
    prompts = benchlib.triage_prompts(backend, args["samples"])
    config = GenerationConfig(max_new_tokens=args["max_new_tokens"])
    backend.generate(prompts[:1], config)
    print("RESULT {}", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        generations, wall = benchlib.timed(lambda: backend.generate(prompts, config))
        print("RESULT " + json.dumps(_summary(generations, wall)), flush=True)


def _summary(generations, wall: float) -> dict:
    errors = [g.error for g in generations if g.error]
    if errors:
        raise SystemExit(f"{len(errors)} generation(s) failed, e.g. {errors[0]}")
    return {"wall_s": wall, "tokens": sum(g.new_tokens for g in generations),
            "texts": [g.text for g in generations]}


def _hf_path(model_dir: str, dtype: str, samples: int, config):
    from evalkit.models.loader import load_model
    from evalkit.models.spec import ModelSpec

    backend = load_model(ModelSpec(backend="hf", base=model_dir, dtype=dtype)).backend
    prompts = benchlib.triage_prompts(backend, samples)
    backend.generate(prompts[:1], config)
    return lambda: _summary(*benchlib.timed(lambda: backend.generate(prompts, config)))


def _served_path(server, model_dir: str, samples: int, config):
    from evalkit.models.loader import load_model
    from evalkit.models.spec import ModelSpec

    spec = ModelSpec(backend="openai", base_url=server.base_url, model="base", max_concurrency=samples,
                     timeout=1200)
    backend = load_model(spec).backend
    prompts = benchlib.triage_prompts(backend, samples)
    backend.generate(prompts[:1], config)
    return lambda: _summary(*benchlib.timed(lambda: backend.generate(prompts, config)))


def measure_dtype(dtype: str, opts, python: Path, model_dir: str, log_dir: Path) -> list[dict]:
    """All rows of one dtype: the three paths, quiet and under load, interleaved."""
    from vllm_env import VLLMServe

    from evalkit.models.spec import GenerationConfig

    config = GenerationConfig(max_new_tokens=opts.max_new_tokens)
    rows = []
    server = VLLMServe(python, model_dir, log_dir / f"serve-{dtype}.log", dtype=dtype)
    server.env.update(KV_CACHE)
    with server:
        worker_proc = VLLMWorker(python, model_dir, dtype, opts.samples, opts.max_new_tokens)
        try:
            try:
                hf = _hf_path(model_dir, dtype, opts.samples, config)
                hf_dtype = dtype
            except RuntimeError as exc:  # the HF engine may not run this dtype here: float32 stands in
                reason = str(exc).splitlines()[0][:120]
                print(f"  hf cannot run {dtype} ({reason}); hf runs float32", flush=True)
                hf, hf_dtype = _hf_path(model_dir, "float32", opts.samples, config), "float32"
            paths = {"hf": hf, "vllm": worker_proc.run,
                     "served": _served_path(server, model_dir, opts.samples, config)}
            for load in ("quiet", "load"):
                with Load(opts.load_procs if load == "load" else 0):
                    print(f"  {dtype} {load} (load average {os.getloadavg()[0]:.1f})", flush=True)
                    for name, res in _rounds(paths, opts.repeat).items():
                        engine_dtype = hf_dtype if name == "hf" else dtype
                        rows.append({"dtype": dtype, "engine_dtype": engine_dtype, "load": load, "path": name,
                                     **res})
        finally:
            worker_proc.close()
    return rows


def _rounds(paths: dict, repeat: int) -> dict:
    best: dict = {}
    for _ in range(max(1, repeat)):
        for name, fn in paths.items():
            load_avg = os.getloadavg()[0]
            result = fn()
            if name not in best or result["wall_s"] < best[name]["wall_s"]:
                best[name] = {**result, "load_avg_1m": round(load_avg, 1)}
            print(f"    {name}: {result['wall_s']:.1f}s", flush=True)
    return best


def print_table(rows: list[dict]) -> None:
    """Rows with tok/s, identical share vs HF float32 and ratios to HF at the same dtype and load."""
    reference = {r["load"]: r["texts"] for r in rows if r["path"] == "hf" and r["engine_dtype"] == "float32"}
    hf = {(r["dtype"], r["load"]): r["wall_s"] for r in rows if r["path"] == "hf"}
    print(f"\n{'dtype':<10}{'load':<7}{'path':<12}{'wall s':>8}{'tok/s':>8}{'same as hf fp32':>17}"
          f"{'x hf speed':>12}{'load avg':>10}")
    for r in rows:
        ref = reference.get(r["load"]) or next(iter(reference.values()))
        same = sum(a == b for a, b in zip(r["texts"], ref)) / len(ref)
        r["identical_share"] = round(same, 3)
        r["tokens_per_s"] = round(r["tokens"] / r["wall_s"], 2)
        r["speed_vs_hf"] = benchlib.ratio(hf[(r["dtype"], r["load"])], r["wall_s"])
        label = r["path"] + (f" ({r['engine_dtype']})" if r["engine_dtype"] != r["dtype"] else "")
        print(f"{r['dtype']:<10}{r['load']:<7}{label:<12}{r['wall_s']:>8.1f}{r['tokens_per_s']:>8.1f}"
              f"{same:>17.0%}{r['speed_vs_hf']:>12.2f}{r['load_avg_1m']:>10.1f}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and optionally write) its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--load-procs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the HF engine")
    parser.add_argument("--vllm-python", type=Path, default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.worker:
        worker(json.loads(opts.worker))
        return 0
    from vllm_env import ensure_vllm_venv

    benchlib.set_threads(opts.threads)
    python = opts.vllm_python or ensure_vllm_venv()[0]
    model_dir = benchlib.model_dir()
    report = {"machine": benchlib.machine(), "samples": opts.samples, "max_new_tokens": opts.max_new_tokens,
              "rows": []}
    with tempfile.TemporaryDirectory() as logs:
        for dtype in opts.dtypes.split(","):
            report["rows"] += measure_dtype(dtype, opts, python, model_dir, Path(logs))
    print_table(report["rows"])
    for row in report["rows"]:
        row.pop("texts")
    benchlib.emit(report, opts.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
