"""Citation parsing, re-citation, quotes and the answer policies, with a transparent word-overlap scorer."""

from __future__ import annotations

import pytest

from rag import registry
from rag.errors import UnknownNameError
from rag.fakes import OverlapScorer
from rag.records import Chunk, Passage, SentenceSpan
from rag.verify.claims import is_abstention, parse_citations
from rag.verify.contradiction import CONFLICT_CAP
from rag.verify.policies import UNSUPPORTED_MARK, render
from rag.verify.rules import COPY_SUPPORT
from rag.verify.verifier import NOTHING_SHARED, Verifier


def passage(n: int, *sentences: str) -> Passage:
    spans, offset = [], 100 * n
    for sentence in sentences:
        spans.append(SentenceSpan(sentence, offset, offset + len(sentence)))
        offset += len(sentence) + 1
    text = " ".join(sentences)
    chunk = Chunk(n, f"doc{n}", 0, text, 100 * n, 100 * n + len(text), sentences=tuple(spans))
    return Passage(chunk, score=1.0 / n, rank=n)


PASSAGES = [
    passage(1, "The railway opened in 1894.", "It was built by Hartley and Sons."),
    passage(2, "The viaduct has nine arches.", "It was repaired in 2019."),
    passage(3, "Tickets cost 12 pounds for adults."),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Opened in 1894 [1].", [("Opened in 1894.", (1,))]),
        ("Opened in 1894 [1, 3].", [("Opened in 1894.", (1, 3))]),
        ("Opened in 1894 [1][3].", [("Opened in 1894.", (1, 3))]),
        ("Opened in 1894. [2] Nine arches [2].", [("Opened in 1894.", (2,)), ("Nine arches.", (2,))]),
        ("Opened in 1894 [1-3].", [("Opened in 1894.", (1, 2, 3))]),
        ("Opened in 1894 [1] [1].", [("Opened in 1894.", (1,))]),
        ("Opened in 1894 [9] [0].", [("Opened in 1894.", ())]),
        ("No citation here.", [("No citation here.", ())]),
        ("[1]", []),
        ("", []),
    ],
)
def test_parse_citations(text: str, expected: list[tuple[str, tuple[int, ...]]]) -> None:
    assert [(s.text, s.citations) for s in parse_citations(text, n_sources=3)] == expected


def verify(text: str):
    return Verifier(OverlapScorer()).verify(parse_citations(text, len(PASSAGES)), PASSAGES)


def test_supported_sentence_keeps_its_citation_and_quote() -> None:
    [sentence] = verify("The railway opened in 1894 [1].")
    assert sentence.verdict.status == "supported"
    [citation] = sentence.citations
    assert (citation.n, citation.doc_id, citation.quote) == (1, "doc1", "The railway opened in 1894.")
    assert (citation.start, citation.end) == (100, 100 + len("The railway opened in 1894."))


def test_wrong_citation_is_recited_to_supporting_passage() -> None:
    [sentence] = verify("The viaduct has nine arches [3].")
    assert sentence.verdict.status == "recited"
    assert [c.n for c in sentence.citations] == [2]
    assert sentence.generator_citations == (3,)


def test_unsupported_sentence_has_no_citations() -> None:
    [sentence] = verify("The railway closed in 1962 [1].")
    assert sentence.verdict.status == "unsupported" and not sentence.supported
    assert sentence.citations == ()


def test_other_passages_are_read_only_when_the_own_citations_do_not_support() -> None:
    scorer = OverlapScorer()
    claims = parse_citations("The railway opened in 1894 [1]. The viaduct has nine arches [1].", len(PASSAGES))
    kept, recited = Verifier(scorer).verify(claims, PASSAGES)
    # first batch: each sentence against its cited passage; second: only the unsettled one against the other two
    # (then the quotes of passage 1 and passage 2, two sentences each, for the two claims); the viaduct sentence
    # shares no content word with passages 1 and 3, which are not scored
    assert scorer.pairs == 1 + 1 + 4
    assert recited.support_by_passage[0] == recited.support_by_passage[2] == NOTHING_SHARED
    assert kept.verdict.status == "supported" and kept.support_by_passage[1:] == (None, None)
    assert recited.verdict.status == "recited" and None not in recited.support_by_passage
    assert [c.n for c in recited.citations] == [2]


