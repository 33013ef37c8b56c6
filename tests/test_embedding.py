"""Embedder backends: batching helpers, pooling, backend choice, the backend recorded in the index manifest, and
(slow, real model) agreement of the ONNX and int8 vectors with the torch ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ingest.pipeline import Ingestor
from rag.config import Settings
from rag.errors import IndexMismatchError, RagError
from rag.index.embedding import BACKENDS, Embedder, length_batches, padded, pool, sentence_config
from rag.index.generations import Index

TEXTS = [
    "The Alpha line opened in 1894.",
    "Steam services ended in 1962 when the line closed, after decades of falling traffic on the coast route.",
    "Beta station has two platforms.",
    "Twelve volunteers work at the depot every weekend, maintaining four locomotives and the signal box.",
    "x",
]


def test_length_batches_group_similar_lengths() -> None:
    batches = length_batches([3, 50, 7, 48, 5], 2)
    assert [list(b) for b in batches] == [[1, 3], [2, 4], [0]]


def test_padded_rows() -> None:
    np.testing.assert_array_equal(padded([[1, 2, 3], [4]], 0), [[1, 2, 3], [4, 0, 0]])


def test_mean_pooling_ignores_padding() -> None:
    hidden = np.array([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    np.testing.assert_allclose(pool(hidden, mask, "mean"), [[2.0, 2.0]])
    np.testing.assert_allclose(pool(hidden, mask, "cls"), [[1.0, 1.0]])


def test_sentence_config_reads_length_and_pooling(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    assert sentence_config(str(tmp_path)) == (128, "cls")


def test_unknown_backend_is_a_one_line_error() -> None:
    with pytest.raises(RagError, match="embedder_backend"):
        Embedder("all-MiniLM-L6-v2", backend="tensorrt")


def test_backend_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_EMBEDDER_BACKEND", "torch")
    assert Embedder("all-MiniLM-L6-v2").backend == "torch"
    assert Embedder.from_settings(Settings(embedder_backend="onnx")).backend == "onnx"


def test_backend_is_recorded_and_a_change_re_embeds(corpus: Path, tmp_path: Path, fake_embedder) -> None:
    index = tmp_path / "idx"
    fake_embedder.backend = "torch"
    Ingestor(Settings(index=index), embedder=fake_embedder).run([corpus], index)
    assert Index.open(index).manifest.embedder_backend == "torch"
    with pytest.raises(IndexMismatchError, match="embedder_backend"):
        Index.open(index, backend="onnx-int8")
    fake_embedder.backend = "onnx-int8"
    calls = fake_embedder.calls
    report = Ingestor(Settings(index=index), embedder=fake_embedder).run([corpus], index)
    opened = Index.open(index, backend="onnx-int8")
    assert opened.manifest.embedder_backend == "onnx-int8"
    assert report.unchanged == report.documents and fake_embedder.calls > calls
    assert len(opened.vectors) == report.chunks


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return Embedder("all-MiniLM-L6-v2", backend="torch").encode(TEXTS)


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "least"), [("onnx", 0.999), ("onnx-int8", 0.97)])
def test_onnx_vectors_agree_with_torch(backend: str, least: float, torch_vectors: np.ndarray) -> None:
    embedder = Embedder("all-MiniLM-L6-v2", batch_size=2, backend=backend)
    vectors = embedder.encode(TEXTS)
    cosines = (vectors * torch_vectors).sum(axis=1)
    assert vectors.dtype == np.float32 and vectors.shape == torch_vectors.shape
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert cosines.mean() > 0.99 and cosines.min() > least
    assert embedder.max_tokens == 254 and embedder.dimension == 384
    assert embedder.encode([]).shape == (0, 384)


def test_every_backend_is_listed() -> None:
    assert set(BACKENDS) == {"torch", "onnx", "onnx-int8"}
