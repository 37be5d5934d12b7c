"""`make demo`: pull the default model, train a QLoRA adapter, compare three arms, write the report.

Runs the same commands a user would type, so the demo shows the product as it is:

    evalkit models pull smollm2-135m-instruct
    evalkit train examples/train/support-triage.yaml
    evalkit compare examples/base.yaml examples/prompt_only.yaml <adapter>/tuned.yaml \
        --gate examples/gate.yaml --out reports/demo --sequential --dtype auto

The full demo compares sequentially: each suite gets rounds of samples until its verdict for the
gate is settled, so the decided suites stop early. ``--quick`` trains 6 steps instead of 16 and
compares on the first 40 samples of support-triage, general-knowledge and gk-mc only, at a
fixed n.
Every arm computes in ``--dtype auto``: bfloat16 on CPUs with AVX512_BF16 or AMX and on CUDA GPUs
that have it (faster there: 1.6x on ifeval-lite's generations on the 2-core AMX CPU this was
measured on), float32 elsewhere; each run records which (``metrics.json`` ``engine.dtype``).
The demo exits 0 when everything ran, whatever the gate decided (it prints the gate's verdict
and the exit code `evalkit compare --gate` gives in CI); 2 when something is broken.
``--strict`` passes the gate's exit code on (1 when it failed), as CI would see it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK_STEPS = 6
QUICK_LIMIT = 40
SUITES = ["support-triage", "general-knowledge", "ifeval-lite", "gk-mc", "support-replies"]
QUICK_SUITES = ["support-triage", "general-knowledge", "gk-mc"]


def evalkit_command() -> list[str]:
    """The evalkit CLI of this interpreter."""
    return [sys.executable, "-m", "evalkit"]


def step(title: str, args: list[str]) -> int:
    """Run one evalkit command, echoing it first; returns its exit code."""
    print(f"\n\033[1m==> {title}\033[0m\n$ evalkit {' '.join(args)}", flush=True)
    return subprocess.call([*evalkit_command(), *args], cwd=ROOT)


def training_stamp(train_spec: Path, max_steps: int | None) -> str:
    """A hash of what the adapter is trained from: the train spec, its data and the step override."""
    import hashlib

    digest = hashlib.sha256(train_spec.read_bytes())
    digest.update((ROOT / "suites" / "support-triage" / "train_chat.jsonl").read_bytes())
    digest.update(str(max_steps).encode())
    return digest.hexdigest()


def adapter_is_current(adapter_dir: Path, stamp: str) -> bool:
    """True when the adapter was trained from exactly this spec and data (so the demo can reuse it)."""
    stamp_file = adapter_dir / "demo-stamp.txt"
    ready = (adapter_dir / "tuned.yaml").is_file() and (adapter_dir / "evalkit-card.json").is_file()
    return ready and stamp_file.is_file() and stamp_file.read_text().strip() == stamp


def suites_stamp(names: list[str]) -> str:
    """The demo suites' names and versions: runs of other versions in the demo's folder are stale."""
    from evalkit.suite.loader import load_suite

    return "\n".join(f"{name} {load_suite(name, build_scorers=False).spec.version}" for name in names)


def clear_stale_runs(runs_dir: Path, stamp: str) -> None:
    """Delete the demo's own earlier runs when the suites changed since (a resume must not mix versions).

    ``runs_dir`` belongs to the demo's report folder; runs of the same suites are kept, so an
    interrupted demo continues where it stopped.
    """
    stamp_file = runs_dir / "demo-suites.txt"
    if runs_dir.is_dir() and not (stamp_file.is_file() and stamp_file.read_text().strip() == stamp):
        shutil.rmtree(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(stamp + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    quick_help = f"{QUICK_STEPS} training steps; {QUICK_LIMIT} samples of {', '.join(QUICK_SUITES)}"
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", default=None, help="report directory (reports/demo, or reports/demo-quick)")
    parser.add_argument("--strict", action="store_true", help="exit with the gate's code (1 when it failed)")
    args = parser.parse_args(argv)
    args.out = args.out or ("reports/demo-quick" if args.quick else "reports/demo")
    started = time.perf_counter()
    train_spec = ROOT / "examples" / "train" / "support-triage.yaml"
    max_steps = QUICK_STEPS if args.quick else None
    adapter_dir = ROOT / "runs" / ("demo-adapter-quick" if args.quick else "demo-adapter")
    stamp = training_stamp(train_spec, max_steps)

    code = step("1/3 pull the default model (once)", ["models", "pull", "smollm2-135m-instruct"])
    if code:
        return code
    if adapter_is_current(adapter_dir, stamp):
        print(f"\n==> 2/3 reusing the adapter already trained from {train_spec.name}: {adapter_dir}")
    else:
        train_args = ["train", str(train_spec), "--output-dir", str(adapter_dir)]
        if max_steps is not None:
            train_args += ["--max-steps", str(max_steps)]
        if adapter_dir.exists():
            shutil.rmtree(adapter_dir)  # a stale or half-trained adapter from another configuration
        code = step("2/3 train a QLoRA adapter on support-triage", train_args)
        if code:
            return code
        from evalkit.runner.store import write_text_atomic

        write_text_atomic(adapter_dir / "demo-stamp.txt", stamp + "\n")
    compare_args = [
        "compare",
        "examples/base.yaml",
        "examples/prompt_only.yaml",
        str(adapter_dir / "tuned.yaml"),
        *[a for s in (QUICK_SUITES if args.quick else SUITES) for a in ("--suite", s)],
        "--gate",
        "examples/gate.yaml",
        "--out",
        args.out,
        "--junit",
        f"{args.out}/junit.xml",
        "--dtype",
        "auto",
    ]
    suites = QUICK_SUITES if args.quick else SUITES
    clear_stale_runs(ROOT / args.out / "runs", suites_stamp(suites))
    if not args.quick:  # rounds until each suite's verdict is settled (docs/statistics.md)
        compare_args.append("--sequential")
    if args.quick:
        compare_args += ["--limit", str(QUICK_LIMIT)]
    code = step("3/3 compare base, prompt-only and tuned", compare_args)
    minutes = (time.perf_counter() - started) / 60
    report = ROOT / args.out / "index.html"
    if code not in (0, 1):
        print(f"\ndemo stopped after {minutes:.1f} min: the compare step failed (exit {code}); see above")
        return code
    verdict = "PASSED" if code == 0 else "FAILED"
    print(f"\ndemo finished in {minutes:.1f} min; report: {report}")
    print(f"gate {verdict}: `evalkit compare --gate examples/gate.yaml` exits {code} here"
          + (", which fails a CI job (the reasons are listed above and in the report)" if code else ""))
    return code if args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
