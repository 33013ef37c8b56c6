"""Shared fixtures: the fakes of rag.fakes, sample documents, shared-data discovery."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.fakes import HashingEmbedder
from rag.models import resolve_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
SHARED = Path(os.environ.get("RAG_SHARED_DATA", REPO.parent / "shared" / "data"))
SERVER_START_TIMEOUT_S = 120


def shared_path(relative: str) -> Path:
    """A file under ../shared/data, or a skip saying why the test cannot run here."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs {path} (the ../shared evaluation data beside the checkout; absent in a plain clone)")
    return path


def index_files(index: Path) -> dict[str, bytes]:
    """Every file of an index directory with its bytes, by relative path (the lock file aside): what must
    not change when an ingest or a query fails."""
    files = (p for p in sorted(index.rglob("*")) if p.is_file() and p.name != ".lock")
    return {p.relative_to(index).as_posix(): p.read_bytes() for p in files}


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model("embedder", "all-MiniLM-L6-v2"))


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/corpus ingested with the default embedder (for the slow tests with the real models)."""
    from ingest.pipeline import Ingestor
    from rag.config import Settings

    index = tmp_path_factory.mktemp("sample") / "index"
    report = Ingestor(Settings(index=index)).run([DATA / "corpus"], index)
    assert report.skipped == () and report.documents >= 20
    return index


@pytest.fixture
def fake_embedder(tokenizer) -> HashingEmbedder:
    return HashingEmbedder(tokenizer)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A small folder of documents in several formats."""
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "alpha.txt").write_text(
        "The Alpha line opened in 1894. It ran for 12 kilometres along the coast.\n\n"
        "Steam services ended in 1962 when the line closed."
    )
    (root / "beta.md").write_text(
        "# Beta station\n\nBeta station has two platforms.\n\n## History\n\nIt was rebuilt in 1921 after a fire."
    )
    (root / "sub" / "gamma.html").write_text(
        "<html><head><title>Gamma depot</title><style>p{color:red}</style><script>var x=1;</script></head>"
        "<body><nav>Home | About</nav><main><h1>Gamma depot</h1><p>The depot holds four locomotives.</p>"
        "<h2>Staff</h2><p>Twelve volunteers work there every weekend.</p></main>"
        "<footer>Copyright</footer></body></html>"
    )
    return root


def save_tiny_bert(path: Path, words: list[str], num_labels: int, id2label: dict[int, str] | None = None) -> Path:
    """A random 2-layer BERT sequence classifier with a tiny vocabulary, saved like a hub model (seeded)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    labels = {"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}} if id2label else {}
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
        num_labels=num_labels,
        **labels,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(path)
    return path


def save_word_tokenizer(
    path: Path, words: list[str], specials: list[str], single: str, pair: str | None = None, **roles: str
) -> int:
    """A word-level fast tokenizer (specials first, then `words`; anything else is unk_token), saved like a hub
    tokenizer; returns its vocabulary size. `single` and `pair` are its special-token templates
    ("<s> $A </s>"); `roles` name the special tokens (pad_token="<pad>", eos_token="</s>", ...)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(dict.fromkeys([*specials, *words]))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=roles["unk_token"]))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    used = [token for token in specials if token in f"{single} {pair or ''}".split()]
    backend.post_processor = processors.TemplateProcessing(
        single=single, pair=pair, special_tokens=[(token, vocab[token]) for token in used]
    )
    PreTrainedTokenizerFast(tokenizer_object=backend, **roles).save_pretrained(path)
    return len(vocab)


# a real llama.cpp server on loopback, for the OpenAI-compatible clients (generator and verifier)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"llama_cpp.server did not answer within {SERVER_START_TIMEOUT_S} s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of `python -m llama_cpp.server` serving the packaged GGUF; stopped after the module."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", resolve_model("model", "smollm2-135m-instruct"),
        "--model_alias", "smollm2-135m-instruct",
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "1",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_serving(process, url, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
