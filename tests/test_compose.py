"""The answer composition strategies (free, quote, extractive) and the check that an answer answers the question,
on documents written for these tests: two programs' READMEs with look-alike sections, and a tar-like manual."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingest.pipeline import Ingestor
from rag.compose.base import OFF_POINT
from rag.config import Settings
from rag.fakes import OverlapScorer, ScriptedGenerator
from rag.generation.context import WholePassages
from rag.generation.grammar import cited_grammar, quote_grammar
from rag.pipeline import Pipeline
from rag.retrieval.retriever import IndexRetriever
from rag.verify.relevance import (
    AnswerCheck,
    AnswerModel,
    blocking_reasons,
    counted,
    expected_kind,
    names_in,
    repeats_part_of,
)
from rag.verify.verifier import Verifier

DOCUMENTS = {
    "pskit/README.md": (
        "# pskit\n\npskit lists and signals the processes of a running system. "
        "It ships the tools pslist, pskill and pswatch.\n\n## Reporting bugs\n\n"
        "Please send bug reports for pskit to pskit-bugs@lists.example.org with the version you run."
    ),
    "fgrep2/README.md": (
        "# fgrep2\n\nfgrep2 searches files for lines that match a fixed string. "
        "It is faster than a regular expression search on large files.\n\n## Reporting bugs\n\n"
        "Report bugs to bug-fgrep2@example.net and include the command line that failed."
    ),
    "archiver/manual.md": (
        "# archiver manual\n\narchiver [OPTIONS] ARCHIVE FILES\n\n## Compression options\n\n"
        "The option -J, also spelled --xz, filters the archive through xz. "
        "The option -z, also spelled --gzip, filters the archive through gzip. "
        "The option -A appends one archive to another."
    ),
}
# a transparent answer model for the hashing embedder: a sentence answers when it covers a third of the question
COVERAGE = AnswerModel({"coverage": 10.0}, -2.0, 0.6)
PROCPS = "What is the bug-report address of pskit?"
SIBLING = "What is the bug-report address of pstools?"  # a program the corpus does not describe
XZ = "Which archiver option filters the archive through xz?"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> tuple[Path, Any]:
    from rag.fakes import HashingEmbedder

    root = tmp_path_factory.mktemp("compose")
    for name, text in DOCUMENTS.items():
        (root / "docs" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "docs" / name).write_text(text)
    embedder = HashingEmbedder(tokenizer)
    Ingestor(Settings(index=root / "index"), embedder=embedder).run([root / "docs"], root / "index")
    return root / "index", embedder


def pipeline(
    index: tuple[Path, Any],
    composition: str,
    answer: str = "",
    scorer_threshold: float = 0.8,
    answer_model: AnswerModel = COVERAGE,
    **settings: Any,
) -> Pipeline:
    root, embedder = index
    chosen = Settings(index=root, top_k=3, min_relevance=0.0, composition=composition, **settings)
    return Pipeline(
        retriever=IndexRetriever(root, embedder, chosen),
        context=WholePassages(),
        generator=ScriptedGenerator(answer),
        verifier=Verifier(OverlapScorer(scorer_threshold)),
        answers=AnswerCheck(embedder.encode, answer_model),
        settings=chosen,
        policy=chosen.policy,
        composition=chosen.composition,
    )


# ------------------------------------------------------------------ the answer check


def test_another_programs_address_never_answers() -> None:
    grep_like = "Report bugs to bug-fgrep2@example.net and include the command line that failed."
    own = "Please send bug reports for pskit to pskit-bugs@lists.example.org with the version you run."
    assert names_in(PROCPS) == ["pskit"]
    assert blocking_reasons(PROCPS, names_in(PROCPS), grep_like, "fgrep2 Reporting bugs fgrep2/README.md")
    assert not blocking_reasons(PROCPS, names_in(PROCPS), own, "pskit Reporting bugs pskit/README.md")


def test_a_repeat_says_nothing_beyond_its_source_sentence() -> None:
    source = "Arden Press (1844-1846) was an American literary periodical published in Philadelphia."
    assert repeats_part_of(source, "Arden Press was a periodical published in Philadelphia.")
    assert repeats_part_of(source, "The answer to this question is: Arden Press was a literary periodical.")
    assert repeats_part_of(source, "Answer: Arden Press (1844-1846) was a periodical.")
    assert not repeats_part_of(source, "Arden Press was a periodical published in Boston.")
    assert not repeats_part_of(source, "Philadelphia published Arden Press.")  # same words, another order
    assert not repeats_part_of(source, "Answers vary: Arden Press was a periodical.")  # no lead-in: "answers" is said


def test_an_option_answer_must_name_what_was_asked() -> None:
    assert expected_kind(XZ) == "option"
    usage = "Files are read in the order given."
    assert "holds no option" in " ".join(blocking_reasons(XZ, names_in(XZ), usage, "archiver manual"))
    xz = "The option -J, also spelled --xz, filters the archive through xz."
    assert not blocking_reasons(XZ, names_in(XZ), xz, "archiver manual")
    assert "does not name archiver" in " ".join(blocking_reasons(XZ, names_in(XZ), xz, "other tool"))
    assert expected_kind("Does archiver accept the --xz option?") is None  # yes/no questions ask for no option
    assert blocking_reasons("How many tons of slate did it carry in 1935?", [], "It carried 800 tons in 1925.", "")


def test_a_count_answer_must_say_what_it_counts() -> None:
    # the sample corpus's unanswerable question, once answered with the founding date
    question = "How many members does the Preservation Society have today?"
    founded = "The Preservation Society was founded on 4 May 1963 at a public meeting in the Anchor Inn."
    members = "The Preservation Society now has about 1,400 members, 200 of them active volunteers."
    assert counted(question) == "members"
    assert "does not say how many members" in blocking_reasons(question, [], founded, "")
    assert not blocking_reasons(question, [], members, "")
    assert counted("How many times has the line flooded?") is None  # "times" says nothing to look for


# ------------------------------------------------------------------ strategies


def test_extractive_quotes_the_answering_sentence_with_its_offsets(index: tuple[Path, Any]) -> None:
    answer = pipeline(index, "extractive").ask(PROCPS)
    assert not answer.abstained and answer.extractive and answer.composition == "extractive"
    [sentence] = answer.sentences
    assert sentence.verdict.status == "quoted" and sentence.verdict.support == 1.0
    assert "pskit-bugs@lists.example.org" in sentence.text
    [citation] = sentence.citations
    assert (
        citation.doc_id == "pskit/README.md"
        and DOCUMENTS[citation.doc_id][citation.start : citation.end] == citation.quote
    )
    assert answer.raw_answer == "" and answer.draft == ()


def test_extractive_abstains_on_the_sibling_program_and_names_the_closest(index: tuple[Path, Any]) -> None:
    answer = pipeline(index, "extractive").ask(SIBLING)
    assert answer.abstained and "no sentence" in answer.abstain_reason
    assert answer.closest and all(c.support < 1.0 for c in answer.closest)


def test_free_answer_is_verified_and_an_off_point_one_is_withheld(index: tuple[Path, Any]) -> None:
    good = pipeline(index, "free", "Bug reports for pskit go to pskit-bugs@lists.example.org [1].")
    answer = good.ask(PROCPS)
    assert not answer.abstained and answer.sentences[0].verdict.status in {"supported", "recited"}
    wrong = pipeline(index, "free", "Report bugs to bug-fgrep2@example.net [1].", extractive_fallback=False)
    withheld = wrong.ask(PROCPS)
    assert withheld.abstained, "a supported sentence about another program does not answer"
    assert [s.text for s in withheld.removed_sentences] == ["Report bugs to bug-fgrep2@example.net."]


def test_a_generated_copy_of_a_source_sentence_must_clear_the_answer_check(index: tuple[Path, Any]) -> None:
    # a sentence copied word for word is supported whatever was asked (rag.verify.rules), so, as a quote, it must
    # also clear the answer check's score; a small generator copied an off-point changelog sentence so (realdocs)
    strict = AnswerModel({"coverage": 10.0}, -2.0, 0.9)  # a third of the question's words is not enough
    question = "Which tools does pskit ship?"
    off_point = "Please send bug reports for pskit to pskit-bugs@lists.example.org with the version you run. [1]"
    refused = pipeline(index, "free", off_point, answer_model=strict, extractive_fallback=False).ask(question)
    assert refused.abstained and refused.sentences == ()
    on_point = "It ships the tools pslist, pskill and pswatch. [1]"
    shown = pipeline(index, "free", on_point, answer_model=strict).ask(question)
    assert not shown.abstained and shown.sentences[0].text == "It ships the tools pslist, pskill and pswatch."


def test_a_sentence_that_only_repeats_part_of_a_source_sentence_must_clear_the_answer_check(
    index: tuple[Path, Any],
) -> None:
    # a small generator introduced an off-point part of a source sentence as the answer (HaluEval train): "The
    # answer to this question is: He was killed in a flying accident shortly thereafter."
    off_point = "The answer to this question is: send bug reports for pskit to pskit-bugs@lists.example.org. [1]"
    lenient, strict = COVERAGE, AnswerModel({"coverage": 10.0}, -2.0, 0.9)
    settings: dict[str, Any] = {"extractive_fallback": False, "generated_support_threshold": None}

    def ask(question: str, answer: str, model: AnswerModel) -> Any:
        return pipeline(index, "free", answer, 0.5, answer_model=model, **settings).ask(question)

    shown = ask("Which tools does pskit ship?", off_point, lenient)
    assert not shown.abstained, "the verifier supports it: only the answer check can refuse it"
    refused = ask("Which tools does pskit ship?", off_point, strict)
    assert refused.abstained and refused.abstain_reason == OFF_POINT and refused.sentences == ()
    on_point = "The answer is: pskit lists the processes of a running system. [1]"
    kept = ask("What does pskit do?", on_point, strict)
    assert not kept.abstained and kept.sentences[0].text == on_point.removesuffix(" [1]")


def test_a_generated_sentence_meets_the_stricter_threshold(index: tuple[Path, Any]) -> None:
    raw = "Bug reports for pskit go by fax or post to pskit-bugs@lists.example.org [1]."  # 9 of its 14 words
    lenient = pipeline(index, "free", raw, 0.5, generated_support_threshold=None).ask(PROCPS)
    assert not lenient.abstained and lenient.sentences[0].verdict.support == pytest.approx(9 / 14)
    strict = pipeline(index, "free", raw, 0.5, extractive_fallback=False).ask(PROCPS)  # the default, 0.75
    assert strict.abstained and [s.verdict.support for s in strict.removed_sentences] == [pytest.approx(9 / 14)]


def test_quote_shows_the_quote_and_its_verified_answer(index: tuple[Path, Any]) -> None:
    quote = "The option -J, also spelled --xz, filters the archive through xz."
    raw = f'Quote: "{quote}" [1]\nAnswer: The option is -J [1].'
    answer = pipeline(index, "quote", raw).ask(XZ)
    assert not answer.abstained and answer.composition == "quote"
    assert answer.sentences[0].verdict.status == "quoted" and answer.sentences[0].text == quote
    assert [c.text for c in answer.draft] == [quote, "The option is -J."]


def test_quote_that_is_not_a_source_sentence_is_not_shown(index: tuple[Path, Any]) -> None:
    raw = 'Quote: "The option -X filters the archive through xz." [1]\nAnswer: The option is -X [1].'
    answer = pipeline(index, "quote", raw, extractive_fallback=False).ask(XZ)
    assert answer.abstained and "quoted no source sentence" in answer.abstain_reason


# ------------------------------------------------------------------ grammars


def test_grammars_name_the_sources() -> None:
    from rag.records import Chunk, Passage, SentenceSpan

    assert '"[3]"' in cited_grammar(3) and '"[4]"' not in cited_grammar(3)
    span = SentenceSpan('He said "stop".', 0, 15)
    passage = Passage(Chunk(1, "d", 0, span.text, 0, 15, sentences=(span,)), 1.0, 1)
    assert '"He said \\"stop\\".\\" [1]"' in quote_grammar([passage])


@pytest.mark.slow
def test_llama_cpp_output_follows_the_grammars(index: tuple[Path, Any]) -> None:
    """With the real default generator: free text is cited at least every 200 units of text and never ends a
    sentence before its citation; a quote is exactly a sentence of its source, or the reply is the refusal."""
    import re

    from rag.generation.base import Prompt, load_generator
    from rag.generation.grammar import REFUSAL

    generator = load_generator(Settings(max_tokens=96))
    free = generator.generate(Prompt("", "Say two short facts about trains, citing [1].").constrained(cited_grammar(2)))
    cited, _, rest = free.rpartition("]")
    assert free == REFUSAL or (cited and len(rest) <= 400), free
    for part in re.split(r"\[[12]\][.!?]? ?", cited + "]")[:-1]:
        assert 8 <= len(part.strip()) <= 400 and not re.search(r"[.!?](?![0-9])", part.strip()[:-1]), free
    root, embedder = index
    passages = IndexRetriever(root, embedder, Settings(index=root)).retrieve(XZ, k=2)
    quoted = generator.generate(
        Prompt("", f"Copy the sentence that answers: {XZ}").constrained(quote_grammar(passages))
    )
    sentences = {f'{s.text}" [{n}]' for n, p in enumerate(passages, start=1) for s in p.chunk.sentences}
    assert quoted == REFUSAL or quoted.removeprefix('Quote: "').split("\n")[0] in sentences, quoted
