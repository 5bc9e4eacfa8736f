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
    """Plot seed 000's user and item skewness side by side and return the figure.

    x: number of interactions, y: number of users (left) or items (right) with that many.

    >>> import pandas as pd; fig = skewness(pd.DataFrame({"user_id": [1, 1], "item_id": [1, 2]}))
    """
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(15, 4))
    for ax, col, who in zip(axs, ("user_id", "item_id"), ("users", "items")):
        freq = frequency_of_frequencies(ratings[col])
        ax.plot(np.arange(len(freq)), freq)
        ax.set_title(f"{who[:-1]} skewness")
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


def model_vs_baseline(rows: list[dict]):
    """Plot, per notebook, each headline metric beside the popularity baseline; return the figure.

    ``rows`` are ``labkit.report.comparison_rows``: dicts with notebook, record, ours, popularity.
    Only rows with a popularity value are drawn; returns None if there are none.

    >>> model_vs_baseline([{"notebook": "02_x", "record": "m/hit@10", "ours": 0.2, "popularity": 0.1}]) is not None
    True
    """
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("popularity") is not None and r.get("ours") is not None]
    notebooks = list(dict.fromkeys(r["notebook"] for r in rows))
    if not notebooks:
        return None
    ncols = min(3, len(notebooks))
    nrows = -(-len(notebooks) // ncols)
    fig, axs = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.9 * nrows), squeeze=False)
    for ax in axs.flat[len(notebooks):]:
        ax.axis("off")
    for ax, nb in zip(axs.flat, notebooks):
        mine = [r for r in rows if r["notebook"] == nb]
        x = np.arange(len(mine))
        ax.bar(x - 0.2, [r["ours"] for r in mine], 0.4, label="model")
        ax.bar(x + 0.2, [r["popularity"] for r in mine], 0.4, label="popularity", color="grey")
        ax.set_xticks(x, [r["record"] for r in mine], rotation=35, ha="right", fontsize=7)
        ax.set_title(nb, fontsize=9)
    axs[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig
