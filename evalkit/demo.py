"""`make demo`: pull the default model, train a QLoRA adapter, compare three arms, write the report.

Runs the same commands a user would type, so the demo shows the product as it is:

    evalkit models pull smollm2-135m-instruct
    evalkit train examples/train/support-triage.yaml
    evalkit compare examples/base.yaml examples/prompt_only.yaml <adapter>/tuned.yaml --gate examples/gate.yaml

``--quick`` trains fewer steps and evaluates the first 40 samples of each suite.
The exit code is the gate's (0 pass, 1 fail, 2 input error).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = ["support-triage", "general-knowledge", "ifeval-lite", "gk-mc", "support-replies"]


def evalkit_command() -> list[str]:
    """The evalkit CLI of this interpreter."""
    return [sys.executable, "-m", "evalkit"]


def step(title: str, args: list[str]) -> int:
    """Run one evalkit command, echoing it first; returns its exit code."""
    print(f"\n\033[1m==> {title}\033[0m\n$ evalkit {' '.join(args)}", flush=True)
    return subprocess.call([*evalkit_command(), *args], cwd=ROOT)


def adapter_is_current(adapter_dir: Path, train_spec: Path) -> bool:
    """True when the adapter was trained from exactly this train spec and data (so it can be reused)."""
    card_path = adapter_dir / "evalkit-card.json"
    if not card_path.is_file() or not (adapter_dir / "tuned.yaml").is_file():
        return False
    from evalkit.train.data import load_training_data
    from evalkit.train.spec import load_train_spec

    spec = load_train_spec(train_spec)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    data = load_training_data(spec)
    return card.get("train_spec") == spec.model_dump(mode="json") and card.get("data_sha256") == data.sha256


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer training steps, 40 samples per suite")
    parser.add_argument("--out", default="reports/demo", help="report directory")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    train_spec = ROOT / "examples" / "train" / ("support-triage-quick.yaml" if args.quick else "support-triage.yaml")
    adapter_dir = ROOT / "runs" / ("demo-adapter-quick" if args.quick else "demo-adapter")

    code = step("1/3 pull the default model (once)", ["models", "pull", "smollm2-135m-instruct"])
    if code:
        return code
    if adapter_is_current(adapter_dir, train_spec):
        print(f"\n==> 2/3 reusing the adapter already trained from {train_spec.name}: {adapter_dir}")
    else:
        code = step("2/3 train a QLoRA adapter on support-triage",
                    ["train", str(train_spec), "--output-dir", str(adapter_dir)])
        if code:
            return code
    compare_args = [
        "compare", "examples/base.yaml", "examples/prompt_only.yaml", str(adapter_dir / "tuned.yaml"),
        *[a for s in SUITES for a in ("--suite", s)],
        "--gate", "examples/gate.yaml", "--out", args.out,
        "--junit", f"{args.out}/junit.xml",
    ]
    if args.quick:
        compare_args += ["--limit", "40"]
    code = step("3/3 compare base, prompt-only and tuned", compare_args)
    minutes = (time.perf_counter() - started) / 60
    verdict = {0: "gate passed", 1: "gate FAILED"}.get(code, "error")
    print(f"\ndemo finished in {minutes:.1f} min ({verdict}); report: {ROOT / args.out / 'index.html'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
