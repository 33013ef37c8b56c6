"""Shared fixtures: the fakes of rag.fakes, sample documents, shared-data discovery."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.fakes import HashingEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
SHARED = Path(os.environ.get("RAG_SHARED_DATA", REPO.parent / "shared" / "data"))


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

    from rag.models import resolve_model

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
