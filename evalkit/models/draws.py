"""Repeated draws per item: how many (``samples_per_item`` / ``--draws``) and each draw's seed.

At temperature > 0 one draw per item ignores sampling variance; with k draws
each item is generated k times, draw d with its own seed, so every draw is
reproducible, independent of the batch, and cached under its own key.
"""

from __future__ import annotations

import hashlib

from evalkit.errors import ConfigError
from evalkit.models.spec import GenerationConfig

MAX_DRAWS = 64


def draw_seed(seed: int, sample_id: str, draw: int) -> int:
    """The generation seed of draw ``draw`` of sample ``sample_id`` under the run's ``seed``.

    Draw 0 keeps ``seed`` itself, so a k = 1 run, its cache entries and the first
    draw of a k > 1 run are one and the same generation; draw d >= 1 uses a hash
    of (seed, sample id, d), kept to 31 bits so any server's ``seed`` field accepts it.
    """
    if draw == 0:
        return seed
    digest = hashlib.sha256(f"evalkit-draw:{seed}:{sample_id}:{draw}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF


def samples_per_item(
    generation: GenerationConfig,
    *,
    suite_name: str,
    suite_engine: str,
    suite_value: int | None,
    draws: int | None = None,
) -> int:
    """The effective draws per item: ``--draws``, else the suite's, else the model spec's, else 1.

    Raises :class:`ConfigError` when k > 1 cannot mean anything: greedy decoding
    (every draw would be identical) or an lm-eval suite (log-likelihoods, no sampling).
    """
    given = [
        (value, source)
        for value, source in (
            (draws, "--draws"),
            (suite_value, f"suite {suite_name!r}: samples_per_item"),
            (generation.samples_per_item, "generation.samples_per_item in the model spec"),
        )
        if value is not None
    ]
    if not given:
        return 1
    value, source = given[0]
    if not 1 <= value <= MAX_DRAWS:
        raise ConfigError(f"{source}: {value} draws per item; give 1 to {MAX_DRAWS}.")
    if value > 1 and suite_engine == "lm-eval":
        raise ConfigError(
            f"{source} = {value}, but suite {suite_name!r} is an lm-eval suite: it scores "
            "log-likelihoods, which involve no sampling, so repeated draws would be identical.",
            hint="drop --draws / samples_per_item for lm-eval suites (k = 1)",
        )
    if value > 1 and generation.temperature <= 0:
        raise ConfigError(
            f"{source} = {value}, but decoding is greedy (temperature 0): all {value} draws of an item "
            "would be identical, which fakes certainty instead of measuring sampling variance.",
            hint="set generation.temperature > 0 in the model spec, or use one draw per item",
        )
    return value
