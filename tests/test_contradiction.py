"""The contradiction vetoes (rag/verify/contradiction.py): each rule fires on the contradiction it is for and stays
quiet on faithful rewordings; and the default scorer decides the project's hand-written contradiction and paraphrase
pairs (data/verifier/contradictions.jsonl, text written for the project)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.config import Settings
from rag.records import Chunk, Passage
from rag.verify.claims import parse_citations
from rag.verify.contradiction import conflicts, other_subjects, polarity_flips, role_swaps, substitutions
from rag.verify.scoring import SupportScorer, load_scorer, load_second_opinion
from rag.verify.verifier import Verifier


def passage(text: str) -> Passage:
    return Passage(Chunk(1, "manual", 0, text, 0, len(text)), score=1.0, rank=1)


PAIRS = [json.loads(line) for line in (Path(__file__).parent.parent / "data/verifier/contradictions.jsonl").open()]


@pytest.mark.parametrize(
    ("premise", "claim"),
    [
        # the libffi-style invention, in our words: an abbreviation expanded otherwise than the manual does
        ("The tcb in tcb_alloc stands for Task Control Block.", "The tcb in tcb_alloc stands for Thread Cache Buffer."),
        (
            "The older of the two brothers, Jonas, ran the mill until 1930.",
            "The younger of the two brothers ran the mill.",
        ),
        ("The Hollin Medal was given to Ida Brenner in 1988.", "The Hollin Medal was given to Karl Ostrow in 1988."),
        ("Members may borrow up to four rooms a week.", "Members may borrow up to nine rooms a week."),
        (
            "The fair is held each year in the first week of April.",
            "The fair is held each year in the first week of June.",
        ),
        ("The course fee was 320 euros in 2022.", "The course fee was 230 euros in 2022."),
        (
            "The shop charges no delivery fee on orders over 40 euros.",
            "The shop charges a delivery fee on orders over 40 euros.",
        ),
        ("The archive is open to the public on weekdays.", "The archive is not open to the public on weekdays."),
    ],
)
def test_contradiction_is_found(premise: str, claim: str) -> None:
    assert conflicts(premise, claim)


@pytest.mark.parametrize(
    ("premise", "claim"),
    [
        ("The railway opened to public traffic on 14 June 1901.", "The railway opened to passengers on 14 June 1901."),
        ("The committee meets six times a year.", "The committee meets 6 times a year."),
        ("Her novel won a prize in the UK in 1975.", "Her novel won a prize in the United Kingdom in 1975."),
        ("Jean Pierre Lamy led the choir from 1950.", "Jean-Pierre Lamy led the choir from 1950."),
        ("The mill opened in 1850 and closed in 1921.", "The mill opened in 1850."),
        (
            "The tool exits with status 2 when the file cannot be read.",
            "If the file is unreadable, the tool exits with status 2.",
        ),
        (
            "Ada Lind founded the press in 1921 with her brother.",
            "The press was founded in 1921 by Ada Lind and her brother.",
        ),
    ],
)
def test_faithful_rewording_is_no_contradiction(premise: str, claim: str) -> None:
    assert conflicts(premise, claim) == []


def test_substitution_needs_a_copied_sentence_with_another_name_in_its_place() -> None:
    premise = "The Hollin Medal was given to Ida Brenner in 1988. The ceremony took place in Graz."
    assert substitutions(premise, "Karl Ostrow was born in Vienna.") == []  # a new name, but nothing it replaces
    assert substitutions(premise, "The Hollin Medal was given to Ida Brenner in 1988.") == []
    assert substitutions(premise, "The Hollin Medal was given to Ida Brenner in 1989.") == [
        "the passage says 1988, not 1989"
    ]


def test_polarity_counts_only_where_the_claim_copies_its_sentence() -> None:
    premise = "Guests may not bring pets into the dining room."
    assert polarity_flips(premise, "Guests may bring pets into the dining room.")
    assert polarity_flips(premise, "Pets are welcome at breakfast.") == []


# the default scorer's wrong decisions on the pairs (measured 2026-12-02): strict xfails, so that a fix shows
KNOWN_FAILURES = {
    "paraphrase-1": "'to passengers' for 'to public traffic': the model refuses the paraphrase",
    "paraphrase-4": "needs arithmetic (half of 10 euros): refused",
    "paraphrase-5": "needs arithmetic (the year after 1911): refused",
    "paraphrase-8": "'only errors are printed' for 'suppresses all output except errors': refused",
}


@pytest.fixture(scope="module")
def default_scorer() -> SupportScorer:
    return load_scorer(Settings())


@pytest.fixture(scope="module")
def default_scores(default_scorer: SupportScorer) -> tuple[list[float], float]:
    return default_scorer.score_batch([(p["premise"], p["claim"]) for p in PAIRS]), default_scorer.threshold


MANUAL = (
    "The tcb argument of tcb_alloc is a pointer to a task control block. The tcb in tcb_alloc stands for Task "
    "Control Block. The block must be freed with tcb_free once the task has ended."
)


@pytest.mark.slow
def test_an_invented_expansion_is_not_shown_as_verified(default_scorer: SupportScorer) -> None:
    # the libffi case in our words: asked what tcb stands for, a small generator invents an expansion
    answer = "The tcb in tcb_alloc stands for Thread Cache Buffer [1]. The block must be freed with tcb_free [1]."
    invented, faithful = Verifier(default_scorer).verify(parse_citations(answer, 1), [passage(MANUAL)])
    assert invented.verdict.status == "unsupported" and invented.citations == ()
    assert faithful.verdict.status == "supported"


SAYING = (
    'Dock workers at the port used the phrase "as tangled as a harbour knot" during the war. The saying spread to '
    "the navy and was common among sailors for decades."
)
OPENING = (
    "The Arden Valley Railway opened to public traffic on 14 June 1901. Its first locomotive, a small tank engine "
    "named Hawthorn, was built in Leeds."
)


@pytest.mark.slow
def test_the_second_opinion_refuses_a_generated_tautology_and_keeps_a_paraphrase(
    default_scorer: SupportScorer,
) -> None:
    # the small generator's topical tautologies, in our words: the trained scorer alone scores this one far above
    # its own threshold and about at the stricter one for generated sentences (0.75 alone, 0.79 in a batch of two:
    # int8 scores move with their batch); the default second opinion (the heuristic) refuses it
    settings = Settings()
    second = load_second_opinion(settings)
    assert second is not None and second.name == "heuristic"
    tautology = parse_citations("The harbour knot is a traditional harbour knot that involves a harbour knot [1].", 1)
    paraphrase = parse_citations("The railway opened to passengers on 14 June 1901 [1].", 1)
    threshold = settings.generated_support_threshold
    [alone] = Verifier(default_scorer, threshold).verify(tautology, [passage(SAYING)])
    [refused] = Verifier(default_scorer, threshold, second=second).verify(tautology, [passage(SAYING)])
    [kept] = Verifier(default_scorer, threshold, second=second).verify(paraphrase, [passage(OPENING)])
    assert alone.verdict.support >= max(default_scorer.threshold, threshold - 0.05)
    assert refused.verdict.status == "unsupported"
    assert kept.verdict.status == "supported" and kept.verdict.support >= threshold


@pytest.mark.slow
@pytest.mark.parametrize(
    "index",
    [
        pytest.param(i, id=p["id"], marks=[pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[p["id"]])])
        if p["id"] in KNOWN_FAILURES
        else pytest.param(i, id=p["id"])
        for i, p in enumerate(PAIRS)
    ],
)
def test_default_scorer_decides_the_hand_written_pair(default_scores: tuple[list[float], float], index: int) -> None:
    scores, threshold = default_scores
    pair = PAIRS[index]
    assert (scores[index] >= threshold) == bool(pair["label"]), f"{pair['claim']!r} scored {scores[index]:.3f}"


def test_a_claim_about_another_subject_is_found() -> None:
    premise = (
        "Ines Valo (born 1950) is a Finnish potter. Karl Ostrow (born 3 May 1947) is a German sculptor, painter "
        "and teacher."
    )
    assert other_subjects(premise, "Ines Valo (born 3 May 1947) is a German sculptor, painter and teacher.")
    assert other_subjects(premise, "Karl Ostrow (born 3 May 1947) is a German sculptor and painter.") == []
    assert other_subjects(premise, "Ostrow is a German sculptor, painter and teacher.") == []


ROLES = (
    "In 2003 the band played its first concert in Ghent, with Mira Jansen on drums and Tomas Berg on guitar. "
    "The lighting was designed by Ellen Vos; the posters were printed later by Karel Dekker."
)


@pytest.mark.parametrize(
    "claim",
    [
        "Tomas Berg played drums at the band's first concert.",
        "Mira Jansen played guitar at the first concert.",
        "Karel Dekker designed the lighting.",
        "Ellen Vos printed the posters.",
    ],
)
def test_a_role_swap_between_two_people_is_found(claim: str) -> None:
    assert role_swaps(ROLES, claim)
    assert conflicts(ROLES, claim)


@pytest.mark.parametrize(
    "claim",
    [
        "Tomas Berg played guitar at the band's first concert.",
        "Mira Jansen was on drums at the first concert in Ghent.",
        "Tomas Berg played at the band's first concert in 2003.",  # his part left out, nobody else's given him
        "Mira Jansen and Tomas Berg played the band's first concert.",
        "Karel Dekker printed the posters.",
        "The lighting was designed by Ellen Vos.",  # the subject is not a person of the passage
    ],
)
def test_a_faithful_claim_about_one_of_two_people_is_no_role_swap(claim: str) -> None:
    assert role_swaps(ROLES, claim) == []


@pytest.mark.parametrize(
    ("premise", "claim"),
    [
        # "wrote" is the verb of "written by": the subject's own clause says the claim
        ("The opera was composed by Ivo Marsh and written by Nora Quill.", "Nora Quill wrote the opera."),
        # a place after "from" does nothing in its clause
        ("Ida Brenner is a portrait and landscape painter from New Zealand.", "Ida Brenner is a painter."),
        # the claim is said in one clause that names the subject, whatever another clause gives the subject
        (
            "Mira Holt is a 2011 film directed by Jan Berg and starring Ada Lund as Mira Holt.",
            "Mira Holt is a 2011 film.",
        ),
    ],
)
def test_a_coordinate_clause_that_names_no_other_doer_is_no_role_swap(premise: str, claim: str) -> None:
    assert role_swaps(premise, claim) == []


def test_a_swap_of_who_wrote_and_who_composed_is_found() -> None:
    premise = "The opera was composed by Ivo Marsh and written by Nora Quill."
    assert role_swaps(premise, "Nora Quill composed the opera.") == ["the passage says this of ivo marsh"]
