"""How many torch intra-op threads to run: the cores this process may use, less those other work keeps busy.

Every torch op waits for all of its threads at a barrier, so a thread whose
core is taken by another process stalls the whole op: on a busy machine two
threads run about half as fast as one. The choice is therefore

* the user's, when ``EVALKIT_THREADS`` (or ``OMP_NUM_THREADS``) is set, or
  the calling program's, once it changes ``torch.set_num_threads`` itself;
* else the usable cores (CPU affinity, cgroup CPU quota) minus the cores
  other processes keep busy, at least one. "Busy" is read now: the threads
  on a CPU (``procs_running`` in ``/proc/stat``, the median of a few samples)
  less this process's own; the 1-minute load average (less this process's
  own share of it) only where ``/proc`` is missing. The load average trails
  the machine by a minute: right after a build or another run it still says
  "busy", and a run started then would keep one thread on a free machine.

:class:`ThreadGovernor` applies it and re-checks at most every few seconds,
so a long generation follows the load as other jobs start and stop (a change
applies once two checks in a row agree on it). A half-precision arm's results
do not depend on the thread count (:mod:`evalkit.models.row_blocks` runs a
product whose bits would change on one thread; tests/speed checks 1 vs 2
threads); a float32 arm's are MKL's, which on some CPUs round differently on
two threads (docs/performance.md).
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import ConfigError

ENV = "EVALKIT_THREADS"
RECHECK_S = 5.0  # the kernel samples the load every 5 s; checking more often sees nothing new
LOAD_WINDOW_S = 60.0  # the 1-minute load average's time constant
PROC = Path("/proc")
RUNNING_SAMPLES = 3  # samples of the run queue per check (the median drops a passing blip)
SAMPLE_GAP_S = 0.01


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and why: ``source`` is ``user`` or ``auto``."""

    threads: int
    source: str
    reason: str

    def record(self) -> dict:
        """The choice as stored in engine stats and run metadata."""
        return {"threads": self.threads, "threads_source": self.source, "threads_reason": self.reason}


def user_threads() -> tuple[int, str] | None:
    """The thread count the user set (``EVALKIT_THREADS``, else ``OMP_NUM_THREADS``) and its source."""
    for name in (ENV, "OMP_NUM_THREADS"):
        raw = os.environ.get(name, "").strip()
        if not raw:
            continue
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(f"{name}={raw!r}: the number of threads must be a whole number of at least 1.",
                              hint=f"unset {name} to let evalkit choose from the free cores")
        return int(raw), name
    return None


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota in cores from cgroup v2 ``cpu.max`` (or v1 ``cpu.cfs_quota_us``); None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by the cgroup quota (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, math.floor(limit)))
    return max(1, cores)


def choose_threads(cores: int, host_cores: int, load: float, own_load: float = 0.0) -> ThreadChoice:
    """The automatic choice for ``cores`` usable cores given the host's 1-minute ``load``.

    ``own_load`` is this process's own part of that load (its recent CPU use);
    what is left is other work, scaled to the share of the host's cores this
    process may use when it may use only some of them.
    """
    others = max(0.0, load - own_load) * min(1.0, cores / max(1, host_cores))
    threads = max(1, min(cores, cores - math.floor(others + 0.5)))
    if threads == cores:
        reason = f"{cores} usable core(s), other load {others:.1f}"
    else:
        reason = f"{cores} usable core(s), other processes keep {others:.1f} busy"
    return ThreadChoice(threads, "auto", reason)


def running_elsewhere(proc: Path = PROC, samples: int = RUNNING_SAMPLES,
                      gap_s: float = SAMPLE_GAP_S) -> float | None:
    """Threads of other processes on a CPU right now, or None without a readable ``/proc``.

    The median over ``samples`` reads of ``procs_running`` (``/proc/stat``: every thread running
    or ready to run, machine-wide) less this process's threads in state R at the same moment.
    """
    counts = []
    for i in range(samples):
        if i:
            time.sleep(gap_s)
        try:
            stat = (proc / "stat").read_text()
            total = next(int(line.split()[1]) for line in stat.splitlines()
                         if line.startswith("procs_running "))
            own = sum(_state(task / "stat") == "R" for task in (proc / "self" / "task").iterdir())
        except (OSError, ValueError, StopIteration, IndexError):
            return None
        counts.append(max(0, total - own))
    return float(statistics.median(counts))


