"""Stored embeddings for semantic dedupe tests: random unit vectors in clusters of known membership."""

from __future__ import annotations

import numpy as np


def clustered(n_clusters: int, per_cluster: int, dim: int = 64, spread: float = 0.05, singles: int = 0,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(unit vectors, cluster label per vector; singles get labels of their own), shuffled. Members of a cluster
    are its centre plus Gaussian noise of `spread` per dimension, so their cosine is about 1 - dim*spread^2."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters + singles, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.r_[np.repeat(np.arange(n_clusters), per_cluster), n_clusters + np.arange(singles)]
    vectors = centres[labels] + np.where(labels[:, None] < n_clusters,
                                         rng.standard_normal((len(labels), dim)) * spread, 0)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    order = rng.permutation(len(labels))
    return vectors[order].astype(np.float32), labels[order]


def exact_pairs(vectors: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    sims = vectors @ vectors.T
    i, j = np.nonzero(np.triu(sims >= threshold, k=1))
    return set(zip(i.tolist(), j.tolist(), strict=True))
