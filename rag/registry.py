"""The one registry of pluggable strategies: kind -> name -> "module:attribute", resolved when asked for.

Nothing is imported until a strategy is requested, and no module registers itself by being imported (txtai's
factories resolve names the same way). So the registry sits at the bottom of the house and still names
strategies that live above it or need optional packages: the ingest engines (ray needs the `scale` extra), the
vector stores (milvus too) and the evaluation commands of the `rag` CLI. An unknown name fails with the valid
ones listed. `rag.config` spells the same names as `Literal` types, so a bad
setting fails when the settings are built; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any

from rag.errors import UnknownNameError

STRATEGIES: Mapping[str, Mapping[str, str]] = {
    "backend": {
        "llamacpp": "rag.generation.llamacpp:LlamaCppGenerator",
        "transformers": "rag.generation.transformers_backend:TransformersGenerator",
        "openai": "rag.generation.openai_backend:OpenAIGenerator",
    },
    "scorer": {
        "trained": "rag.verify.trained:build_trained",
        "heuristic": "rag.verify.heuristic:build_heuristic",
        "nli": "rag.verify.nli:build_nli",
        "endpoint": "rag.verify.endpoint:EndpointScorer",
        "hhem": "rag.verify.hhem:build_hhem",
        "minicheck": "rag.verify.minicheck:build_minicheck",
    },
    "retrieval mode": {
        "dense": "rag.retrieval.retriever:dense_ranking",
        "bm25": "rag.retrieval.retriever:bm25_ranking",
        "hybrid": "rag.retrieval.retriever:hybrid_ranking",
    },
    "context": {
        "passages": "rag.generation.context:WholePassages",
        "sentences": "rag.generation.context:RelevantSentences",
    },
    "composition": {
        "free": "rag.compose.free:compose_free",
        "quote": "rag.compose.quote:compose_quote",
        "extractive": "rag.compose.extractive:compose_extractive",
    },
    "policy": {
        "annotate": "rag.verify.policies:annotate",
        "filter": "rag.verify.policies:keep_supported",
        "strict": "rag.verify.policies:all_or_nothing",
    },
    "loader": {
        "txt": "ingest.loaders:load_txt",
        "md": "ingest.loaders:load_markdown",
        "markdown": "ingest.loaders:load_markdown",
        "html": "ingest.loaders:load_html",
        "htm": "ingest.loaders:load_html",
        "pdf": "ingest.loaders:load_pdf",
        "jsonl": "ingest.loaders:load_jsonl",
        "docx": "ingest.loaders:load_docx",
        "pptx": "ingest.loaders:load_pptx",
        "xlsx": "ingest.loaders:load_xlsx",
        "csv": "ingest.loaders:load_csv",
    },
    "rewriter": {
        "rules": "rag.chat:build_rules",
        "generator": "rag.chat:build_generator",
    },
    "engine": {
        "local": "ingest.pipeline:Ingestor",
        "ray": "ingest.ray_engine:RayIngestor",
    },
    "store": {
        "faiss": "rag.index.stores:FaissStore",
        "milvus": "rag.index.milvus:MilvusStore",
    },
    "command": {
        "convert": "eval.cli:convert",
        "eval": "eval.cli:evaluate",
        "compare": "eval.cli:compare",
        "eval-verifier": "eval.cli:eval_verifier",
        "eval-chat": "eval.cli:eval_chat",
    },
}


def names(kind: str) -> list[str]:
    """The valid names of one kind of strategy, sorted."""
    return sorted(_table(kind))


def resolve(kind: str, name: str) -> Any:
    """The object a strategy name stands for, imported now; UnknownNameError listing the valid names."""
    table = _table(kind)
    if name not in table:
        raise UnknownNameError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(table))}")
    module, _, attribute = table[name].partition(":")
    return getattr(import_module(module), attribute)


def create(kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """`resolve(kind, name)(*args, **kwargs)`: build a strategy."""
    return resolve(kind, name)(*args, **kwargs)


def _table(kind: str) -> Mapping[str, str]:
    try:
        return STRATEGIES[kind]
    except KeyError:
        raise UnknownNameError(f"unknown kind of strategy {kind!r}; valid: {', '.join(sorted(STRATEGIES))}") from None
