"""Chunker: offsets point at the chunk's text, sizes respect the token budget, sentences carry offsets."""

from __future__ import annotations

import itertools

from ingest.chunking import Chunker, chunk_id_for
from rag.records import Document, Section

TEXT = " ".join(
    f"Sentence number {i} mentions locomotive {i * 7} built in {1880 + i}. Its boiler was overhauled in {1950 + i}."
    for i in range(60)
)


def make_document(text: str = TEXT) -> Document:
    return Document(doc_id="loco.txt", text=text, title="Locos", sections=(Section(0, page=3, heading=("A",)),))


def test_offsets_point_at_chunk_text(tokenizer) -> None:
    chunks = Chunker(tokenizer, chunk_size=64, chunk_overlap=16).chunk(make_document())
    assert len(chunks) > 5
    for chunk in chunks:
        assert TEXT[chunk.start : chunk.end] == chunk.text


def test_chunks_fit_token_budget_and_overlap(tokenizer) -> None:
    chunks = Chunker(tokenizer, chunk_size=64, chunk_overlap=16).chunk(make_document())
    assert all(len(tokenizer.tokenize(c.text)) <= 64 for c in chunks)
    assert all(b.start < a.end for a, b in itertools.pairwise(chunks)), "consecutive chunks overlap"
    assert chunks[0].start == 0 and chunks[-1].end == len(TEXT.rstrip())


def test_sentences_have_document_offsets(tokenizer) -> None:
    chunks = Chunker(tokenizer, chunk_size=64, chunk_overlap=16).chunk(make_document())
    for chunk in chunks:
        assert chunk.sentences
        for sentence in chunk.sentences:
            assert TEXT[sentence.start : sentence.end] == sentence.text
            assert chunk.start <= sentence.start < sentence.end <= chunk.end


def test_metadata_and_stable_ids(tokenizer) -> None:
    chunker = Chunker(tokenizer, chunk_size=64, chunk_overlap=16)
    first, again = chunker.chunk(make_document()), chunker.chunk(make_document())
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert len({c.chunk_id for c in first}) == len(first)
    assert first[0].page == 3 and first[0].heading == ("A",) and first[0].title == "Locos"
    assert chunk_id_for("loco.txt", "other-hash", 0) != first[0].chunk_id


def test_repeated_text_gets_increasing_offsets(tokenizer) -> None:
    text = "Same paragraph here again. " * 80
    chunks = Chunker(tokenizer, chunk_size=32, chunk_overlap=8).chunk(make_document(text))
    starts = [c.start for c in chunks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(text[c.start : c.end] == c.text for c in chunks)


def test_token_count_matches_the_tokenizer_even_with_padding_enabled(tokenizer) -> None:
    import copy

    padded = copy.deepcopy(tokenizer)
    padded.backend_tokenizer.enable_padding(length=128)  # a tokenizer.json may ship with padding switched on
    chunker = Chunker(padded, chunk_size=64, chunk_overlap=16)
    for text in (TEXT[:300], "", "Ünïcödé naïve café, 1894.", ". "):
        assert chunker.token_count(text) == len(tokenizer.tokenize(text))
