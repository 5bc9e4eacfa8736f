"""What the MXNet Gluon notebooks (03, 04, 05) share: the pairwise losses and the training loop.

d2l's ``train_ranking`` printed a running *sum* of batch losses; this loop reports the true
mean loss per training example for every epoch, the seconds each epoch took and an optional
evaluation after each epoch, with one progress bar per cell in JupyterLab (``frameworks.progress``).
The model code (the network, its forward pass on a batch) stays in the notebook and is passed in.

``train`` is shown and explained in notebook 04, which defines it in a cell of its own; this is
the saved copy that notebooks 03 and 05 and the exercises use, as d2l saves ``train_ranking``
with ``#@save`` (``tests/test_lessons.py`` checks that the two are the same code).
"""

from __future__ import annotations

import time

import numpy as np

from .frameworks import import_mxnet, progress

mx = import_mxnet()
from mxnet import autograd, gluon, np as mnp, npx  # noqa: E402  (after the shim)


class BPRLoss(gluon.loss.Loss):
    """Bayesian personalised ranking: per example, -ln sigma(y_ui - y_uj).

    Written as softplus(y_uj - y_ui), the same value without overflow for large gaps. The L2
    term of BPR comes from the trainer's weight decay (``wd``).

    >>> npx.set_np(); round(float(BPRLoss()(mnp.array([2.0]), mnp.array([0.0]))[0]), 6)  # -ln sigma(2), float32
    0.126928
    """

    def __init__(self, **kwargs):
        super().__init__(weight=None, batch_axis=0, **kwargs)

    def forward(self, positive, negative):
        return npx.activation(negative - positive, act_type="softrelu")


class HingeLoss(gluon.loss.Loss):
    """Pairwise hinge loss: per example, max(m - y_ui + y_uj, 0) with margin ``m`` (1 by default).

    >>> npx.set_np(); HingeLoss()(mnp.array([2.0, 0.5]), mnp.array([0.0, 0.0])).tolist()
    [0.0, 0.5]
    """

    def __init__(self, margin: float = 1.0, **kwargs):
        super().__init__(weight=None, batch_axis=0, **kwargs)
        self.margin = margin

    def forward(self, positive, negative):
        return mnp.maximum(self.margin - positive + negative, 0)


def batches(arrays, batch_size: int, rng=None):
    """Yield tuples of aligned slices of ``arrays`` (shuffled together when ``rng`` is given).

    >>> [b[0].tolist() for b in batches([np.arange(5)], 2)]
    [[0, 1], [2, 3], [4]]
    """
    n = len(arrays[0])
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for lo in range(0, n, batch_size):
        idx = order[lo:lo + batch_size]
        yield tuple(a[idx] for a in arrays)


def train(forward, loss, trainer, epoch_data, epochs: int, batch_size: int, ctx=None,
          evaluate=None, desc: str = "training", stop=None) -> list[dict]:
    """Train a Gluon model; return one dict per epoch: epoch, loss (mean per example), seconds, evaluation.

    ``epoch_data(epoch)`` returns one epoch's numpy arrays (e.g. fresh BPR triples); ``forward(*batch)``
    returns what ``loss`` takes (e.g. the positive and the negative scores); ``loss`` returns one value
    per example. ``evaluate()`` (optional) returns a dict of metrics computed after each epoch;
    ``stop(row)`` (optional) ends training when it returns True, e.g. ``lambda row:
    stopping.update(row["hit@10"])``. Example: ``train(lambda u, i, j: (net(u, i), net(u, j)), BPRLoss(),
    trainer, lambda e: pairwise_triples(users, items, seen, rng), epochs=10, batch_size=1024)``.
    """
    ctx = ctx or mx.cpu()
    history = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        arrays = epoch_data(epoch)          # e.g. fresh negatives every epoch
        total, count = 0.0, 0
        n_batches = -(-len(arrays[0]) // batch_size)
        bar = progress(batches(arrays, batch_size), total=n_batches, desc=f"{desc} epoch {epoch}/{epochs}")
        for batch in bar:                   # batch_size examples at a time, in epoch_data's order
            xs = [mx.np.array(b, ctx=ctx, dtype=b.dtype) for b in batch]
            with autograd.record():         # forward pass, recorded for the gradients
                values = loss(*forward(*xs))
            values.backward()
            trainer.step(len(batch[0]))     # one optimiser step; the gradient is averaged over the batch
            total += float(values.sum())
            count += len(batch[0])
            if hasattr(bar, "set_postfix_str"):   # a bar (not in batch mode): the running mean loss
                bar.set_postfix_str(f"loss {total / count:.4f}", refresh=False)
        row = {"epoch": epoch, "loss": total / count, "seconds": time.perf_counter() - start}
        if evaluate is not None:
            row.update(evaluate())          # not counted in "seconds" (training time only)
        history.append(row)
        print(f"epoch {epoch:2d}  " + "  ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "seconds"))
              + f"  ({row['seconds']:.1f}s)")
        if stop is not None and stop(row):
            break
    return history
