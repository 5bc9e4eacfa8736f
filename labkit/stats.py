"""Uncertainty of a metric over users: bootstrap intervals, paired differences, verdicts.

Every metric in the course is a mean over users (or over events grouped by user). Resampling the
users with replacement shows how much that mean would move with other users drawn from the same
population: the **percentile bootstrap**. Comparing two models on the **same** resampled users
(a paired bootstrap) gives an interval for their difference, which is much narrower than the two
separate intervals suggest, because both models find the same users easy or hard.

A verdict is read off the 95% interval of the difference (model minus baseline, for a metric
where higher is better): entirely above 0 -> "beats", entirely below 0 -> "loses to", otherwise
"no clear difference". It is never typed by hand. A handful of users cannot carry a verdict,
however narrow their interval (4 users out of 4 that differ all favouring A give an interval
above 0, yet happen by chance one time in 8), so ``verdict`` also requires, for a difference
from ``paired_difference``:

* for a 0/1 per-user metric (each user's value 0 or 1 for both models, unweighted; e.g. d2l's
  hit@k): the **exact sign test** on the users where the models differ (the exact McNemar test,
  ``sign_test``) with two-sided p < 1 - level (0.05 at 95%);
* for any other metric (AUC, NDCG, hit@k with tied scores, event-weighted means): at least
  ``MIN_DIFFERING`` = 10 users whose two values differ;
* an interval at level >= 0.95 (``LEVEL``): a narrower interval (e.g. 50%) gives no verdict.

Otherwise the verdict is "no clear difference", and ``sentence`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_RESAMPLES = 1000
LEVEL = 0.95
MIN_DIFFERING = 10       # a non-binary difference needs at least this many users whose values differ


@dataclass(frozen=True)
class Estimate:
    """A metric's value and its bootstrap interval (``low``, ``high``) at ``level``.

    A paired difference (``paired_difference``) also carries ``n_differing``, the number of
    users whose two values differ, and, for a 0/1 metric, ``p_value``, the exact two-sided sign
    test on those users (``sign_test``); both None otherwise (then ``verdict`` reads the interval
    and its level only).

    >>> str(Estimate(0.1234, 0.1, 0.15))
    '0.1234 [0.1000, 0.1500]'
    """

    value: float
    low: float
    high: float
    level: float = LEVEL
    n_differing: int | None = None
    p_value: float | None = None

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


def _weights(weights, values: np.ndarray) -> np.ndarray:
    """One weight per user (ones without ``weights``), or ValueError."""
    if values.ndim != 1:
        raise ValueError(f"per-user values must be 1-D (one per user), not shape {values.shape}")
    if weights is None:
        return np.ones_like(values)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != values.shape:
        raise ValueError(f"weights need one value per user: shapes {w.shape} and {values.shape}")
    return w


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
    w = _weights(weights, v)
    ok = _defined(v) & (w > 0)
    v, w = v[ok], w[ok]
    if len(v) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), level)
    means = np.concatenate([_weighted_means(v, w, idx) for idx in _resample(len(v), n_resamples, seed)])
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(float((v * w).sum() / w.sum()), float(low), float(high), level)


def sign_test(n_plus: int, n_minus: int) -> float:
    """Return the exact two-sided sign test p-value for ``n_plus`` users favouring A and ``n_minus`` favouring B.

    Under "no difference" each user that differs favours A with probability 1/2, so the p-value
    is 2 P(X <= min(n_plus, n_minus)) for X ~ Binomial(n_plus + n_minus, 1/2), at most 1. On
    0/1 per-user values (hit or miss) this is the exact McNemar test on the discordant users.

    >>> sign_test(4, 0), sign_test(1, 0), round(sign_test(15, 5), 4)
    (0.125, 1.0, 0.0414)
    """
    n, m = int(n_plus) + int(n_minus), min(int(n_plus), int(n_minus))
    if n == 0:
        return 1.0
    i = np.arange(1, m + 1)
    log_comb = np.r_[0.0, np.cumsum(np.log(n - i + 1.0) - np.log(i))]       # log C(n, 0..m)
    top = log_comb.max()
    log_tail = top + np.log(np.exp(log_comb - top).sum()) - n * np.log(2.0)
    return float(min(1.0, 2.0 * np.exp(log_tail)))


def paired_difference(per_user_a, per_user_b, weights=None, n_resamples: int = N_RESAMPLES, seed: int = 0,
                      level: float = LEVEL) -> Estimate:
    """Return mean(a) - mean(b) over the same users and its paired bootstrap interval.

    ``a`` and ``b`` are per-user values of two models on the same users, in the same order;
    users where either is NaN are left out of both. ``weights`` as in ``bootstrap``. The
    Estimate also carries ``n_differing`` (users with a - b != 0) and, when every value is 0 or 1
    and the users are unweighted (or equally weighted), ``p_value``: the exact sign test
    (``sign_test``) of the users where a = 1, b = 0 against those where a = 0, b = 1. ``verdict``
    uses them (see the module's docstring).

    >>> a, b = np.r_[np.ones(60), np.zeros(40)], np.r_[np.ones(50), np.zeros(50)]
    >>> d = paired_difference(a, b); round(d.value, 2), d.low > 0, d.n_differing, round(d.p_value, 4)
    (0.1, True, 10, 0.002)
    """
    a, b = np.asarray(per_user_a, dtype=np.float64), np.asarray(per_user_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same users: shapes {a.shape} and {b.shape}")
    w = _weights(weights, a)
    ok = _defined(a, b) & (w > 0)
    a, b, w = a[ok], b[ok], w[ok]
    if len(a) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), level)
    diff = a - b
    means = np.concatenate([_weighted_means(diff, w, idx) for idx in _resample(len(a), n_resamples, seed)])
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    binary = np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all() and np.all(w == w[0])
    p_value = sign_test((diff > 0).sum(), (diff < 0).sum()) if binary else None
    return Estimate(float((diff * w).sum() / w.sum()), float(low), float(high), level,
                    int((diff != 0).sum()), p_value)


def _interval_side(difference: Estimate, higher_is_better: bool) -> str:
    """The verdict the interval alone would give."""
    low, high = (difference.low, difference.high) if higher_is_better else (-difference.high, -difference.low)
    if low > 0:
        return "beats"
    if high < 0:
        return "loses to"
    return "no clear difference"


def _percent(level: float) -> str:
    return f"{level * 100:g}%"


def withheld(difference: Estimate, min_level: float = LEVEL, min_differing: int = MIN_DIFFERING) -> str | None:
    """Return why a difference cannot carry a verdict whatever its interval says, or None if it can.

    The rules of ``verdict``: the interval's level must be at least ``min_level``; a 0/1 metric's
    exact sign test must have p < 1 - level; any other paired difference needs at least
    ``min_differing`` users whose values differ.

    >>> withheld(Estimate(1.0, 1.0, 1.0, n_differing=1, p_value=1.0))
    'exact sign test on the 1 users who differ: p = 1'
    >>> withheld(Estimate(0.1, 0.05, 0.15, level=0.5))
    'a verdict needs a 95% interval'
    """
    if not difference.level >= min_level:
        return f"a verdict needs a {_percent(min_level)} interval"
    if difference.p_value is not None:
        if not difference.p_value < 1 - difference.level:
            return f"exact sign test on the {difference.n_differing} users who differ: p = {difference.p_value:.3g}"
    elif difference.n_differing is not None and difference.n_differing < min_differing:
        return f"only {difference.n_differing} users differ: a verdict needs {min_differing}"
    return None


def verdict(difference: Estimate, higher_is_better: bool = True, min_level: float = LEVEL,
            min_differing: int = MIN_DIFFERING) -> str:
    """Return "beats", "loses to" or "no clear difference" for a difference a - b.

    "beats" when the interval lies entirely above 0 (below 0 for ``higher_is_better=False``),
    "loses to" when entirely on the other side, and only if ``withheld`` finds no reason against
    it: the interval's level is at least ``min_level`` (95%), and for a difference from
    ``paired_difference`` a 0/1 metric's exact sign test gives p < 1 - level, any other metric has
    at least ``min_differing`` (10) users whose values differ. Otherwise "no clear difference".
    An Estimate built from an interval alone (no ``n_differing``) is judged on its interval and
    level.

    >>> verdict(Estimate(0.02, 0.01, 0.03)), verdict(Estimate(-0.02, -0.03, -0.01)), verdict(Estimate(0.01, -0.01, 0.03))
    ('beats', 'loses to', 'no clear difference')
    >>> verdict(Estimate(-0.02, -0.03, -0.01), higher_is_better=False)   # e.g. an error such as RMSE
    'beats'
    >>> verdict(paired_difference([1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]))   # 4 of 4 users: sign test p = 0.125
    'no clear difference'
    >>> verdict(Estimate(0.02, 0.01, 0.03, level=0.5))                      # a 50% interval
    'no clear difference'
    """
    side = _interval_side(difference, higher_is_better)
    if side != "no clear difference" and withheld(difference, min_level, min_differing) is not None:
        return "no clear difference"
    return side


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


def event_estimates(per_event: dict, users, seed: int = 0) -> dict:
    """Return ``{metric: Estimate}`` of each metric's mean over events (``per_event``: ``{metric: one value
    per event}``, ``users``: each event's user), the interval from a bootstrap over users, each user's
    mean weighted by its number of events (``metrics.by_user``).

    >>> est = event_estimates({"recall@10": [1.0, 0.0, 1.0, 1.0]}, users=[7, 7, 3, 5])
    >>> est["recall@10"].value
    0.75
    """
    from .metrics import by_user

    out = {}
    for metric, values in per_event.items():
        _, means, counts = by_user(values, users)
        out[metric] = bootstrap(means, weights=counts, seed=seed)
    return out


def against_source(like_for_like: dict, ours: dict, source: dict, names=("like for like", "ours"), seed: int = 0) -> str:
    """Return, per metric of ``source`` (``{metric: the source's number}``), two lines: where the source's
    number lies (inside, below or above) the interval of the run measured like for like with the source,
    and whether that run is higher, lower or not clearly different from ``ours`` (a paired difference).

    ``like_for_like`` and ``ours``: ``{metric: per-user values}`` of the same users (e.g. one model under
    the source's evaluator and under the corrected one); ``names`` name them in the text.

    >>> a = {"hit@50": np.r_[np.ones(40), np.zeros(60)]}; b = {"hit@50": np.r_[np.ones(30), np.zeros(70)]}
    >>> print(against_source(a, b, {"hit@50": 0.397}, names=("d2l's evaluator", "corrected")))
    hit@50: d2l's evaluator 0.4000 [0.3100, 0.4900], corrected 0.3000; the source's 0.397 lies inside the interval of d2l's evaluator
        d2l's evaluator minus corrected: +0.1000 [+0.0500, +0.1600]: higher under d2l's evaluator
    """
    lines = []
    for metric, value in source.items():
        e = bootstrap(like_for_like[metric], seed=seed)
        where = "inside" if e.low <= value <= e.high else ("below" if value < e.low else "above")
        lines.append(f"{metric}: {names[0]} {e}, {names[1]} {float(np.mean(ours[metric])):.4f}; the source's {value} "
                     f"lies {where} the interval of {names[0]}")
        diff = paired_difference(like_for_like[metric], ours[metric], seed=seed)
        effect = {"beats": "higher", "loses to": "lower", "no clear difference": "not clearly different"}[verdict(diff)]
        lines.append(f"    {names[0]} minus {names[1]}: {diff.format('+.4f')}: {effect} under {names[0]}")
    return "\n".join(lines)


def differences(per_user: dict, pairs, weights=None, seed: int = 0) -> dict:
    """Return ``{(a, b): {metric: Estimate of a - b}}`` for each pair of models, paired over the same users.

    >>> pu = {"A": {"hit@1": np.r_[np.ones(6), np.zeros(4)]}, "B": {"hit@1": np.r_[np.ones(5), np.zeros(5)]}}
    >>> round(differences(pu, [("A", "B")])[("A", "B")]["hit@1"].value, 2)
    0.1
    """
    return {(a, b): {m: paired_difference(per_user[a][m], per_user[b][m], weights, seed=seed)
                     for m in per_user[a] if m in per_user[b]}
            for a, b in dict.fromkeys(map(tuple, pairs))}


def sentence(model: str, other: str, metric: str, difference: Estimate, higher_is_better: bool = True,
             min_level: float = LEVEL, min_differing: int = MIN_DIFFERING) -> str:
    """Return the verdict on ``model`` minus ``other`` as an English sentence, with the interval.

    The verdict is ``verdict``'s. The sentence names the interval's level when it is not 95%,
    and, when the interval alone would have given a verdict that ``withheld`` refuses, the reason.

    >>> sentence("Caser", "popularity", "hit@10", Estimate(0.05, 0.02, 0.08))
    'Caser beats popularity on hit@10 (difference +0.0500 [+0.0200, +0.0800]).'
    >>> sentence("Caser", "transitions", "hit@10", Estimate(-0.01, -0.03, 0.01))
    'Caser shows no clear difference from transitions on hit@10 (difference -0.0100 [-0.0300, +0.0100]).'
    >>> sentence("A", "B", "hit@10", Estimate(0.05, 0.02, 0.08, level=0.5))
    'A shows no clear difference from B on hit@10 (difference +0.0500 [+0.0200, +0.0800], 50% interval; a verdict needs a 95% interval).'
    >>> sentence("A", "B", "hit@10", paired_difference([1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]))
    'A shows no clear difference from B on hit@10 (difference +0.6667 [+0.3333, +1.0000]; exact sign test on the 4 users who differ: p = 0.125).'
    """
    v = verdict(difference, higher_is_better, min_level, min_differing)
    phrase = {"beats": "beats", "loses to": "loses to", "no clear difference": "shows no clear difference from"}[v]
    text = f"difference {difference.format('+.4f')}"
    if difference.level != LEVEL:
        text += f", {_percent(difference.level)} interval"
    reason = withheld(difference, min_level, min_differing)
    if reason is not None and _interval_side(difference, higher_is_better) != "no clear difference":
        text += f"; {reason}"
    return f"{model} {phrase} {other} on {metric} ({text})."


def verdict_summary(model: str, other: str, by_metric: dict, higher_is_better: bool = True) -> str:
    """Return one clause with the verdicts of ``model`` minus ``other`` on every metric, grouped.

    ``by_metric``: ``{metric: Estimate of model - other}`` (one entry of ``differences``). Lessons
    use it to write their discussion from the run's own verdicts.

    >>> d = {"hit@10": Estimate(0.01, -0.01, 0.03), "auc": Estimate(0.02, 0.01, 0.03), "hit@50": Estimate(0.05, 0.02, 0.08)}
    >>> verdict_summary("Caser", "EASE", d)
    'Caser shows no clear difference from EASE on hit@10 and beats it on auc and hit@50'
    >>> verdict_summary("MF", "EASE", {"auc": Estimate(-0.02, -0.03, -0.01)})
    'MF loses to EASE on auc'
    """
    groups: dict[str, list[str]] = {}
    for metric, difference in by_metric.items():
        groups.setdefault(verdict(difference, higher_is_better), []).append(metric)
    first = {"beats": "beats {}", "loses to": "loses to {}", "no clear difference": "shows no clear difference from {}"}
    parts = []
    for v, metrics in groups.items():
        names = " and ".join([", ".join(metrics[:-1]), metrics[-1]] if len(metrics) > 1 else metrics)
        parts.append(first[v].format(other if not parts else "it") + f" on {names}")
    return f"{model} " + " and ".join(parts)
