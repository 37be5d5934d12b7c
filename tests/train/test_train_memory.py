"""Training's heap care: the mmap threshold is fixed unless the user set one; trimming runs on glibc."""

from __future__ import annotations

import platform

import pytest

from evalkit.train import memory


@pytest.mark.skipif(platform.system() != "Linux", reason="glibc's malloc_trim/mallopt exist on Linux only")
def test_on_glibc_the_heap_is_trimmed_and_the_threshold_fixed(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert memory.trim_heap() is True
    assert memory.fix_mmap_threshold() is True


def test_a_users_own_threshold_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert memory.fix_mmap_threshold() is False


def test_without_glibc_both_do_nothing(monkeypatch):
    monkeypatch.setattr(memory, "_libc", lambda: None)
    assert memory.trim_heap() is False
    assert memory.fix_mmap_threshold() is False


def test_the_callback_fixes_at_the_start_and_trims_after_each_step_and_evaluation(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(memory, "fix_mmap_threshold", lambda: calls.append("fix"))
    monkeypatch.setattr(memory, "trim_heap", lambda: calls.append("trim"))
    callback = memory.TrimHeapPerStep()
    callback.on_train_begin(None, None, None)
    for _ in range(3):
        callback.on_step_end(None, None, None)
    callback.on_evaluate(None, None, None)
    assert calls == ["fix", "trim", "trim", "trim", "trim"]


def test_the_objects_alive_at_the_start_are_frozen_until_training_ends(monkeypatch):
    monkeypatch.setattr(memory, "fix_mmap_threshold", lambda: None)
    callback = memory.TrimHeapPerStep()
    alive = [[] for _ in range(10)]  # lists are tracked by the collector
    try:
        callback.on_train_begin(None, None, None)
        assert memory.gc.get_freeze_count() >= len(alive)
        callback.on_train_end(None, None, None)
        assert memory.gc.get_freeze_count() == 0
    finally:
        memory.gc.unfreeze()
