"""The few figures several notebooks share: skewness, loss curves, metric bars.

Each function draws on a new (or given) matplotlib figure and returns it; notebooks show it.
"""

from __future__ import annotations

import numpy as np


def frequency_of_frequencies(ids) -> np.ndarray:
    """Return ``f`` with ``f[n]`` = how many distinct ids occur exactly ``n`` times (seed 000).

    ``len(f) - 1`` is the largest count ("max freq" in seed 000).

    >>> frequency_of_frequencies([1, 1, 2, 3, 3, 3]).tolist()
    [0, 1, 1, 1]
    """
    counts = np.unique(np.asarray(ids), return_counts=True)[1]
    return np.bincount(counts)


def skewness(ratings, title: str = ""):
    """Plot seed 000's user and item skewness, then the same on log-log axes; return the figure.

    x: number of interactions, y: number of users (items) with that many. On log-log axes a
    long tail shows as a straight-ish falling line instead of a spike at the left.

    >>> import pandas as pd; fig = skewness(pd.DataFrame({"user_id": [1, 1], "item_id": [1, 2]}))
    """
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 4, figsize=(18, 3.8))
    for i, (col, who) in enumerate((("user_id", "users"), ("item_id", "items"))):
        freq = frequency_of_frequencies(ratings[col])
        n = np.arange(len(freq))
        axs[i].plot(n, freq)
        axs[i].set_title(f"{who[:-1]} skewness")
        axs[i + 2].loglog(n[freq > 0], freq[freq > 0], marker=".", ls="none")
        axs[i + 2].set_title(f"{who[:-1]} skewness, log-log")
        for ax in (axs[i], axs[i + 2]):
            ax.set_xlabel("frequency (number of interactions)")
            ax.set_ylabel(f"num of {who}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_curves(curves: dict, title: str = "Loss curve", ylabel: str = "loss"):
    """Plot one line per named sequence of per-epoch losses and return the figure.

    >>> fig = loss_curves({"train": [1.0, 0.5], "test": [1.1, 0.8]})
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def metric_bars(table: dict, title: str = ""):
    """Plot grouped bars, ``{model: {metric: value}}``, one group per metric; return the figure.

    >>> fig = metric_bars({"popularity": {"hit@10": 0.1}, "model": {"hit@10": 0.2}})
    """
    import matplotlib.pyplot as plt

    models = list(table)
    metrics = list(dict.fromkeys(m for values in table.values() for m in values))
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(metrics) * max(len(models), 1) / 2), 4))
    x = np.arange(len(metrics))
    for j, model in enumerate(models):
        values = [table[model].get(m, np.nan) for m in metrics]
        bars = ax.bar(x + (j - (len(models) - 1) / 2) * width, values, width, label=model)
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set_xticks(x, metrics)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def model_vs_baselines(rows: list[dict]):
    """Plot each faithful model beside popularity of unseen items and the strongest baseline; return the figure.

    ``rows`` are ``labkit.report.comparison_rows``: one panel per notebook and metric (each with
    its own scale), three bars with their 95% intervals where recorded. Returns None if no row
    has a baseline to compare with.

    >>> model_vs_baselines([{"notebook": "02_x", "metric": "hit@10", "model": "m", "ours": (0.2, 0.15, 0.25),
    ...                      "unseen": (0.1, 0.08, 0.12), "best_name": "ease", "best": (0.3, 0.25, 0.35)}]) is not None
    True
    """
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("unseen") or r.get("best")]
    if not rows:
        return None
    ncols = min(4, len(rows))
    nrows = -(-len(rows) // ncols)
    fig, axs = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.9 * nrows), squeeze=False)
    for ax in axs.flat[len(rows):]:
        ax.axis("off")
    colours = ["C0", "grey", "C2"]
    for ax, r in zip(axs.flat, rows):
        bars = [(r.get("model_label", r["model"]), r["ours"]), ("popularity\n(unseen)", r.get("unseen")),
                (f"{r.get('best_label', r.get('best_name'))}\n(strongest)", r.get("best"))]
        bars = [(label, v, c) for (label, v), c in zip(bars, colours) if v]
        x = np.arange(len(bars))
        values = [v[0] for _, v, _ in bars]
        errors = [[v[0] - v[1] if v[1] is not None else 0 for _, v, _ in bars],
                  [v[2] - v[0] if v[2] is not None else 0 for _, v, _ in bars]]
        ax.bar(x, values, 0.6, yerr=errors, capsize=3, color=[c for *_, c in bars])
        ax.set_xticks(x, [label for label, *_ in bars], fontsize=7)
        ax.set_title(f"{r['notebook'][:2]} {r['metric']} ({r.get('dataset')})", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig
