"""Model-free parts for the pipeline, for tests and the service benchmark: a hashing embedder, canned documents
behind a word-overlap retriever, a scripted and an echoing generator, and a word-overlap support scorer.

`fake_pipeline()` puts them into a real `Pipeline`, so the HTTP service, the web page, the tests and the load
benchmark (`bench/serve_load.py --fake`) run the real answer path (claims, verification, policies, the JSON
contract) without loading any model.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase
from typing import Any

import numpy as np

from rag import registry
from rag.config import Settings
from rag.generation.context import WholePassages
from rag.generation.prompt import render_question
from rag.index.filters import Where
from rag.pipeline import Pipeline
from rag.records import Chunk, Passage, SentenceSpan
from rag.verify.relevance import AnswerCheck, AnswerModel
from rag.verify.verifier import Verifier

DOCUMENTS: dict[str, tuple[str, str]] = {
    "history/founding.md": (
        "Founding of the railway",
        "The Harbor Valley Railway opened in 1894. It ran for 12 kilometres along the coast. "
        "Steam services ended in 1962 when the line closed.",
    ),
    "operations/timetable.txt": (
        "Timetable",
        "Trains run every Saturday from April to October. The first train leaves Harbor station at 10:15. "
        "Tickets can be bought on board.",
    ),
    "people/volunteers.txt": (
        "Volunteers",
        "Twelve volunteers maintain the locomotives. The preservation society was founded in 1971.",
    ),
}
UNSUPPORTED_CLAIM = "It was also the first railway in the country to run at night."


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if len(w) > 2}


class HashingEmbedder:
    """Bag-of-words vectors hashed into 64 dimensions: deterministic, instant, similar texts score high.

    `tokenizer` (the real embedder's, for chunking) is only needed when documents are ingested with it.
    """

    dimension = 64
    max_tokens = 254
    backend = "onnx-int8"

    def __init__(self, tokenizer: Any = None, name: str = "all-MiniLM-L6-v2") -> None:
        self.tokenizer = tokenizer
        self.name = name
        self.calls = 0
        self.texts: list[str] = []

    def warm_up(self) -> None:
        pass

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.texts.extend(texts)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                vectors[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


def canned_chunk(chunk_id: int, doc_id: str, title: str, text: str) -> Chunk:
    spans = tuple(SentenceSpan(m.group(0), m.start(), m.end()) for m in re.finditer(r"[^.\s][^.]*\.", text))
    return Chunk(chunk_id, doc_id, 0, text, 0, len(text), title=title, source=doc_id, sentences=spans)


class CannedRetriever:
    """The canned DOCUMENTS, one chunk each, ranked by the share of the query's words they contain (which also
    stands for the dense similarity); a filter's path glob is matched against the doc id. `delay_s` is slept
    per search, to make it slow on purpose."""

    def __init__(self, settings: Settings, delay_s: float = 0.0) -> None:
        self.settings = settings
        self.delay_s = delay_s
        self.embedder = HashingEmbedder()
        documents = enumerate(DOCUMENTS.items())
        self.chunks = {doc_id: canned_chunk(n, doc_id, title, text) for n, (doc_id, (title, text)) in documents}

    def warm_up(self) -> None:
        pass

    def reopened(self) -> CannedRetriever:
        return self

    def is_stale(self) -> bool:
        return False

    def document(self, doc_id: str) -> dict[str, Any] | None:
        chunk = self.chunks.get(doc_id)
        if chunk is None:
            return None
        return {"doc_id": doc_id, "source": chunk.source, "title": chunk.title, "metadata": {}, "text": chunk.text}

    def stats(self) -> dict[str, Any]:
        count = len(self.chunks)
        return {"generation": "gen-000001", "documents": count, "chunks": count, "manifest": {"embedder": "fake"}}

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        query_vector: np.ndarray | None = None,
        where: Where | None = None,
    ) -> list[Passage]:
        registry.resolve("retrieval mode", mode or self.settings.retrieval_mode)  # an unknown mode fails as usual
        time.sleep(self.delay_s)
        wanted = words(query)
        chunks = [
            c for c in self.chunks.values() if where is None or where.path is None or fnmatchcase(c.doc_id, where.path)
        ]
        scored = [(len(wanted & words(c.text)) / (len(wanted) or 1), c) for c in chunks]
        ranked = sorted(((s, c) for s, c in scored if s > 0), key=lambda sc: -sc[0])[: k or self.settings.top_k]
        return [Passage(c, s, rank, {"dense": s}) for rank, (s, c) in enumerate(ranked, start=1)]


class ScriptedGenerator:
    """Answers every prompt with a fixed text, streamed word by word (each with the spaces after it); records
    the prompts it saw. Tokens are words."""

    name = "scripted"
    context_tokens = 2048

    def __init__(self, text: str, delay_s: float = 0.0) -> None:
        self.text = text
        self.delay_s = delay_s
        self.prompts: list[Any] = []
        self.warm_ups = 0

    def warm_up(self) -> None:
        self.warm_ups += 1

    def generate(self, prompt: Any) -> str:
        return "".join(self.stream(prompt))

    def stream(self, prompt: Any) -> Iterator[str]:
        self.prompts.append(prompt)
        for token in re.findall(r"\S+\s*", self.answer(prompt)):
            time.sleep(self.delay_s)
            yield token

    def answer(self, prompt: Any) -> str:
        return self.text

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class EchoGenerator(ScriptedGenerator):
    """Copies the sentence of source [1] that shares most words with the question, cites it, and adds one
    claim no source supports (UNSUPPORTED_CLAIM), which the answer policy then removes, marks or abstains on."""

    name = "echo"

    def __init__(self, delay_s: float = 0.0) -> None:
        super().__init__("", delay_s)

    def answer(self, prompt: Any) -> str:
        question = prompt.user.rsplit(render_question(""), 1)[-1]
        first = re.search(r"^\[1\][^\n]*\n(.+?)(?:\n\n\[2\]|\n\nQuestion:)", prompt.user, re.S | re.M)
        if first is None:
            return "The sources do not contain the answer."
        candidates = re.findall(r"[^.\s][^.]*\.", first.group(1))
        best = max(candidates, key=lambda s: len(words(question) & words(s)))
        return f"{best} [1] {UNSUPPORTED_CLAIM} [1]"


class OverlapScorer:
    """Share of the claim's words found in the premise: enough to make support decisions predictable. Counts
    the pairs it has scored."""

    name = "overlap"

    def __init__(self, threshold: float = 0.8) -> None:
        self.threshold = threshold
        self.pairs = 0

    def warm_up(self) -> None:
        pass

    def score(self, premise: str, claim: str) -> float:
        return self.score_batch([(premise, claim)])[0]

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        self.pairs += len(pairs)
        return [len(all_words(c) & all_words(p)) / max(1, len(all_words(c))) for p, c in pairs]


# the hashing embedder's similarities mean nothing, so the fitted answer model would refuse every sentence: this one
# lets every sentence that can answer (rag.verify.relevance.blocking_reasons) answer
EVERY_ELIGIBLE = AnswerModel({}, 0.0, 0.0)


def all_words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def fake_pipeline(settings: Settings | None = None, delay_s: float = 0.0, generator: Any = None) -> Pipeline:
    """A real Pipeline over the canned documents with the echoing generator (or `generator`) and the overlap
    scorer; `delay_s` is slept per search and per token. It composes freely (the generator writes) unless the
    settings name a composition explicitly, so that the service's streaming is exercised."""
    settings = settings or Settings()
    retriever = CannedRetriever(settings, delay_s)
    return Pipeline(
        retriever=retriever,
        context=WholePassages(),
        generator=generator or EchoGenerator(delay_s),
        verifier=Verifier(OverlapScorer()),
        answers=AnswerCheck(retriever.embedder.encode, EVERY_ELIGIBLE),
        settings=settings,
        policy=settings.policy,
        composition=settings.composition if "composition" in settings.model_fields_set else "free",
    )
