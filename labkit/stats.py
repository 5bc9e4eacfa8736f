"""Uncertainty of a metric over users: bootstrap intervals, paired differences, verdicts.

Every metric in the course is a mean over users (or over events grouped by user). Resampling the
users with replacement shows how much that mean would move with other users drawn from the same
population: the **percentile bootstrap**. Comparing two models on the **same** resampled users
(a paired bootstrap) gives an interval for their difference, which is much narrower than the two
separate intervals suggest, because both models find the same users easy or hard.

A verdict is read off the 95% interval of the difference (model minus baseline, for a metric
where higher is better): entirely above 0 -> "beats", entirely below 0 -> "loses to", otherwise
"no clear difference". It is never typed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_RESAMPLES = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A metric's value and its bootstrap interval (``low``, ``high``) at ``level``.

    >>> str(Estimate(0.1234, 0.1, 0.15))
    '0.1234 [0.1000, 0.1500]'
    """

    value: float
    low: float
    high: float
    level: float = LEVEL

    def __str__(self) -> str:
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"

    def format(self, fmt: str = ".4f") -> str:
        """Return ``value [low, high]`` with the given number format."""
        return f"{self.value:{fmt}} [{self.low:{fmt}}, {self.high:{fmt}}]"


def _weighted_means(values: np.ndarray, weights: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mean of ``values`` weighted by ``weights`` for every row of resampled indices ``idx``."""
    return (values[idx] * weights[idx]).sum(axis=1) / weights[idx].sum(axis=1)


def _resample(n: int, n_resamples: int, seed: int, block: int = 200):
    """Yield blocks of bootstrap index rows (each row: n user indices drawn with replacement)."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, block):
        yield rng.integers(0, n, size=(min(block, n_resamples - start), n))


def _defined(*arrays) -> np.ndarray:
    """True where every array has a number (users with NaN, e.g. an empty truth set, drop out)."""
    ok = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        ok &= ~np.isnan(np.asarray(a, dtype=np.float64))
    return ok


def bootstrap(per_user, weights=None, n_resamples: int = N_RESAMPLES, seed: int = 0,
              level: float = LEVEL) -> Estimate:
    """Return the mean of ``per_user`` values and its percentile bootstrap interval over users.

    ``weights`` (optional, one per user) turn the mean into a weighted one, e.g. a per-event
    metric stored as each user's mean over their events with ``weights`` = their number of
    events: the estimate is then the mean over all events, and users are still resampled
    whole. Users with NaN are left out. Seeded: the same call gives the same interval.

    >>> e = bootstrap(np.r_[np.ones(30), np.zeros(70)])
    >>> round(e.value, 2), 0.2 < e.low < 0.3 < e.high < 0.4
    (0.3, True)
    """
    v = np.asarray(per_user, dtype=np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    ok = _defined(v) & (w > 0)
    v, w = v[ok], w[ok]
    if len(v) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), level)
    means = np.concatenate([_weighted_means(v, w, idx) for idx in _resample(len(v), n_resamples, seed)])
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(float((v * w).sum() / w.sum()), float(low), float(high), level)


def paired_difference(per_user_a, per_user_b, weights=None, n_resamples: int = N_RESAMPLES, seed: int = 0,
                      level: float = LEVEL) -> Estimate:
    """Return mean(a) - mean(b) over the same users and its paired bootstrap interval.

    ``a`` and ``b`` are per-user values of two models on the same users, in the same order;
    users where either is NaN are left out of both. ``weights`` as in ``bootstrap``.

    >>> a, b = np.r_[np.ones(60), np.zeros(40)], np.r_[np.ones(50), np.zeros(50)]
    >>> d = paired_difference(a, b); round(d.value, 2), d.low > 0
    (0.1, True)
    """
    a, b = np.asarray(per_user_a, dtype=np.float64), np.asarray(per_user_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same users: shapes {a.shape} and {b.shape}")
    w = np.ones_like(a) if weights is None else np.asarray(weights, dtype=np.float64)
    ok = _defined(a, b) & (w > 0)
    a, b, w = a[ok], b[ok], w[ok]
    if len(a) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), level)
    diff = a - b
    means = np.concatenate([_weighted_means(diff, w, idx) for idx in _resample(len(a), n_resamples, seed)])
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(float((diff * w).sum() / w.sum()), float(low), float(high), level)


def verdict(difference: Estimate, higher_is_better: bool = True) -> str:
    """Return "beats", "loses to" or "no clear difference" from a difference's interval (a - b).

    >>> verdict(Estimate(0.02, 0.01, 0.03)), verdict(Estimate(-0.02, -0.03, -0.01)), verdict(Estimate(0.01, -0.01, 0.03))
    ('beats', 'loses to', 'no clear difference')
    >>> verdict(Estimate(-0.02, -0.03, -0.01), higher_is_better=False)   # e.g. an error such as RMSE
    'beats'
    """
    low, high = (difference.low, difference.high) if higher_is_better else (-difference.high, -difference.low)
    if low > 0:
        return "beats"
    if high < 0:
        return "loses to"
    return "no clear difference"


def mean_sd(values) -> str:
    """Return ``"mean ± sd"`` of a few runs (e.g. seeds), sd with n - 1.

    >>> mean_sd([0.10, 0.12, 0.11])
    '0.1100 ± 0.0100'
    """
    values = np.asarray(values, dtype=np.float64)
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.4f} ± {sd:.4f}"


def estimates(per_user: dict, weights=None, seed: int = 0) -> dict:
    """Return ``{model: {metric: Estimate}}`` from ``{model: {metric: per-user values}}``.

    >>> est = estimates({"A": {"hit@1": np.r_[np.ones(3), np.zeros(7)]}})
    >>> est["A"]["hit@1"].value
    0.3
    """
    return {model: {m: bootstrap(v, weights, seed=seed) for m, v in by_metric.items()}
            for model, by_metric in per_user.items()}


def differences(per_user: dict, pairs, weights=None, seed: int = 0) -> dict:
    """Return ``{(a, b): {metric: Estimate of a - b}}`` for each pair of models, paired over the same users.

    >>> pu = {"A": {"hit@1": np.r_[np.ones(6), np.zeros(4)]}, "B": {"hit@1": np.r_[np.ones(5), np.zeros(5)]}}
    >>> round(differences(pu, [("A", "B")])[("A", "B")]["hit@1"].value, 2)
    0.1
    """
    return {(a, b): {m: paired_difference(per_user[a][m], per_user[b][m], weights, seed=seed)
                     for m in per_user[a] if m in per_user[b]}
            for a, b in dict.fromkeys(map(tuple, pairs))}


def sentence(model: str, other: str, metric: str, difference: Estimate, higher_is_better: bool = True) -> str:
    """Return the verdict on ``model`` minus ``other`` as an English sentence, with the interval.

    >>> sentence("Caser", "popularity", "hit@10", Estimate(0.05, 0.02, 0.08))
    'Caser beats popularity on hit@10 (difference +0.0500 [+0.0200, +0.0800]).'
    >>> sentence("Caser", "transitions", "hit@10", Estimate(-0.01, -0.03, 0.01))
    'Caser shows no clear difference from transitions on hit@10 (difference -0.0100 [-0.0300, +0.0100]).'
    """
    v = verdict(difference, higher_is_better)
    phrase = {"beats": "beats", "loses to": "loses to", "no clear difference": "shows no clear difference from"}[v]
    return f"{model} {phrase} {other} on {metric} (difference {difference.format('+.4f')})."