def test_exact_names_refuses_a_name_the_passage_never_mentions_without_scoring_it() -> None:
    scorer = OverlapScorer(threshold=0.6)
    claims = parse_citations("The railway opened in 1894 under Lord Ashby [1].", len(PASSAGES))
    [lenient] = Verifier(scorer).verify(claims, PASSAGES)
    scorer.pairs = 0
    [strict] = Verifier(scorer, exact_names=True).verify(claims, PASSAGES)
    assert lenient.verdict.status == "supported"  # most of its words are in passage 1
    # passage 1 does not mention Ashby; passages 2 and 3 share no word with the sentence: nothing needed scoring
    assert strict.verdict.status == "unsupported"
    assert strict.support_by_passage == (CONFLICT_CAP, NOTHING_SHARED, NOTHING_SHARED)
    assert scorer.pairs == 0


class Doubter(OverlapScorer):
    """A second opinion that doubts every claim naming the builders."""

    def __init__(self) -> None:
        super().__init__(threshold=0.5)

    def score_batch(self, pairs):
        self.pairs += len(pairs)
        return [0.2 if "Hartley" in claim else 0.9 for _, claim in pairs]


def test_a_second_opinion_is_asked_only_about_passing_pairs_and_can_refuse_them() -> None:
    second = Doubter()
    claims = parse_citations(
        "The railway opened in 1894 [1]. It was built by Hartley and Sons [1]. Tickets cost 5 pounds [3].",
        len(PASSAGES),
    )
    opened, built, tickets = Verifier(OverlapScorer(), second=second).verify(claims, PASSAGES)
    assert opened.verdict.status == "supported"
    # the first scorer finds every word of the builders' sentence in passage 1; the second doubts it, and no other
    # passage supports it
    assert built.verdict.status == "unsupported" and built.support_by_passage[0] == 0.2
    assert tickets.verdict.status == "unsupported"
    # asked about the two pairs the first scorer passed, never about the failing ones
    assert second.pairs == 2


def test_only_supporting_citations_are_kept() -> None:
    [sentence] = verify("Tickets cost 12 pounds for adults [1][3].")
    assert [c.n for c in sentence.citations] == [3]


MIXED = "The railway opened in 1894 [1]. The railway closed in 1962 [1]."


def test_filter_removes_and_counts_unsupported() -> None:
    outcome = registry.resolve("policy", "filter")(verify(MIXED))
    assert [s.text for s in outcome.sentences] == ["The railway opened in 1894."]
    assert [s.text for s in outcome.removed] == ["The railway closed in 1962."]
    assert outcome.abstain_reason is None


def test_annotate_keeps_and_marks_unsupported() -> None:
    outcome = registry.resolve("policy", "annotate")(verify(MIXED))
    assert len(outcome.sentences) == 2 and outcome.removed == ()
    expected = f"The railway opened in 1894. [1] The railway closed in 1962. {UNSUPPORTED_MARK}"
    assert render(outcome.sentences) == expected


def test_strict_abstains_unless_all_supported() -> None:
    outcome = registry.resolve("policy", "strict")(verify(MIXED))
    assert outcome.sentences == () and "1 of 2" in outcome.abstain_reason
    assert registry.resolve("policy", "strict")(verify("The railway opened in 1894 [1].")).abstain_reason is None


def test_every_policy_abstains_when_nothing_is_supported() -> None:
    for name in registry.names("policy"):
        assert registry.resolve("policy", name)(verify("The railway closed in 1962 [1].")).abstain_reason


