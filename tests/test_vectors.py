"""The FAISS vector index: index type chosen by size, removal, reconstruction and approximate recall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.index.vectors import FaissIndex, kind_for, nlist_for, nprobe_for


def clustered(count: int, dimension: int = 32, clusters: int = 50, seed: int = 0) -> np.ndarray:
    """Normalised vectors around random centres, like embeddings of topical text."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dimension))
    points = centres[rng.integers(0, clusters, count)] + 0.6 * rng.standard_normal((count, dimension))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32)


def filled(count: int, flat_max: int, seed: int = 0) -> tuple[FaissIndex, np.ndarray, np.ndarray]:
    vectors = clustered(count, seed=seed)
    ids = np.random.default_rng(seed + 1).choice(2**62, size=count, replace=False).astype(np.int64)
    index = FaissIndex(vectors.shape[1], flat_max=flat_max)
    index.add(ids, vectors)
    return index, ids, vectors


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def test_kind_follows_size() -> None:
    assert kind_for(10, flat_max=100) == "flat"
    assert kind_for(100, flat_max=100) == "flat"
    assert kind_for(101, flat_max=100) == "ivf"
    assert nlist_for(1_000_000) == 1024
    assert 1 <= nprobe_for(nlist_for(5000)) <= nlist_for(5000)


def test_small_index_stays_flat_and_exact(tmp_path: Path) -> None:
    index, ids, vectors = filled(500, flat_max=1000)
    index.save(tmp_path / "v.faiss")
    loaded = FaissIndex.load(tmp_path / "v.faiss")
    assert loaded.kind == "flat" and len(loaded) == 500
    scores, found = loaded.search(vectors[:3], 1)
    assert list(found[:, 0]) == list(ids[:3])
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


def test_save_switches_to_ivf_past_the_threshold_and_back(tmp_path: Path) -> None:
    index, ids, _vectors = filled(3000, flat_max=1000)
    assert index.kind == "flat"
    index.save(tmp_path / "v.faiss")
    loaded = FaissIndex.load(tmp_path / "v.faiss", flat_max=1000)
    assert loaded.kind == "ivf" and len(loaded) == 3000
    assert set(loaded.ids()) == set(ids)
    loaded.remove(ids[:2500])
    loaded.save(tmp_path / "v2.faiss")
    assert loaded.kind == "flat"
    assert set(loaded.ids()) == set(ids[2500:])


@pytest.mark.parametrize("flat_max", [10_000, 1000])
def test_removal_and_vectors_by_id(flat_max: int, tmp_path: Path) -> None:
    index, ids, vectors = filled(3000, flat_max=flat_max)
    index.save(tmp_path / "v.faiss")
    index = FaissIndex.load(tmp_path / "v.faiss", flat_max=flat_max)
    np.testing.assert_allclose(index.vectors(ids[10:20]), vectors[10:20], atol=5e-3)
    index.remove(ids[:100])
    assert len(index) == 2900
    _, found = index.search(vectors[:100], 10)
    assert not set(found.ravel()) & set(ids[:100])
    assert index.vectors([]).shape == (0, vectors.shape[1])


def test_ivf_recall_at_10_against_flat(tmp_path: Path) -> None:
    index, _ids, _vectors = filled(20_000, flat_max=1000)
    queries = clustered(200, seed=7)
    _, exact = index.search(queries, 10)
    index.save(tmp_path / "v.faiss")
    assert index.kind == "ivf"
    _, approximate = index.search(queries, 10)
    assert recall_at(approximate, exact) >= 0.95


def test_empty_index_searches_to_nothing(tmp_path: Path) -> None:
    index = FaissIndex(8)
    _scores, found = index.search(np.ones((2, 8), dtype=np.float32), 5)
    assert found.shape == (2, 1) and (found == -1).all()
    index.save(tmp_path / "v.faiss")
    assert len(FaissIndex.load(tmp_path / "v.faiss")) == 0
