"""What accelerator torch would find here, told without importing torch (for cache keys).

``dtype: auto`` resolves to bfloat16 where torch sees a CUDA device and to
float32 elsewhere, so a cached result made on one kind of machine must not be
served on the other. Importing torch to ask takes seconds, which is what a
fully cached run avoids; the same answer comes from files: the CUDA version
torch was built for (``torch/version.py``), the GPUs the NVIDIA driver lists
and ``CUDA_VISIBLE_DEVICES``. The description is deliberately coarse: a
machine it cannot tell apart gives a different key (a recompute), never a
wrong hit.
"""

from __future__ import annotations

import os
import platform
import re
from functools import lru_cache
from importlib import util
from pathlib import Path

_GPUS = Path("/proc/driver/nvidia/gpus")


@lru_cache(maxsize=1)
def accelerator() -> dict:
    """A description of the devices torch would use: platform, torch's CUDA build, visible NVIDIA GPUs."""
    return {
        "platform": f"{platform.system()}-{platform.machine()}",
        "torch_cuda": _torch_cuda_build(),
        "nvidia_gpus": _nvidia_gpus(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def _torch_cuda_build() -> str | None:
    """The CUDA version in torch's ``version.py`` (None for a CPU-only build or no torch)."""
    try:
        spec = util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    found = re.search(r"^cuda(?:\s*:\s*[^=]+)?\s*=\s*(.+)$", text, re.MULTILINE)
    value = found.group(1).strip().strip("'\"") if found else "unknown"
    return None if value == "None" else value


def _nvidia_gpus() -> int:
    """How many GPUs the NVIDIA driver lists (0 without the driver)."""
    try:
        return sum(1 for _ in _GPUS.iterdir())
    except OSError:
        return 0
