"""The few figures several notebooks share: skewness, loss curves, metric bars.

Each function draws on a new (or given) matplotlib figure and returns it; notebooks show it.
"""

from __future__ import annotations

import numpy as np


def frequency_of_frequencies(ids) -> np.ndarray:
    """Return ``f`` with ``f[n]`` = how many distinct ids occur exactly ``n`` times (as the SNU lab slides count).

    ``len(f) - 1`` is the largest count ("max freq" on the slides).

    >>> frequency_of_frequencies([1, 1, 2, 3, 3, 3]).tolist()
    [0, 1, 1, 1]
    """
    counts = np.unique(np.asarray(ids), return_counts=True)[1]
    return np.bincount(counts)


def log_ticks(axis) -> None:
    """Put readable ticks on a log-scaled ``axis`` (``ax.xaxis`` or ``ax.yaxis``) after its data are drawn.

    Labels at 1, 2 and 5 times each power of 10 when the axis spans fewer than 2.5 decades, at the
    powers of 10 only when it spans more; plain numbers ("20", "500"), unlabelled minor ticks, so
    labels never crowd each other as matplotlib's default labels of minor ticks do on short ranges.

    >>> import matplotlib.pyplot as plt; fig, ax = plt.subplots(); _ = ax.loglog([20, 700], [1, 30])
    >>> log_ticks(ax.xaxis); [t.get_text() for t in ax.get_xticklabels() if 20 <= t.get_position()[0] <= 700]
    ['20', '50', '100', '200', '500']
    """
    from matplotlib.ticker import LogFormatter, LogLocator, NullFormatter

    low, high = sorted(axis.get_view_interval())
    decades = np.log10(high / low) if low > 0 else np.inf
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2.5 else (1.0,)))
    axis.set_major_formatter(LogFormatter(base=10, labelOnlyBase=False, minor_thresholds=(np.inf, np.inf)))
    axis.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10) * 1.0))
    axis.set_minor_formatter(NullFormatter())
    axis.figure.canvas.draw_idle()


