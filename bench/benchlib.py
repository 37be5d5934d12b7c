"""Shared pieces of the bench scripts: the machine, timing, the default model, support-triage prompts."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_MODEL = "smollm2-135m-instruct"


def machine() -> dict:
    """What the figures were measured on, including how busy the machine was."""
    import psutil
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
    }


def model_dir(name: str = DEFAULT_MODEL) -> str:
    """The local folder of an embedded model (pulled on first use)."""
    from evalkit.models.registry import resolve_base

    return resolve_base(f"evalkit:{name}")


def timed(fn):
    """(result, seconds) of calling ``fn``."""
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def timed_cpu(fn):
    """(result, wall seconds, CPU seconds of this process) of calling ``fn``.

    On a machine shared with other jobs the wall time depends on their load;
    the process's CPU time much less so, which keeps ratios between paths
    measured minutes apart comparable.
    """
    cpu = time.process_time()
    result, wall = timed(fn)
    return result, wall, time.process_time() - cpu


def best_of(fn, repeat: int):
    """(last result, fastest seconds) over ``repeat`` calls: the least disturbed by other load."""
    best, result = None, None
    for _ in range(max(1, repeat)):
        result, seconds = timed(fn)
        best = seconds if best is None else min(best, seconds)
    return result, best


def round_robin(paths: dict, repeat: int) -> dict:
    """Run each path ``repeat`` times, interleaved; per path: last result, best wall and CPU seconds."""
    out = {}
    for _ in range(max(1, repeat)):
        for name, fn in paths.items():
            result, wall, cpu = timed_cpu(fn)
            best = out.get(name)
            out[name] = {"result": result, "wall": min(wall, best["wall"]) if best else wall,
                         "cpu": min(cpu, best["cpu"]) if best else cpu}
            print(f"    {name}: {wall:.1f}s wall, {cpu:.1f}s CPU", flush=True)
    return out


def triage_prompts(backend, count: int) -> list[tuple[str, str]]:
    """(sample id, rendered prompt) of the first ``count`` support-triage samples, via the chat template."""
    from evalkit.suite.loader import load_suite

    suite = load_suite("support-triage", limit=count, build_scorers=False)
    return [(s.id, backend.render(suite.render_prompt(s))) for s in suite.samples]


def set_threads(threads: int | None) -> None:
    """Pin torch's intra-op threads (None lets evalkit choose them from the free cores)."""
    if threads:
        import torch

        os.environ["EVALKIT_THREADS"] = str(threads)  # evalkit's thread governor keeps it
        torch.set_num_threads(threads)


def emit(report: dict, path: str | None) -> None:
    """Write the report as JSON to ``path`` (if given)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def ratio(a: float, b: float) -> float:
    """a / b rounded for printing (inf when b is 0)."""
    return round(a / b, 2) if b else float("inf")


def step_timer():
    """A trainer callback recording (wall time, CPU time, tokens seen) at every step end, with ``rates()``."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.marks: list[tuple[float, float, int]] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.marks.append((time.perf_counter(), time.process_time(), state.num_input_tokens_seen))

        def rates(self) -> dict:
            (w0, c0, n0), (w1, c1, n1) = self.marks[0], self.marks[-1]
            return {"tokens_per_s": (n1 - n0) / (w1 - w0), "tokens_per_cpu_s": (n1 - n0) / (c1 - c0),
                    "s_per_step": (w1 - w0) / (len(self.marks) - 1), "tokens_per_step": (n1 - n0) /
                    (len(self.marks) - 1)}

    return StepTimer()
