"""Training applies the thread governor before it starts and at every step."""

import torch

from evalkit.train.threads import ThreadsPerStep


def test_training_callback_applies_the_users_thread_setting_at_start_and_each_step(monkeypatch):
    previous = torch.get_num_threads()
    callback = ThreadsPerStep()
    try:
        monkeypatch.setenv("EVALKIT_THREADS", "1")
        callback.on_train_begin(None, None, None)
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("EVALKIT_THREADS", "2")
        callback.on_step_begin(None, None, None)
        assert torch.get_num_threads() == 2  # the user's setting is re-read at every step
    finally:
        torch.set_num_threads(previous)

