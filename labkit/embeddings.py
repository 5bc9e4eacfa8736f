"""What a model's learned vectors say: nearest neighbours, and how much the vectors share one direction.

Plain numpy over an (n, k) matrix with one row per item (or user), as a lesson reads it from its
trained model (e.g. ``net.Q.weight.data().asnumpy()``).
"""

from __future__ import annotations

import numpy as np


def nearest(V, row: int, n: int = 5) -> list[tuple[float, int]]:
    """Return the ``n`` rows of ``V`` closest to ``row`` by cosine similarity, as (similarity, row), best first.

    The row itself is left out; ties keep the lower row first.

    >>> V = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    >>> [(round(s, 2), j) for s, j in nearest(V, 0, n=2)]
    [(0.99, 1), (0.0, 2)]
    """
    V = np.asarray(V)
    unit = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit[row]
    similarity[row] = -np.inf
    return [(float(similarity[j]), int(j)) for j in np.argsort(-similarity, kind="stable")[:n]]


def one_direction(V, counts, init_std: float = 0.01, pairs: int = 5000, seed: int = 0) -> dict:
    """Return how much the vectors ``V`` (one row per item or user) share one direction, and what it tracks.

    * ``"top direction's share of squared length"``: σ₁² / Σσ² of V's singular values (1: all on one line);
    * ``"mean |cosine| of random pairs"``: over ``pairs`` random pairs of distinct rows (seeded);
    * ``"|rank correlation| with interactions"``: Spearman's |ρ| between each row's coordinate along
      the top singular direction and ``counts`` (e.g. its number of training interactions);
    * ``"median length / initial length"``: the median row length over the expected length of a row
      drawn from Normal(0, ``init_std``²) (above 1: the vectors grew during training).

    >>> V = np.outer([1.0, 2.0, 3.0, 4.0], [0.01, 0.02])          # four vectors on one line
    >>> {k: round(v, 2) for k, v in one_direction(V, counts=[1, 2, 3, 4], pairs=50).items()}
    {"top direction's share of squared length": 1.0, 'mean |cosine| of random pairs': 1.0, '|rank correlation| with interactions': 1.0, 'median length / initial length': 3.95}
    """
    V = np.asarray(V)
    U, s, _ = np.linalg.svd(V, full_matrices=False)
    unit = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    i, j = np.random.default_rng(seed).integers(len(V), size=(2, pairs))
    rank = lambda x: np.argsort(np.argsort(x, kind="stable"), kind="stable")
    return {"top direction's share of squared length": float(s[0] ** 2 / (s ** 2).sum()),
            "mean |cosine| of random pairs": float(np.abs((unit[i] * unit[j]).sum(axis=1))[i != j].mean()),
            "|rank correlation| with interactions": float(abs(np.corrcoef(rank(U[:, 0]), rank(np.asarray(counts)))[0, 1])),
            "median length / initial length": float(np.median(np.linalg.norm(V, axis=1)) / (init_std * np.sqrt(V.shape[1])))}


def neighbour_lines(vectors: dict, rows, names, n: int = 5) -> str:
    """Return, for each of ``rows``, a heading with its name and one line per model (``vectors``:
    ``{model: V}``) listing its ``n`` nearest rows by cosine (``nearest``), with the similarity.

    >>> V = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> print(neighbour_lines({"MF": V}, [0], ["Star Wars", "Empire", "Fargo"], n=2))
    == Star Wars
       MF: Empire (0.99); Fargo (0.00)
    """
    lines = []
    for row in rows:
        lines.append(f"== {names[row]}")
        lines += [f"   {model}: " + "; ".join(f"{names[j]} ({similarity:.2f})" for similarity, j in nearest(V, row, n))
                  for model, V in vectors.items()]
    return "\n".join(lines)
