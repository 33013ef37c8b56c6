"""The model-free rules over every trained or heuristic score (rag/verify/rules.py): a premise sentence copied word
for word is supported, a partial or altered copy is not rescued, and a generated answer that quotes a long passage
keeps its sentence (text written for the project)."""

from __future__ import annotations

import pytest

from rag.config import Settings
from rag.records import Chunk, Passage
from rag.verify.claims import parse_citations
from rag.verify.contradiction import CONFLICT_CAP
from rag.verify.rules import COPY_SUPPORT, repeats_sentence, ruled
from rag.verify.scoring import load_scorer, load_second_opinion
from rag.verify.verifier import Verifier

# about 130 words: one window of the cross-encoder, where a single copied sentence is weak evidence to it
HANDBOOK = (
    "The Brackwater Ferry Company was founded in 1887 by the shipwright Elias Morrow. Its first vessel, the paddle "
    "steamer Linnet, carried passengers between Brackwater Quay and the island of Tallow. In winter the crossing "
    "takes forty minutes, because the ferry must round the sandbanks off Gull Point. Season tickets are not sold "
    "to visitors who stay for less than a month. The company's offices moved to the old customs house in 1954, "
    "and the ticket hall there still has its original tiled floor. Dogs travel free on every crossing, but "
    "bicycles must be booked a day in advance. A night service runs on Fridays and Saturdays from June to "
    "September. The Linnet was withdrawn in 1931 and broken up at Harwell."
)


def passage(text: str) -> Passage:
    return Passage(Chunk(1, "handbook", 0, text, 0, len(text)), score=1.0, rank=1)


def test_a_whole_sentence_copied_word_for_word_counts() -> None:
    assert repeats_sentence(
        HANDBOOK,
        "In winter the crossing takes forty minutes, because the ferry must round the sandbanks off Gull Point.",
    )
    # case, spacing and punctuation aside, tokenised text included
    assert repeats_sentence(
        "The mill stood by the river . Its wheel was built to Anna 's own design .",
        "Its wheel was built to Anna's own design.",
    )
    assert repeats_sentence(HANDBOOK, "dogs travel free on every crossing but bicycles must be booked a day in advance")


@pytest.mark.parametrize(
    "claim",
    [
        "Season tickets are sold to visitors who stay for less than a month.",  # "not" left out
        "Season tickets are not sold to visitors.",  # a sentence cut short says more than the passage
        "The Linnet was withdrawn in 1932 and broken up at Harwell.",  # one word changed
        "Dogs travel free.",  # too short to count as a copy
        "In winter the crossing takes forty minutes. A night service runs on Fridays.",  # two part-sentences
    ],
)
def test_a_partial_or_altered_copy_does_not_count(claim: str) -> None:
    assert not repeats_sentence(HANDBOOK, claim)


def test_a_copied_heading_or_link_is_no_claim() -> None:
    # fragments a small generator copied from a changelog and a feature list (realdocs, 2026-12-03), in our words
    notes = (
        "## [2.4.0] - 2024-03-18\n\n[Offline maps](https://example.org/docs/ferry/maps/offline/).\n\n"
        "The app now works without a network."
    )
    assert not repeats_sentence(notes, "## [2.4.0] - 2024-03-18")
    assert not repeats_sentence(notes, "[Offline maps](https://example.org/docs/ferry/maps/offline/).")
    assert repeats_sentence(
        notes + " Timetables are stored on the phone for a week.", "Timetables are stored on the phone for a week."
    )


def test_rules_raise_copies_and_cap_contradictions() -> None:
    copied = "The Linnet was withdrawn in 1931 and broken up at Harwell."
    altered = "The Linnet was withdrawn in 1931 and broken up at Tilbury."
    other = "The company runs a night service in summer."
    pairs = [(HANDBOOK, copied), (HANDBOOK, altered), (HANDBOOK, other)]
    assert ruled(pairs, [0.2, 0.8, 0.4]) == [COPY_SUPPORT, CONFLICT_CAP, 0.4]


@pytest.mark.slow
def test_a_generated_sentence_that_quotes_a_long_passage_is_kept() -> None:
    # the default scorer alone scored such a quote under the 0.7 generated sentences needed then (measured on CLAPNQ
    # gold answer sentences: 90 of 141 copies refused before the rule); a made-up sentence beside it is still dropped
    settings = Settings()
    scorer, second = load_scorer(settings), load_second_opinion(settings)
    verifier = Verifier(scorer, settings.generated_support_threshold, second=second)
    answer = (
        "In winter the crossing takes forty minutes, because the ferry must round the sandbanks off Gull Point [1]. "
        "The crossing is cancelled whenever the wind exceeds force eight [1]."
    )
    quoted, invented = verifier.verify(parse_citations(answer, 1), [passage(HANDBOOK)])
    assert quoted.verdict.status == "supported" and [c.n for c in quoted.citations] == [1]
    assert invented.verdict.status == "unsupported"
