"""Prompt building: numbered sources with titles, instruction placement, and fitting passages to the context."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest

from rag.generation.base import Prompt
from rag.generation.prompt import INSTRUCTIONS, NO_ANSWER, build_prompt, render_question, source_header
from rag.records import Chunk, Passage, SentenceSpan


class WordGenerator:
    """A stand-in generator whose tokens are whitespace-separated words."""

    name = "words"

    def __init__(self, context_tokens: int = 2048, instructions_in_system: bool = False) -> None:
        self.context_tokens = context_tokens
        self.instructions_in_system = instructions_in_system

    def generate(self, prompt: Prompt) -> str:
        return ""

    def stream(self, prompt: Prompt) -> Iterator[str]:
        yield ""

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def make_passage(
    sentences: Sequence[str],
    title: str = "Title",
    page: int | None = None,
    heading: tuple[str, ...] = (),
    doc_start: int = 100,
    rank: int = 1,
) -> Passage:
    """A passage whose chunk starts at `doc_start` in its document, with sentence spans in document offsets."""
    text = " ".join(sentences)
    spans, cursor = [], 0
    for sentence in sentences:
        at = text.index(sentence, cursor)
        cursor = at + len(sentence)
        spans.append(SentenceSpan(sentence, doc_start + at, doc_start + cursor))
    chunk = Chunk(
        chunk_id=rank,
        doc_id=f"doc{rank}",
        ordinal=0,
        text=text,
        start=doc_start,
        end=doc_start + len(text),
        title=title,
        page=page,
        heading=heading,
        sentences=tuple(spans),
    )
    return Passage(chunk, score=1.0 / rank, rank=rank)


def numbered_sources(user: str) -> list[tuple[int, str]]:
    return [(int(n), header) for n, header in re.findall(r"^\[(\d+)\] (.*)$", user, re.MULTILINE)]


def test_sources_are_numbered_in_order_with_titles_pages_and_headings() -> None:
    passages = [
        make_passage(["The line opened in 1902."], title="History", page=3, heading=("History", "Opening")),
        make_passage(["No. 3 is green."], title="Locomotives", heading=("Steam", "No. 3"), rank=2),
        make_passage(["Trains run daily."], title="Timetable", rank=3),
    ]
    prompt, included = build_prompt("When did it open?", passages, WordGenerator(), 256)
    assert included == passages
    assert numbered_sources(prompt.user) == [
        (1, "History (page 3 / Opening)"),
        (2, "Locomotives (Steam > No. 3)"),
        (3, "Timetable"),
    ]
    assert prompt.user.index("The line opened in 1902.") < prompt.user.index("No. 3 is green.")
    assert prompt.user.rstrip().endswith("Question: When did it open?")


def test_an_untitled_source_is_named_by_its_document_id_not_its_path() -> None:
    passage = make_passage(["Text."], title="")
    passage = replace(passage, chunk=replace(passage.chunk, source="/home/someone/corpus.jsonl#L7"))
    assert source_header(4, passage) == "[4] doc1"


def test_instructions_demand_citations_and_the_exact_abstention_sentence() -> None:
    assert NO_ANSWER == "The sources do not contain the answer."
    assert NO_ANSWER in INSTRUCTIONS
    assert "[1]" in INSTRUCTIONS and "only" in INSTRUCTIONS


@pytest.mark.parametrize("in_system", [True, False])
def test_instruction_placement_follows_the_generator(in_system: bool) -> None:
    prompt, _ = build_prompt("Q?", [make_passage(["A."])], WordGenerator(instructions_in_system=in_system), 64)
    if in_system:
        assert prompt.system == INSTRUCTIONS and INSTRUCTIONS not in prompt.user
        assert [m["role"] for m in prompt.messages()] == ["system", "user"]
    else:
        assert prompt.system == "" and prompt.user.startswith(INSTRUCTIONS)
        assert [m["role"] for m in prompt.messages()] == ["user"]


def test_prompt_is_deterministic() -> None:
    passages = [make_passage(["One fact.", "Two facts."]), make_passage(["Other."], rank=2)]
    assert build_prompt("Q?", passages, WordGenerator(), 64) == build_prompt("Q?", passages, WordGenerator(), 64)


def test_render_question_collapses_whitespace() -> None:
    assert render_question("  When   did\nit open? ") == "Question: When did it open?"


def overhead(generator: WordGenerator, max_tokens: int) -> int:
    """Tokens the prompt costs with no sources at all (instructions, question, template reserve)."""
    empty, _ = build_prompt("When?", [], generator, max_tokens)
    return generator.count_tokens(empty.system) + generator.count_tokens(empty.user)


def test_long_passage_is_cut_at_a_sentence_boundary() -> None:
    sentences = [f"Sentence number {i} says something about topic {i}." for i in range(1, 21)]  # 8 words each
    long = make_passage(sentences, title="Long", doc_start=500)
    generator = WordGenerator()
    max_tokens = 64
    # room for the header ("[1] Long", 2 words) and about 5.5 sentences
    generator.context_tokens = overhead(generator, max_tokens) + 24 + max_tokens + 2 + 44
    prompt, included = build_prompt("When?", [long], generator, max_tokens)
    assert len(included) == 1
    cut = included[0].chunk
    assert 1 <= len(cut.sentences) < len(sentences)
    assert long.chunk.text.startswith(cut.text)
    assert cut.text == " ".join(sentences[: len(cut.sentences)])  # a prefix of whole sentences
    assert cut.sentences == long.chunk.sentences[: len(cut.sentences)]
    assert cut.end == cut.start + len(cut.text) == cut.sentences[-1].end
    assert cut.text in prompt.user and sentences[len(cut.sentences)] not in prompt.user
    used = generator.count_tokens(prompt.system) + generator.count_tokens(prompt.user)
    assert used <= generator.context_tokens - max_tokens


def test_passage_that_does_not_fit_is_dropped_and_numbers_match_the_returned_passages() -> None:
    huge = make_passage([" ".join(["word"] * 300) + "."], title="Huge", rank=1)
    small = make_passage(["Short fact."], title="Small", rank=2)
    generator = WordGenerator()
    generator.context_tokens = overhead(generator, 32) + 24 + 32 + 40
    prompt, included = build_prompt("When?", [huge, small], generator, 32)
    assert included == [small]
    assert numbered_sources(prompt.user) == [(1, "Small")]
    assert "word word" not in prompt.user


def test_nothing_fits_gives_a_prompt_without_sources() -> None:
    generator = WordGenerator()
    generator.context_tokens = overhead(generator, 32) + 24 + 32
    prompt, included = build_prompt("When?", [make_passage(["Some fact here."])], generator, 32)
    assert included == []
    assert numbered_sources(prompt.user) == []
    assert "Question: When?" in prompt.user


def test_passages_after_a_cut_one_keep_consecutive_numbers() -> None:
    first = make_passage(["Alpha fact."], title="A", rank=1)
    second = make_passage([f"Beta sentence {i} is here now." for i in range(10)], title="B", rank=2)
    third = make_passage(["Gamma."], title="C", rank=3)
    generator = WordGenerator()
    generator.context_tokens = overhead(generator, 16) + 24 + 16 + 4 + 2 + 13 + 2
    prompt, included = build_prompt("When?", [first, second, third], generator, 16)
    assert [p.chunk.title for p in included] == [t for _, t in numbered_sources(prompt.user)]
    assert included[0] == first and included[1].chunk.title == "B"
    assert len(included[1].chunk.sentences) == 2
