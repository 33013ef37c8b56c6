"""First contact: the first ingest or ask exports models to ONNX quietly (the exporting libraries' report is
debug logging), and the Makefile's browser install says what it does and upgrades nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, save_tiny_bert

EXPORT = (
    "import sys; from rag.console import setup_logging; setup_logging(verbose=sys.argv[2] == 'verbose'); "
    "from rag.exports import exported_model; exported_model(sys.argv[1], True, 'logits')"
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny"), ["slate", "train", "quay"], num_labels=2)


def first_export(model: Path, cache: Path, verbosity: str) -> str:
    env = {**os.environ, "RAG_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", EXPORT, str(model), verbosity], capture_output=True, text=True, env=env, check=True
    )
    assert (cache / "onnx").is_dir()
    return run.stderr


def test_a_first_export_prints_nothing_but_keeps_its_report_for_verbose(tiny_model: Path, tmp_path: Path) -> None:
    assert first_export(tiny_model, tmp_path / "quiet", "quiet").strip() == ""
    verbose = first_export(tiny_model, tmp_path / "verbose", "verbose")
    assert "Quantization parameters" in verbose and "INFO" not in verbose
