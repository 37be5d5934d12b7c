"""`make demo`'s orchestration: the commands it runs, adapter reuse, the exit code it passes on."""

from __future__ import annotations

import pytest

from evalkit import demo


@pytest.fixture()
def recorded(monkeypatch, tmp_path):
    """Run demo.main with each evalkit command recorded instead of run; training writes a fake adapter."""
    calls: list[list[str]] = []
    codes = {"compare": 1}

    def step(title, args):
        calls.append(args)
        if args[0] == "train":
            out = demo.ROOT / args[args.index("--output-dir") + 1]
            out.mkdir(parents=True, exist_ok=True)
            (out / "tuned.yaml").write_text("name: t\n")
            (out / "evalkit-card.json").write_text("{}")
        return codes.get(args[0], 0)

    monkeypatch.setattr(demo, "ROOT", tmp_path)
    (tmp_path / "examples" / "train").mkdir(parents=True)
    (tmp_path / "examples" / "train" / "support-triage.yaml").write_text("name: x\n")
    (tmp_path / "suites" / "support-triage").mkdir(parents=True)
    (tmp_path / "suites" / "support-triage" / "train_chat.jsonl").write_text("{}\n")
    monkeypatch.setattr(demo, "step", step)
    return calls, codes, tmp_path


def test_full_demo_pulls_trains_and_compares_three_arms_on_every_suite(recorded, capsys):
    calls, _, _ = recorded
    assert demo.main([]) == 0  # the demo ran; its gate failed, which it prints
    assert "gate FAILED: `evalkit compare --gate examples/gate.yaml` exits 1 here" in capsys.readouterr().out
    assert demo.main(["--strict"]) == 1  # as CI sees it
    calls[:] = calls[:3]
    pull, train, compare = calls
    assert pull == ["models", "pull", "smollm2-135m-instruct"]
    assert train[:2] == ["train", str(demo.ROOT / "examples" / "train" / "support-triage.yaml")]
    assert "--max-steps" not in train
    assert compare[1:4] == ["examples/base.yaml", "examples/prompt_only.yaml",
                            str(demo.ROOT / "runs" / "demo-adapter" / "tuned.yaml")]
    suites = [compare[i + 1] for i, a in enumerate(compare) if a == "--suite"]
    assert suites == demo.SUITES and "--limit" not in compare
    assert compare[compare.index("--gate") + 1] == "examples/gate.yaml"
    assert compare[compare.index("--out") + 1] == "reports/demo"
    assert "--sequential" in compare
    assert compare[compare.index("--dtype") + 1] == "auto"  # bfloat16 where the CPU or GPU has it


def test_quick_demo_trains_fewer_steps_on_fewer_samples(recorded):
    calls, codes, _ = recorded
    codes["compare"] = 0
    assert demo.main(["--quick"]) == 0
    _, train, compare = calls
    assert train[train.index("--max-steps") + 1] == str(demo.QUICK_STEPS)
    assert [compare[i + 1] for i, a in enumerate(compare) if a == "--suite"] == demo.QUICK_SUITES
    assert compare[compare.index("--limit") + 1] == str(demo.QUICK_LIMIT)
    assert compare[compare.index("--out") + 1] == "reports/demo-quick"
    assert "--sequential" not in compare


def test_adapter_is_reused_only_when_spec_data_and_steps_match(recorded):
    calls, _, root = recorded
    demo.main([])
    demo.main([])
    assert [c[0] for c in calls] == ["models", "train", "compare", "models", "compare"]  # second run reuses
    (root / "suites" / "support-triage" / "train_chat.jsonl").write_text('{"changed": 1}\n')
    demo.main([])
    assert [c[0] for c in calls[5:]] == ["models", "train", "compare"]  # new data: trained again
    spec = root / "examples" / "train" / "support-triage.yaml"
    assert demo.training_stamp(spec, None) != demo.training_stamp(spec, demo.QUICK_STEPS)


def test_a_failing_step_stops_the_demo_with_its_code(recorded):
    calls, codes, _ = recorded
    codes["train"] = 2
    assert demo.main([]) == 2
    assert [c[0] for c in calls] == ["models", "train"]


def test_demo_clears_its_own_runs_only_when_the_suites_changed(tmp_path):
    runs = tmp_path / "reports" / "demo" / "runs"
    demo.clear_stale_runs(runs, "general-knowledge 1")
    (runs / "base-1234" / "general-knowledge").mkdir(parents=True)
    demo.clear_stale_runs(runs, "general-knowledge 1")
    assert (runs / "base-1234" / "general-knowledge").is_dir()  # same suites: an interrupted demo resumes
    demo.clear_stale_runs(runs, "general-knowledge 2")
    assert not (runs / "base-1234").exists() and runs.is_dir()  # a new suite version: old runs are stale


def test_suites_stamp_names_each_suite_version():
    stamp = demo.suites_stamp(["general-knowledge", "gk-mc"])
    first, second = stamp.splitlines()
    assert first.startswith("general-knowledge ") and second.startswith("gk-mc ")
