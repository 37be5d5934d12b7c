"""Torch threads from the free cores: the user's setting wins, load lowers the count, never below one."""

from __future__ import annotations

import torch

from evalkit.errors import ConfigError
from evalkit.models import threads
from evalkit.models.threads import ThreadGovernor, cgroup_cpu_limit, choose_threads, current_choice


def test_quiet_machine_uses_every_core_and_load_takes_cores_away():
    assert choose_threads(cores=2, host_cores=2, load=0.2).threads == 2
    assert choose_threads(cores=2, host_cores=2, load=0.8).threads == 1
    assert choose_threads(cores=2, host_cores=2, load=6.0).threads == 1  # never below one
    assert choose_threads(cores=8, host_cores=8, load=3.2).threads == 5
    busy = choose_threads(cores=2, host_cores=2, load=5.0)
    assert "busy" in busy.reason and busy.source == "auto"


def test_own_load_is_not_counted_as_other_work():
    # this process kept one core busy: a load of 1.1 is then almost all its own
    assert choose_threads(cores=2, host_cores=2, load=1.1, own_load=1.0).threads == 2
    assert choose_threads(cores=2, host_cores=2, load=2.2, own_load=1.0).threads == 1


def test_a_restricted_process_sees_its_share_of_the_host_load():
    # 4 of 64 host cores: a host load of 6 means about 0.4 of a core of other work on ours
    assert choose_threads(cores=4, host_cores=64, load=6.0).threads == 4
    assert choose_threads(cores=4, host_cores=64, load=20.0).threads == 3


def test_user_setting_wins_and_bad_values_are_refused(monkeypatch):
    monkeypatch.setenv("EVALKIT_THREADS", "3")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    choice = current_choice()
    assert (choice.threads, choice.source, choice.reason) == (3, "user", "EVALKIT_THREADS=3")
    monkeypatch.delenv("EVALKIT_THREADS")
    assert current_choice().threads == 1 and current_choice().reason == "OMP_NUM_THREADS=1"
    monkeypatch.setenv("EVALKIT_THREADS", "two")
    try:
        current_choice()
    except ConfigError as exc:
        assert "EVALKIT_THREADS='two'" in exc.message
    else:
        raise AssertionError("a non-numeric EVALKIT_THREADS was accepted")


def test_cgroup_quota_is_read_in_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None
    assert cgroup_cpu_limit(tmp_path / "absent") is None


def test_governor_applies_rechecks_and_keeps_a_callers_choice(monkeypatch):
    previous = torch.get_num_threads()
    notes = []
    try:
        monkeypatch.setenv("EVALKIT_THREADS", "1")
        governor = ThreadGovernor(recheck_s=0.0, notify=notes.append)
        assert governor.update().threads == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("EVALKIT_THREADS", "2")
        assert governor.update().threads == 2 and torch.get_num_threads() == 2  # re-checked
        torch.set_num_threads(1)  # the calling program decides
        monkeypatch.delenv("EVALKIT_THREADS")
        kept = governor.update()
        assert (kept.threads, kept.source) == (1, "caller") and torch.get_num_threads() == 1
        assert notes == []  # the user's and the caller's choices need no notice
    finally:
        torch.set_num_threads(previous)


def test_automatic_choice_on_a_busy_machine_is_announced(monkeypatch):
    previous = torch.get_num_threads()
    monkeypatch.delenv("EVALKIT_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "running_elsewhere", lambda: None)  # no /proc: the load average
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (7.0, 7.0, 7.0))
    notes = []
    try:
        choice = ThreadGovernor(notify=notes.append).update()
        assert choice.threads == 1 and torch.get_num_threads() == 1
        assert notes and notes[0].startswith("torch threads: 1 (2 usable core(s), other processes keep")
    finally:
        torch.set_num_threads(previous)


def test_load_is_rechecked_at_most_every_interval(monkeypatch):
    previous = torch.get_num_threads()
    monkeypatch.delenv("EVALKIT_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    load = [0.0]
    monkeypatch.setattr(threads, "running_elsewhere", lambda: load[0])
    notes = []
    try:
        governor = ThreadGovernor(recheck_s=3600.0, notify=notes.append)
        assert governor.update().threads == 2 and notes == []  # all cores free: nothing to say
        load[0] = 7.0
        assert governor.update().threads == 2, "re-checks are rate-limited"
        assert governor.update(force=True).threads == 2, "a change must show at two checks in a row"
        assert governor.update(force=True).threads == 1 and torch.get_num_threads() == 1
        assert len(notes) == 1 and notes[0].startswith("torch threads: 1")
    finally:
        torch.set_num_threads(previous)


def _fake_proc(root, running: int, own_states: list[str]):
    (root / "self" / "task").mkdir(parents=True)
    (root / "stat").write_text(f"cpu  1 2 3 4\nprocs_running {running}\nprocs_blocked 0\n")
    for i, state in enumerate(own_states):
        task = root / "self" / "task" / str(100 + i)
        task.mkdir()
        (task / "stat").write_text(f"{100 + i} (py thread (x)) {state} 1 2 3\n")
    return root


def test_the_run_queue_now_counts_other_processes_not_this_ones_threads(tmp_path):
    from evalkit.models.threads import running_elsewhere

    proc = _fake_proc(tmp_path / "a", running=3, own_states=["R", "S", "R"])  # two of the three are ours
    assert running_elsewhere(proc, samples=3, gap_s=0.0) == 1.0
    assert running_elsewhere(_fake_proc(tmp_path / "b", 2, ["R", "R"]), gap_s=0.0) == 0.0
    assert running_elsewhere(tmp_path / "missing", gap_s=0.0) is None  # no /proc: fall back


def test_a_stale_load_average_does_not_keep_a_free_machine_on_one_thread(monkeypatch):
    # a build just ended: the 1-minute load average still says 1.9, nothing runs now
    monkeypatch.delenv("EVALKIT_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.9, 1.5, 1.0))
    monkeypatch.setattr(threads, "running_elsewhere", lambda: 0.0)
    assert current_choice().threads == 2
    monkeypatch.setattr(threads, "running_elsewhere", lambda: 1.0)  # another job runs now
    assert current_choice().threads == 1
    monkeypatch.setattr(threads, "running_elsewhere", lambda: None)
    assert current_choice().threads == 1  # without /proc the load average decides


def test_the_live_run_queue_sees_a_busy_process(tmp_path):
    import subprocess
    import sys

    from evalkit.models.threads import running_elsewhere

    assert running_elsewhere() is not None  # Linux: /proc is there
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.5)
        assert running_elsewhere(samples=5) >= 1.0
    finally:
        burner.kill()
        burner.wait()