def test_unknown_policy_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="annotate, filter, strict"):
        registry.resolve("policy", "lenient")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The sources do not contain the answer.", True),
        ("The provided context doesn't mention the fare.", True),
        ("I don't know.", True),
        ("The railway opened in 1894.", False),
        ("The sources say the line opened in 1894.", False),
    ],
)
def test_abstention_sentences_are_recognised(text: str, expected: bool) -> None:
    assert is_abstention(text) is expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("The two biggest exports from Mexico are:", True),
        ("The rights to the rights to the rights to the rights.", True),
        ("Kenyans are shown in the movie theater, and Kenyans are shown in the movie theater.", True),
        ("The railway opened in 1894 and closed in 1961, when the railway lost its mail contract.", False),
        ("The depot holds four locomotives and two of the four are steam locomotives.", False),
        ("The fire drill is a traditional Chinese fire drill that involves a fire drill.", True),
        ("The Roman Empire was called the Roman Empire after the Roman Empire's borders.", True),
        ("The Roman Empire and the Ottoman Empire were rivals for a thousand years.", False),
        (
            "The cell membrane takes part in transport across a cell membrane, which proteins in each cell "
            "membrane carry out for molecules of many kinds and sizes.",
            False,
        ),
        ("1.", True),
        ("3. The Monk", True),
        ("Santana Lopez", True),
        ("2. The series follows the sisters.", False),
        ("Bi Sheng invented movable type.", False),
    ],
)
def test_fragments_and_repetition(text: str, fragment: bool) -> None:
    from rag.verify.claims import is_fragment

    assert is_fragment(text) is fragment


def test_a_sentence_the_answer_already_said_is_a_repeat_not_a_claim() -> None:
    from rag.verify.claims import draft_claims

    # a shorter sentence is checked on its own: the longer one before it may be withheld
    answer = (
        "The mill opened in 1850 and closed in 1921 [1]. The mill opened in 1850 [1]. "
        "The mill both opened in 1850 and closed in 1921 [1]. The Hale mill bought the Orr mill [2]. "
        "The Orr mill bought the Hale mill [2]."
    )
    kinds = [c.kind for c in draft_claims(answer, 2, cut_off=False)]
    assert kinds == ["claim", "claim", "repeat", "claim", "claim"]

    # a list opener states nothing, so a claim in its words is not a repeat of it
    opened = "The mill at Hale made rope and sail cloth:\n\nThe mill at Hale made rope and sail cloth [1]."
    assert [c.kind for c in draft_claims(opened, 1, cut_off=False)] == ["fragment", "claim"]


def test_the_quote_is_chosen_among_the_sentences_sharing_most_words() -> None:
    long = passage(
        1,
        "The depot was built in 1902.",
        "Its roof was replaced in 1950.",
        "The depot holds four steam locomotives.",
        "Visitors may enter on Sundays.",
        "The depot's four locomotives are steam engines built in Leeds.",
        "A cafe opened beside it in 1999.",
    )
    claim = parse_citations("The depot holds four steam locomotives built in Leeds [1].", 1)
    every, three = OverlapScorer(threshold=0.5), OverlapScorer(threshold=0.5)
    [by_every] = Verifier(every, quote_candidates=100).verify(claim, [long])
    [by_three] = Verifier(three, quote_candidates=3).verify(claim, [long])
    assert (every.pairs, three.pairs) == (1 + 6, 1 + 3)  # the passage, then its sentences as quotes
    best = "The depot's four locomotives are steam engines built in Leeds."
    assert by_three.citations[0].quote == by_every.citations[0].quote == best


def test_a_sentence_copied_from_the_passage_is_its_own_quote_unscored() -> None:
    long = passage(
        1,
        "The depot was built in 1902.",
        "The depot holds four steam locomotives built in Leeds.",
        "The depot's four locomotives are steam engines built in Leeds.",
    )
    scorer = OverlapScorer(threshold=0.5)
    [sentence] = Verifier(scorer).verify(
        parse_citations("The depot holds four steam locomotives built in Leeds [1].", 1), [long]
    )
    assert scorer.pairs == 1  # the passage; none of its sentences is scored for the quote
    assert sentence.citations[0].quote == "The depot holds four steam locomotives built in Leeds."
    assert sentence.citations[0].support == COPY_SUPPORT