def _state(stat_file: Path) -> str:
    try:
        # the state follows the command name, which may hold spaces and parentheses
        return stat_file.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"  # the thread ended between the listing and the read


def current_choice(own_load: float = 0.0) -> ThreadChoice:
    """The thread count to use now: the user's setting, else :func:`choose_threads` on the live load.

    ``own_load`` (this process's recent CPU use in cores) matters only for the load-average fallback.
    """
    user = user_threads()
    if user is not None:
        return ThreadChoice(user[0], "user", f"{user[1]}={user[0]}")
    others = running_elsewhere()
    if others is not None:
        return choose_threads(usable_cores(), os.cpu_count() or 1, others)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return choose_threads(usable_cores(), os.cpu_count() or 1, load, own_load)


class ThreadGovernor:
    """Sets torch's thread count from :func:`current_choice` and re-checks it every ``RECHECK_S``."""

    def __init__(self, recheck_s: float = RECHECK_S, notify=None):
        self.recheck_s = recheck_s
        self.choice: ThreadChoice | None = None
        self._notify = notify if notify is not None else _note
        self._checked = 0.0
        self._cpu = time.process_time()
        self._own = 0.0  # this process's CPU use in cores, averaged like the 1-minute load
        self._pending: int | None = None  # an automatic change seen once, applied when seen again

    def update(self, force: bool = False) -> ThreadChoice:
        """Apply the user's setting, else keep the caller's, else re-check the load (at most every
        ``recheck_s``, or now with ``force``); returns the choice in effect."""
        import torch

        user = user_threads()
        if user is not None:
            return self._apply(ThreadChoice(user[0], "user", f"{user[1]}={user[0]}"))
        if self.choice is not None and torch.get_num_threads() != self.choice.threads:
            # the calling program set torch's threads since our last choice: theirs wins from now on
            self.choice = ThreadChoice(torch.get_num_threads(), "caller", "set by the calling program")
        if self.choice is not None and self.choice.source == "caller":
            return self.choice
        now = time.monotonic()
        recent = now - self._checked < self.recheck_s
        if self.choice is not None and self.choice.source == "auto" and recent and not force:
            return self.choice
        cpu = time.process_time()
        if self._checked:
            elapsed = now - self._checked
            weight = math.exp(-elapsed / LOAD_WINDOW_S)
            self._own = self._own * weight + (cpu - self._cpu) / max(elapsed, 1e-6) * (1 - weight)
        self._checked, self._cpu = now, cpu
        choice = current_choice(self._own)
        # A change must show at two checks in a row: oneDNN rebuilds its bfloat16 kernels for a new
        # thread count (seconds of CPU), so a load that hovers at a threshold must not flip it each time.
        current = self.choice
        if current is not None and current.source == "auto" and choice.threads not in (current.threads,
                                                                                      self._pending):
            self._pending = choice.threads
            return current
        self._pending = None
        return self._apply(choice)

    def _apply(self, choice: ThreadChoice) -> ThreadChoice:
        import torch

        if torch.get_num_threads() != choice.threads:
            torch.set_num_threads(choice.threads)
        changed = self.choice is not None and self.choice.threads != choice.threads
        if choice.source == "auto" and (changed or (self.choice is None and choice.threads < usable_cores())):
            self._notify(f"torch threads: {choice.threads} ({choice.reason})")
        self.choice = choice
        return choice


def _note(message: str) -> None:
    from evalkit.notices import notify

    notify(message, "note")


#: One governor per process: the arms of a compare share the machine, so they share the choice.
GOVERNOR = ThreadGovernor()
