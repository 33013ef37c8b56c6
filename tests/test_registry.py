"""The one registry: every name resolves, the settings' Literal types spell the same names, an unknown name
fails listing the valid ones, and a bad setting fails when the settings are built."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args

import pytest

from rag import registry
from rag.config import (
    CompositionName,
    ContextMode,
    GeneratorBackend,
    IngestEngine,
    PolicyName,
    RetrievalMode,
    RewriterName,
    ScorerName,
    Settings,
    VectorStoreName,
    load_settings,
    store_name,
)
from rag.errors import InputError, UnknownNameError

SETTING_KINDS = {
    "backend": GeneratorBackend,
    "scorer": ScorerName,
    "retrieval mode": RetrievalMode,
    "context": ContextMode,
    "policy": PolicyName,
    "composition": CompositionName,
    "engine": IngestEngine,
    "store": VectorStoreName,
    "rewriter": RewriterName,
}


@pytest.mark.parametrize("kind", sorted(SETTING_KINDS))
def test_settings_spell_the_registry_names(kind: str) -> None:
    assert sorted(get_args(SETTING_KINDS[kind])) == registry.names(kind)


@pytest.mark.parametrize("kind", sorted(registry.STRATEGIES))
def test_every_strategy_resolves_to_something_callable(kind: str) -> None:
    for name in registry.names(kind):
        assert callable(registry.resolve(kind, name)), (kind, name)


def test_an_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="unknown backend 'gpt'; valid: llamacpp, openai, transformers"):
        registry.resolve("backend", "gpt")
    with pytest.raises(UnknownNameError, match=r"valid: .*scorer"):
        registry.names("scorers")


def test_the_store_setting_names_a_store_by_its_uri() -> None:
    assert [store_name(u) for u in ("faiss", "milvus-lite:///data/index.db", "http://milvus:19530")] == [
        "faiss",
        "milvus",
        "milvus",
    ]
    for bad in ("milvus", "milvus-lite://", "s3://bucket"):
        with pytest.raises(InputError, match="setting store"):
            load_settings(store=bad)


def test_a_bad_setting_fails_when_settings_are_built() -> None:
    with pytest.raises(InputError, match=r"setting policy .*'lenient'.*'annotate', 'filter' or 'strict'"):
        load_settings(policy="lenient")
    with pytest.raises(InputError, match="setting top_k"):
        Settings().with_overrides(top_k=0)


def test_resolving_names_imports_no_strategy_and_no_model_library() -> None:
    code = (
        "import sys; from rag import registry; [registry.names(k) for k in registry.STRATEGIES]; "
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'llama_cpp', 'ingest', "
        "'eval') or m.startswith(('rag.generation', 'rag.verify', 'rag.retrieval'))]; print(','.join(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


NO_SCALE_OPTIONS = """
import sys
from pathlib import Path
from transformers import AutoTokenizer
from rag.models import resolve_model
from rag.config import Settings
from rag.fakes import HashingEmbedder
from rag.retrieval.retriever import IndexRetriever
from rag import registry
embedder = HashingEmbedder(AutoTokenizer.from_pretrained(resolve_model("embedder", "all-MiniLM-L6-v2")))
settings = Settings(index={index!r})
registry.create("engine", settings.engine, settings, embedder=embedder).run([Path({corpus!r})], settings.index)
hits = IndexRetriever(settings.index, embedder, settings).retrieve("depot", where=None)
assert hits, "the index answers"
import rag.cli
print(",".join(m for m in sys.modules if m.split(".")[0] in ("ray", "pymilvus", "milvus_lite")))
"""


def test_without_the_scale_options_nothing_of_ray_or_milvus_is_imported(corpus, tmp_path) -> None:
    script = NO_SCALE_OPTIONS.format(index=str(tmp_path / "idx"), corpus=str(corpus))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
