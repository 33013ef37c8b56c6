"""Generator backends: llamacpp on the packaged GGUF, transformers on a tiny random model, openai against a
real llama.cpp server on loopback; plus the registry and model-not-found errors.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rag import registry
from rag.config import Settings, load_settings
from rag.errors import InputError, ModelNotFoundError, RagError, UnknownNameError
from rag.generation.base import Generator, Prompt, load_generator
from rag.generation.prompt import build_prompt
from rag.models import resolve_model
from rag.records import Chunk, Passage, SentenceSpan

from .conftest import free_port

# One thread: the test machines are small and shared, and llama.cpp slows down badly when oversubscribed.
LOCAL = {"threads": 1, "max_tokens": 24}


def passage() -> Passage:
    text = "The Harbor Valley Railway opened in 1902. It runs 14 miles from Port Ellis to Caddon."
    first = text.index(" It") + 1
    sentences = (SentenceSpan(text[: first - 1], 0, first - 1), SentenceSpan(text[first:], first, len(text)))
    chunk = Chunk(1, "history.md", 0, text, 0, len(text), title="Harbor Valley Railway", sentences=sentences)
    return Passage(chunk, 1.0, 1)


def grounded_prompt(generator: Generator) -> Prompt:
    prompt, included = build_prompt("When did the railway open?", [passage()], generator, 24)
    assert len(included) == 1
    return prompt


def check_backend(generator: Generator) -> None:
    """Non-empty, deterministic answers, and stream() pieces that add up to generate()."""
    assert isinstance(generator, Generator)
    prompt = grounded_prompt(generator)
    first = generator.generate(prompt)
    assert first.strip()
    assert generator.generate(prompt) == first
    pieces = list(generator.stream(prompt))
    assert len(pieces) >= 1
    assert "".join(pieces) == first


# registry and errors


def test_unknown_backend_lists_the_valid_ones() -> None:
    with pytest.raises(InputError, match=r"setting backend .*'nope'.*'llamacpp', 'transformers' or 'openai'"):
        load_settings(backend="nope")
    with pytest.raises(UnknownNameError, match="unknown backend 'nope'; valid: llamacpp, openai, transformers"):
        registry.resolve("backend", "nope")


def test_building_backends_is_cheap() -> None:
    code = (
        "import sys\nfrom rag import registry\nfrom rag.config import Settings\n"
        "from rag.generation.base import load_generator\n"
        "[load_generator(Settings(backend=name)) for name in registry.names('backend')]\n"
        "heavy = [m for m in ('llama_cpp', 'transformers', 'openai', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_gguf_names_the_model_setting(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.gguf")
    with pytest.raises(ModelNotFoundError) as caught:
        load_generator(Settings(backend="llamacpp", model=missing)).warm_up()
    message = str(caught.value)
    assert "setting model" in message and "absent.gguf" in message
    assert "\n" not in message


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"not a model at all")
    with pytest.raises(ModelNotFoundError, match="setting model"):
        load_generator(Settings(backend="llamacpp", model=str(bogus))).warm_up()


def test_transformers_backend_refuses_a_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="setting model"):
        load_generator(Settings(backend="transformers", model=str(tmp_path / "nothing-here"))).warm_up()


def test_transformers_backend_points_a_gguf_model_to_llamacpp() -> None:
    with pytest.raises(ModelNotFoundError, match="backend=llamacpp"):
        load_generator(Settings(backend="transformers")).warm_up()  # the default model is the packaged GGUF


# llamacpp


@pytest.fixture(scope="module")
def llamacpp() -> Generator:
    return load_generator(Settings(backend="llamacpp", **LOCAL))


@pytest.mark.slow
def test_llamacpp_default_gguf_is_deterministic_and_streams(llamacpp: Generator) -> None:
    assert llamacpp.name == "llamacpp"
    assert llamacpp.context_tokens == 2048
    check_backend(llamacpp)


@pytest.mark.slow
def test_llamacpp_counts_tokens_with_its_tokenizer(llamacpp: Generator) -> None:
    assert llamacpp.count_tokens("") == 0
    assert 1 <= llamacpp.count_tokens("hello world") <= 3
    assert llamacpp.count_tokens("hello world " * 50) > llamacpp.count_tokens("hello world " * 10)


# transformers


@pytest.fixture(scope="module", params=[True, False], ids=["chat-template", "plain"])
def tiny_model_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A randomly initialised 2-layer LLaMA with the packaged MiniLM WordPiece tokenizer, saved to disk."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("embedder", "all-MiniLM-L6-v2"))
    if request.param:
        tokenizer.chat_template = (
            "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}assistant:{% endif %}"
        )
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    directory = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def test_transformers_backend_with_a_tiny_model(tiny_model_dir: str) -> None:
    generator = load_generator(Settings(backend="transformers", model=tiny_model_dir, max_tokens=16))
    assert generator.name == "transformers"
    check_backend(generator)
    assert generator.count_tokens("hello world") == 2


# openai, against a real llama.cpp server on loopback (the llama_server fixture of conftest.py)


@pytest.mark.slow
def test_openai_backend_against_a_local_server(llama_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_TEST_NO_KEY", raising=False)
    settings = Settings(backend="openai", base_url=llama_server, api_key_env="RAG_TEST_NO_KEY", max_tokens=24)
    generator = load_generator(settings)
    assert generator.name == "openai"
    # The server reuses its KV cache across requests: only its first answer is computed from a cold cache,
    # so warm it once and then require identical answers (our client sends temperature 0 and the seed).
    generator.generate(grounded_prompt(generator))
    check_backend(generator)


def test_openai_reads_the_api_key_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_TEST_KEY", "sk-test-123")
    generator = load_generator(Settings(backend="openai", base_url="http://127.0.0.1:9/v1", api_key_env="RAG_TEST_KEY"))
    assert generator.client.api_key == "sk-test-123"
    monkeypatch.delenv("RAG_TEST_KEY")
    fresh = load_generator(Settings(backend="openai", base_url="http://127.0.0.1:9/v1", api_key_env="RAG_TEST_KEY"))
    assert fresh.client.api_key  # a dummy key, which local servers accept


def test_openai_counts_tokens_approximately() -> None:
    generator = load_generator(Settings(backend="openai", base_url="http://127.0.0.1:9/v1"))
    assert generator.count_tokens("") == 1
    assert generator.count_tokens("x" * 400) == 101


def test_openai_unreachable_endpoint_is_a_one_line_rag_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    generator = load_generator(Settings(backend="openai", base_url=url))
    prompt = Prompt("", "hello")
    for attempt in (lambda: generator.generate(prompt), lambda: "".join(generator.stream(prompt))):
        with pytest.raises(RagError) as caught:
            attempt()
        message = str(caught.value)
        assert url in message and "base_url" in message
        assert "\n" not in message