def skewness(ratings, title: str = ""):
    """Plot the slides' user and item skewness, then the same on log-log axes; return the figure.

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
        log_ticks(axs[i + 2].xaxis)
        log_ticks(axs[i + 2].yaxis)
        for ax in (axs[i], axs[i + 2]):
            ax.set_xlabel("frequency (number of interactions)")
            ax.set_ylabel(f"num of {who}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _mark_epochs(ax, marks: dict | None) -> None:
    """Draw a grey vertical line, labelled, at each epoch of ``marks`` ({label: epoch})."""
    for (label, epoch), style in zip((marks or {}).items(), ["--", ":", "-."] * 3):
        ax.axvline(epoch, color="grey", ls=style, lw=1, label=label)


def loss_curves(curves: dict, title: str = "Loss curve", ylabel: str = "loss", separate: bool = False,
                marks: dict | None = None):
    """Plot one line per named sequence of per-epoch losses and return the figure.

    With ``separate=True`` each curve gets its own panel and y axis (labelled ``ylabel (name)``, or
    the name alone when ``ylabel`` is empty), side by side, for losses of different scales (e.g. BPR and hinge) that one axis would flatten; a curve may then also be a
    dict ``{label: losses}`` of several lines (e.g. one per seed, the first drawn solid).

    >>> fig = loss_curves({"train": [1.0, 0.5], "test": [1.1, 0.8]})
    >>> fig = loss_curves({"BPR": [0.7, 0.3], "hinge": [9.0, 2.0]}, separate=True); len(fig.axes)
    2
    >>> fig = loss_curves({"BPR": {"seed 0": [0.7, 0.3], "seed 1": [0.8, 0.4]}, "hinge": [9.0, 2.0]}, separate=True)
    >>> [len(ax.lines) for ax in fig.axes]
    [2, 1]

    ``marks`` (``{label: epoch}``) draws a vertical line at each epoch on every panel, e.g. the
    number of epochs chosen on validation:

    >>> fig = loss_curves({"loss": [0.7, 0.5, 0.4], "recall": [0.1, 0.2, 0.2]}, separate=True, marks={"chosen": 2})
    >>> [len(ax.lines) for ax in fig.axes]
    [2, 2]
    """
    import matplotlib.pyplot as plt

    from matplotlib.ticker import MaxNLocator

    if not separate:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, values in curves.items():
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        _mark_epochs(ax, marks)
        ax.legend()
        fig.tight_layout()
        return fig
    fig, axs = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6), squeeze=False)
    for k, (ax, (name, values)) in enumerate(zip(axs[0], curves.items())):
        lines = values if isinstance(values, dict) else {None: values}
        for j, (label, line) in enumerate(lines.items()):
            ax.plot(np.arange(1, len(line) + 1), line, marker="o", ms=3, color=f"C{k}",
                    alpha=1.0 if j == 0 else 0.4, label=label)
        ax.set(xlabel="epoch", ylabel=f"{ylabel} ({name})" if ylabel else name, title=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, max([len(line) for line in lines.values()] + list((marks or {}).values())) + 0.5)  # whole epochs
        _mark_epochs(ax, marks)
        if len(lines) > 1 or marks:
            ax.legend(fontsize=8)
    fig.suptitle(title)
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


def interval_bars(per_user: dict, metrics, references: dict | None = None, seed: int = 0, title: str = "",
                  ylabel: str = "metric value (higher is better)"):
    """Plot one group of bars per model (``per_user``: ``{model: {metric: per-user values}}``), one bar per
    metric with its 95% interval (``stats.bootstrap`` with ``seed``, as in the results table); return the figure.

    ``references`` (``{metric: (value, label)}``) draws a horizontal line in the metric's colour at
    each value (e.g. the source's number), labelled in the legend. The y axis starts at 0.

    >>> pu = {"model": {"ndcg@10": np.r_[np.ones(3), np.zeros(7)]}, "popularity": {"ndcg@10": np.r_[1.0, np.zeros(9)]}}
    >>> fig = interval_bars(pu, ["ndcg@10"], {"ndcg@10": (0.2, "the source")})
    >>> ax = fig.axes[0]; [t.get_text() for t in ax.get_xticklabels()], ax.get_ylim()[0]
    (['model', 'popularity'], 0.0)
    >>> sorted(t.get_text() for t in ax.get_legend().get_texts())
    ['ndcg@10', 'the source']
    """
    import matplotlib.pyplot as plt

    from .stats import bootstrap

    names, metrics = list(per_user), list(metrics)
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(max(6, 1.5 * len(names)), 4))
    x = np.arange(len(names))
    for j, metric in enumerate(metrics):
        est = [bootstrap(per_user[n][metric], seed=seed) for n in names]
        ax.bar(x + (j - (len(metrics) - 1) / 2) * width, [e.value for e in est], width, label=metric, color=f"C{j}",
               yerr=[[e.value - e.low for e in est], [e.high - e.value for e in est]], capsize=3)
    for (metric, (value, label)), style in zip((references or {}).items(), [":", "--", "-."] * 3):
        ax.axhline(value, color=f"C{metrics.index(metric)}", ls=style, lw=1, label=label)
    ax.set_xticks(x, [n.replace(" (", "\n(") for n in names], fontsize=8)
    top = max([ax.get_ylim()[1]] + [1.1 * value for value, _ in (references or {}).values()])
    ax.set(title=title, ylabel=ylabel, ylim=(0, 1.05 * top))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def model_vs_baselines(rows: list[dict]):
    """Plot each faithful model beside popularity of unseen items (or the row's ``unseen_label``) and the
    strongest baseline; return the figure.

    ``rows`` are ``labkit.report.comparison_rows``: one panel per notebook and metric (each with
    its own scale and its metric as y label), three bars with their 95% intervals where recorded.
    An AUC panel starts at 0.5, a random ranking's AUC (lower only if a bar or interval is lower),
    so that 0.80 and 0.87 do not look alike; a dashed line marks 0.5. Returns None if no row has a
    baseline to compare with.

    >>> fig = model_vs_baselines([{"notebook": "02_x", "metric": "hit@10", "model": "m", "ours": (0.2, 0.15, 0.25),
    ...                      "unseen": (0.1, 0.08, 0.12), "best_name": "ease", "best": (0.3, 0.25, 0.35)},
    ...                     {"notebook": "03_x", "metric": "auc", "model": "m", "ours": (0.80, 0.79, 0.81),
    ...                      "unseen": (0.87, 0.86, 0.88), "best_name": None, "best": None}])
    >>> [ax.get_ylabel() for ax in fig.axes[:2]], fig.axes[1].get_ylim()[0] == 0.5
    (['hit@10', 'AUC'], True)
    """
    import textwrap

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
        bars = [(r.get("model_label", r["model"]), r["ours"]), (r.get("unseen_label", "popularity\n(unseen)"), r.get("unseen")),
                (f"{r.get('best_label', r.get('best_name'))}\n(strongest)", r.get("best"))]
        bars = [(label, v, c) for (label, v), c in zip(bars, colours) if v]
        x = np.arange(len(bars))
        values = [v[0] for _, v, _ in bars]
        errors = [[v[0] - v[1] if v[1] is not None else 0 for _, v, _ in bars],
                  [v[2] - v[0] if v[2] is not None else 0 for _, v, _ in bars]]
        ax.bar(x, values, 0.6, yerr=errors, capsize=3, color=[c for *_, c in bars])
        ax.set_xticks(x, ["\n".join(textwrap.fill(part, 16) for part in str(label).split("\n"))
                          for label, *_ in bars], fontsize=7)   # long names wrapped, not overlapping
        ax.set_title(f"{r['notebook'][:2]} {r['metric']} ({r.get('dataset')})", fontsize=9)
        is_auc = r["metric"].lower() == "auc"
        ax.set_ylabel("AUC" if is_auc else r["metric"], fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        if is_auc:
            low = min([v[1] if v[1] is not None else v[0] for _, v, _ in bars] + [0.5])
            high = max(v[2] if v[2] is not None else v[0] for _, v, _ in bars)
            ax.set_ylim(low if low == 0.5 else low - 0.05 * (high - low), min(1.0, high + 0.08 * (high - low)))
            ax.axhline(0.5, color="black", lw=0.6, ls="--")
    fig.tight_layout()
    return fig
