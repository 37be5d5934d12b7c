"""Normal-approximation power primitives for paired comparisons (MDE and sample size).

Verdicts do not use these: their power notes come from the exact McNemar power and the
score-test t approximation in :mod:`evalkit.compare.paired`, at the family's corrected level.
These closed forms stay as documented, tested primitives for quick planning by hand.

Both functions describe a two-sided test on the mean paired difference ``D = b - a``
(candidate minus reference) using the normal approximation
``effect * sqrt(n) = (z_{1-alpha/2} + z_{power}) * sigma``, where ``sigma`` is the
standard deviation of one paired difference:

* continuous metrics: ``sigma = sd_diff`` (the SD of the per-sample differences);
* pass/fail metrics: ``sigma = sqrt(discordant_rate)``.  This is the normal
  approximation of McNemar's test: with ``n * psi`` discordant pairs expected, the
  test asks whether the share of them that favours the candidate differs from 1/2,
  and bounding that share's variance by 1/4 gives ``n = (z_a + z_b)**2 * psi / effect**2``.
  The bound makes the answer slightly conservative for that normal-approximation test
  (simulated power >= 0.80 at nominal 0.80).  The *exact* McNemar test that
  ``compare_paired`` runs is discrete and a little less powerful: simulated power at
  the returned sample size is about 0.76-0.80 for nominal 0.80.

When the discordant rate ``psi`` is unknown it is derived from the reference pass
rate ``p`` as ``psi = 2 * p * (1 - p)``, the rate expected if the two arms passed
and failed independently.  A fine-tuned model and its base fail on largely the same
samples (positive correlation), so their real discordant rate is lower and this
choice errs on the side of a larger MDE / larger required sample.
"""

from __future__ import annotations

import math

from evalkit.compare.distributions import norm_ppf

__all__ = ["minimum_detectable_effect", "required_sample_size"]


def _z_total(alpha: float, power: float) -> float:
    """``z_{1-alpha/2} + z_{power}`` after validating both probabilities."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    return float(norm_ppf(1.0 - alpha / 2.0) + norm_ppf(power))


def _sigma(baseline_rate: float | None, discordant_rate: float | None, sd_diff: float | None) -> float:
    """Standard deviation of one paired difference under the chosen metric model."""
    if sd_diff is not None:
        if baseline_rate is not None or discordant_rate is not None:
            raise ValueError("give sd_diff (continuous metric) or a rate (pass/fail metric), not both")
        if not sd_diff >= 0.0:
            raise ValueError(f"sd_diff must be >= 0, got {sd_diff}")
        return float(sd_diff)
    if discordant_rate is not None:
        if not 0.0 < discordant_rate <= 1.0:
            raise ValueError(f"discordant_rate must be in (0, 1], got {discordant_rate}")
        return math.sqrt(discordant_rate)
    if baseline_rate is not None:
        if not 0.0 < baseline_rate < 1.0:
            raise ValueError(f"baseline_rate must be strictly between 0 and 1, got {baseline_rate}")
        return math.sqrt(2.0 * baseline_rate * (1.0 - baseline_rate))
    raise ValueError("give one of sd_diff (continuous metric), discordant_rate or baseline_rate (pass/fail)")


def minimum_detectable_effect(
    n: int,
    *,
    baseline_rate: float | None = None,
    discordant_rate: float | None = None,
    sd_diff: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """Smallest true mean difference a paired design of ``n`` samples detects with ``power``.

    Returns ``(z_{1-alpha/2} + z_{power}) * sigma / sqrt(n)`` (see the module docstring
    for ``sigma``).  Give ``sd_diff`` for continuous metrics; for pass/fail metrics
    give ``discordant_rate`` (share of samples where exactly one arm passes; preferred)
    or, if that is unknown, ``baseline_rate`` (reference pass rate).  For pass/fail the
    result is in pass-rate units; a value at or above ``discordant_rate`` means no
    effect consistent with that discordance is detectable at this ``n``.

    Example: 400 pass/fail samples where 20% of pairs disagree give an MDE of
    ``2.80 * sqrt(0.2 / 400) = 0.063``, i.e. about 6.3 percentage points:

    >>> round(minimum_detectable_effect(400, discordant_rate=0.2), 4)
    0.0626
    >>> round(minimum_detectable_effect(100, sd_diff=1.0), 3)
    0.28
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    sigma = _sigma(baseline_rate, discordant_rate, sd_diff)
    return _z_total(alpha, power) * sigma / math.sqrt(n)


def required_sample_size(
    effect: float,
    *,
    baseline_rate: float | None = None,
    discordant_rate: float | None = None,
    sd_diff: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Number of paired samples needed to detect a true mean difference of ``effect``.

    Inverse of :func:`minimum_detectable_effect`: the smallest ``n`` (at least 1) with
    ``minimum_detectable_effect(n, ...) <= |effect|``, i.e.
    ``ceil(((z_{1-alpha/2} + z_{power}) * sigma / effect) ** 2)``.

    Example: to detect a 5-point pass-rate gain when 20% of pairs disagree you need
    ``ceil(7.85 * 0.2 / 0.05**2) = 628`` samples:

    >>> required_sample_size(0.05, discordant_rate=0.2)
    628
    """
    if not effect or not math.isfinite(effect):
        raise ValueError(f"effect must be a finite non-zero number, got {effect}")
    sigma = _sigma(baseline_rate, discordant_rate, sd_diff)
    exact = (_z_total(alpha, power) * sigma / abs(effect)) ** 2
    # Guard against ceil() rounding e.g. 628.0000000001 up to 629.
    return max(1, math.ceil(exact - 1e-9))
