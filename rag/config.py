"""All settings in one typed place. Defaults work offline; env vars (RAG_*) and CLI flags override them.

Precedence, lowest first: defaults, environment (`RAG_TOP_K=8`), then explicit overrides passed by the
CLI or the Python API (`Settings(top_k=8)` or `settings.with_overrides(top_k=8)`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import InputError
from rag.question import MAX_QUESTION_CHARS

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
DEFAULT_GENERATOR = "smollm2-135m-instruct"

# The strategy names of rag.registry, as types: a bad value fails when Settings are built.
EmbedderBackend = Literal["torch", "onnx", "onnx-int8"]
RetrievalMode = Literal["dense", "bm25", "hybrid"]
ContextMode = Literal["passages", "sentences"]
GeneratorBackend = Literal["llamacpp", "transformers", "openai"]
ScorerName = Literal["trained", "heuristic", "nli", "endpoint", "hhem", "minicheck"]
PolicyName = Literal["annotate", "filter", "strict"]
CompositionName = Literal["free", "quote", "extractive"]
RewriterName = Literal["rules", "generator"]
IngestEngine = Literal["local", "ray"]
VectorStoreName = Literal["faiss", "milvus"]

MILVUS_SCHEMES = ("milvus-lite://", "http://", "https://", "tcp://")


def store_name(uri: str) -> VectorStoreName:
    """The vector store a `store` setting names: `faiss`, or `milvus` for a Milvus URI."""
    if uri == "faiss":
        return "faiss"
    if uri.startswith(MILVUS_SCHEMES) and len(uri) > len(uri.split("://")[0]) + 3:
        return "milvus"
    raise ValueError(
        f"store {uri!r} is neither faiss nor a Milvus URI (milvus-lite:///path/index.db or http://host:19530)"
    )


class Settings(BaseSettings):
    """Every tunable of ingest, retrieval, generation, verification and serving."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", extra="forbid", validate_assignment=True, env_parse_none_str="none"
    )

    # ingestion
    index: Path = Field(Path("indexes/sample"), description="index directory")
    embedder: str = Field(DEFAULT_EMBEDDER, description="sentence-transformers model: name, hub id or path")
    embed_batch_size: int = Field(16, ge=1, description="texts per embedder call (length-sorted batches)")
    embedder_backend: EmbedderBackend = Field(
        "onnx-int8", description="torch | onnx | onnx-int8 (exported locally, cached in ~/.cache/grounded-rag)"
    )
    chunk_size: int = Field(200, ge=16, description="chunk size in embedder tokens")
    chunk_overlap: int = Field(32, ge=0, description="overlap between chunks in embedder tokens")
    max_file_mb: float = Field(50.0, gt=0, description="files larger than this are skipped")
    # what one document may cost: a small file can expand to millions of characters (a compressed PDF)
    max_document_chars: int = Field(2_000_000, ge=1, description="documents with more text than this are skipped")
    max_document_chunks: int = Field(4_000, ge=1, description="documents cut into more chunks are skipped")
    max_file_seconds: float = Field(
        120.0, gt=0, description="a file (or .jsonl record) taking longer to load and chunk is skipped"
    )
    engine: IngestEngine = Field("local", description="what runs an ingest: local (this process) | ray (Ray Data)")
    ray_address: str | None = Field(
        None, description="engine=ray: auto, ray://HOST:10001, or unset for a local Ray instance on this machine"
    )
    ray_workers: int | None = Field(None, ge=1, description="engine=ray: embedder actors; unset: one per CPU")
    store: str | None = Field(
        None,
        description="ingest: vector store, faiss (files in the index directory) or a Milvus URI "
        "(milvus-lite:///path/index.db, http://host:19530); unset: the index's own, faiss for a new one",
    )

    # retrieval
    retrieval_mode: RetrievalMode = Field("hybrid", description="dense | bm25 | hybrid")
    top_k: int = Field(5, ge=1, le=100)
    candidates: int = Field(50, ge=1, description="candidates each retriever contributes to fusion")
    rrf_k: int = Field(60, ge=1, description="reciprocal rank fusion constant")
    reranker: str | None = Field(None, description="cross-encoder name or path; off when unset")
    min_relevance: float = Field(0.2, description="abstain when no passage's dense similarity reaches this")

    # generation
    context: ContextMode = Field(
        "passages", description="what of each passage the prompt shows: passages (whole) | sentences (faster)"
    )
    context_sentences: int = Field(3, ge=1, description="consecutive sentences per passage for context=sentences")
    backend: GeneratorBackend = Field("llamacpp", description="llamacpp | transformers | openai")
    model: str = Field(DEFAULT_GENERATOR, description="GGUF path, model dir / hub id, or endpoint model name")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint for backend=openai")
    api_key_env: str = Field("OPENAI_API_KEY", description="env var holding the endpoint's API key")
    context_tokens: int = Field(2048, ge=256, description="generator context window")
    max_tokens: int = Field(
        128, ge=1, description="tokens to generate at most (a sentence cut off here is dropped before verification)"
    )
    temperature: float = Field(0.0, ge=0.0)
    seed: int = 0
    threads: int | None = Field(None, description="CPU threads for local models; all cores when unset")
    # prompt reading dominates answer latency on a CPU; bench/ask.py measures these against llama.cpp's defaults
    prompt_batch: int = Field(128, ge=1, description="llamacpp: prompt tokens evaluated per batch")
    flash_attention: bool = Field(True, description="llamacpp: flash attention")

    # answer composition
    composition: CompositionName = Field(
        "extractive", description="extractive (a quote) | free (the generator writes) | quote (it quotes, then answers)"
    )
    constrain_output: bool = Field(
        False,
        description="llamacpp: a grammar ends every sentence with [n] (free) or holds quotes to the sources (quote)",
    )
    generated_support_threshold: float | None = Field(
        0.75,
        ge=0.0,
        le=1.0,
        description="support a generated sentence needs (0.75 for the trained scorer's window-coverage calibration: "
        "chosen on judged HaluEval train sentences, checked on CLAPNQ and realdocs, see the model card; none: the "
        "scorer's threshold, as for quotes); the scorer's threshold when that is higher",
    )
    generated_exact_names: bool = Field(
        False, description="a generated sentence may use no name or number its supporting passage never mentions"
    )
    generated_second_opinion: ScorerName | None = Field(
        "heuristic",
        description="a generated sentence must also be supported by this scorer, at its own threshold, on the same "
        "passage (heuristic: 46 -> 27 invented sentences passed of 912 judged, supported 20 -> 18); none: off, "
        "as with a stronger scorer that needs no second opinion; ignored when it names the scorer itself",
    )

    # verification
    scorer: ScorerName = Field(
        "trained", description="support scorer: trained | heuristic | nli | endpoint | hhem | minicheck"
    )
    nli_model: str | None = Field(None, description="sequence-classification NLI model for scorer=nli")
    trained_verifier: Path | None = Field(
        None, description="scorer=trained: another model directory (default: shipped)"
    )
    verifier_path: str | None = Field(
        None, description="local checkpoint directory for scorer=hhem (HHEM-2.1-Open) or scorer=minicheck"
    )
    verifier_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint for scorer=endpoint (unset: api.openai.com)"
    )
    verifier_model: str | None = Field(None, description="model the endpoint serves, for scorer=endpoint")
    verifier_api_key_env: str = Field("OPENAI_API_KEY", description="env var holding the verifier endpoint's key")
    verifier_logprobs: bool = Field(
        True, description="scorer=endpoint asks for the answer's top logprobs (off: the answer text gives 1 or 0)"
    )
    verifier_instructions: str | None = Field(
        None,
        description="scorer=endpoint system message (unset: the project's yes/no instruction; empty: none, so "
        "the served model's own template applies, as Ollama's bespoke-minicheck has)",
    )
    support_threshold: float | None = Field(None, description="override the scorer's calibrated threshold")
    policy: PolicyName = Field("filter", description="annotate | filter | strict")
    extractive_fallback: bool = Field(True, description="quote a source sentence when generation fails")
    extractive_min_similarity: float = Field(0.7, description="question/sentence cosine a quoted fallback answer needs")

    # conversations
    rewriter: RewriterName = Field(
        "rules", description="how a chat follow-up becomes a standalone question: rules | generator"
    )

    # limits
    max_question_chars: int = Field(MAX_QUESTION_CHARS, ge=1)

    @field_validator("store")
    @classmethod
    def _known_store(cls, uri: str | None) -> str | None:
        if uri is not None:
            store_name(uri)
        return uri

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the non-None overrides applied (CLI flags left unset keep env/defaults); a bad value is
        an InputError naming the setting."""
        given = {k: v for k, v in overrides.items() if v is not None}
        try:
            return self.model_copy(update=self.model_validate({**self.model_dump(), **given}).model_dump())
        except ValidationError as error:
            raise InputError(describe_invalid(error)) from None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the defaults, the environment (RAG_*) and `overrides`; one line naming the bad setting."""
    try:
        return Settings().with_overrides(**overrides)
    except ValidationError as error:
        raise InputError(describe_invalid(error)) from None


def describe_invalid(error: ValidationError) -> str:
    """One line per bad setting: its name, what was given and what is allowed."""
    problems = []
    for problem in error.errors():
        name = ".".join(str(part) for part in problem["loc"]) or "settings"
        problems.append(f"setting {name} (env RAG_{name.upper()}) = {problem.get('input')!r}: {problem['msg']}")
    return "; ".join(problems)
