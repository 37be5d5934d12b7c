"""Torch threads during training: the same governor as generation, re-checked at every step.

On a CPU shared with other work, two intra-op threads waiting at every barrier cost a training
step up to ten times its one-thread time; the governor (``evalkit.models.threads``) picks the
count from the free cores and the user's ``EVALKIT_THREADS`` / ``OMP_NUM_THREADS`` win.
"""

from __future__ import annotations

from transformers import TrainerCallback

from evalkit.models.threads import GOVERNOR


class ThreadsPerStep(TrainerCallback):
    """Applies the thread governor's choice before training starts and before each step."""

    def on_train_begin(self, args, state, control, **kwargs):
        """Choose the thread count from the machine as it is when training starts."""
        GOVERNOR.update(force=True)

    def on_step_begin(self, args, state, control, **kwargs):
        """Re-check the load (the governor rate-limits itself and needs two agreeing checks)."""
        GOVERNOR.update()
