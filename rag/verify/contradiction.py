"""Contradictions a verifier must never pass, found by rules: a claim that names a person, place or thing, a
number or a date the passage does not hold, expands an abbreviation differently, or says the opposite of the
passage's sentence about the same thing (a negation added or dropped, an antonym such as open/closed or
rose/fell). `conflicts(premise, claim)` lists them; the scorers cap the support of a claim that has any
(CONFLICT_CAP), whatever the model says. The rules are precise on purpose: tests/test_contradiction.py holds what
they must and must not flag, and the verifier evaluation reports how often they fire on supported claims.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.text import NAME, NEGATIONS, STOPWORDS, WORD, content_stems, sentences, wordset

CONFLICT_CAP = 0.05
# a negation or antonym counts only against the premise sentence that says the rest of the claim
SAME_THING = 0.6
NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
MONTHS = wordset("january february march april may june july august september october november december")
ANTONYMS = (
    ("open", "closed"),
    ("opened", "closed"),
    ("rose", "fell"),
    ("rise", "fall"),
    ("rises", "falls"),
    ("risen", "fallen"),
    ("increased", "decreased"),
    ("increase", "decrease"),
    ("increases", "decreases"),
    ("grew", "shrank"),
    ("gained", "lost"),
    ("won", "lost"),
    ("before", "after"),
    ("shorter", "longer"),
    ("longer", "shorter"),
    ("older", "younger"),
    ("oldest", "youngest"),
    ("larger", "smaller"),
    ("largest", "smallest"),
    ("bigger", "smaller"),
    ("higher", "lower"),
    ("highest", "lowest"),
    ("faster", "slower"),
    ("more", "fewer"),
    ("more", "less"),
    ("first", "last"),
    ("earlier", "later"),
    ("earliest", "latest"),
    ("north", "south"),
    ("northern", "southern"),
    ("east", "west"),
    ("eastern", "western"),
    ("above", "below"),
    ("inside", "outside"),
    ("enabled", "disabled"),
    ("enable", "disable"),
    ("allowed", "forbidden"),
    ("allows", "forbids"),
    ("accepted", "rejected"),
    ("accepts", "rejects"),
    ("included", "excluded"),
    ("includes", "excludes"),
    ("minimum", "maximum"),
    ("added", "removed"),
    ("adds", "removes"),
    ("started", "finished"),
    ("starts", "ends"),
    ("begins", "ends"),
    ("true", "false"),
    ("success", "failure"),
    ("succeeded", "failed"),
    ("bought", "sold"),
    ("buys", "sells"),
    ("import", "export"),
    ("imports", "exports"),
    ("public", "private"),
    ("legal", "illegal"),
    ("possible", "impossible"),
    ("required", "optional"),
    ("synchronous", "asynchronous"),
)
OPPOSITE: dict[str, set[str]] = {}
for left, right in ANTONYMS:
    OPPOSITE.setdefault(left, set()).add(right)
    OPPOSITE.setdefault(right, set()).add(left)
ABBREVIATION = r"[A-Za-z][A-Za-z0-9_]{1,11}"
EXPANSION = r"((?:[A-Z+][\w+-]*[ ,]*){2,8})"
EXPANSIONS = (
    # "cif is short for Call InterFace", "RPM here means Resource Pool Manager", "GDS stands for Graph Data Stream"
    re.compile(
        rf"\b(?P<abbr>{ABBREVIATION})\b(?:[\w\s,'\"]{{0,20}}?)\b(?:stands for|is short for|short for|means|"
        rf"is an acronym for|abbreviates)\s+(?:the\s+)?(?P<long>{EXPANSION})"
    ),
    # "NWA (National Weather Archive)", "NWA, the National Wildlife Association,"
    re.compile(rf"\b(?P<abbr>[A-Z][A-Z0-9]{{1,9}})\b\s*(?:\(|,\s*the\s+)(?P<long>{EXPANSION})"),
    # "National Weather Archive (NWA)"
    re.compile(rf"(?P<long>{EXPANSION})\s*\((?P<abbr>[A-Z][A-Z0-9]{{1,9}})\)"),
)


def conflicts(premise: str, claim: str) -> list[str]:
    """Why `claim` contradicts `premise` (empty when no rule finds a contradiction)."""
    found = [*missing_names(premise, claim), *missing_numbers(premise, claim), *other_expansions(premise, claim)]
    best = best_sentence(premise, claim)
    if best is not None:
        found += opposite_sense(best, claim)
    return found


def missing_names(premise: str, claim: str) -> list[str]:
    """Capitalised names of the claim (not its first word) that the premise never mentions."""
    lowered = premise.lower()
    names = {m.group() for s in sentences(claim) or [claim] for m in NAME.finditer(s) if m.start() > 0}
    absent = [n for n in sorted(names) if n.lower() not in STOPWORDS and n.lower() not in lowered]
    return [f"the passage does not name {name}" for name in absent]


def number_tokens(text: str) -> set[str]:
    """Numbers (digits, number words up to twenty as digits) and month names."""
    found = set()
    for word in WORD.findall(text.lower()):
        word = word.replace(",", "")
        if word[0].isdigit():
            found.add(word.rstrip("."))
        elif word in NUMBER_WORDS:
            found.add(NUMBER_WORDS[word])
        elif word in MONTHS:
            found.add(word)
    return found


def missing_numbers(premise: str, claim: str) -> list[str]:
    absent = sorted(number_tokens(claim) - number_tokens(premise))
    return [f"the passage does not give {value}" for value in absent]


def expansions(text: str) -> dict[str, set[str]]:
    """Abbreviation (lower-cased) -> the content stems of each expansion the text gives it."""
    found: dict[str, set[str]] = {}
    for pattern in EXPANSIONS:
        for match in pattern.finditer(text):
            stems = content_stems(match["long"])
            if stems:
                found.setdefault(match["abbr"].lower(), set()).update(stems)
    return found


def other_expansions(premise: str, claim: str) -> list[str]:
    """Abbreviations the claim expands otherwise than the premise does."""
    given = expansions(premise)
    return [
        f"the passage expands {abbr} otherwise"
        for abbr, stems in expansions(claim).items()
        if abbr in given and not stems & given[abbr]
    ]


def best_sentence(premise: str, claim: str) -> str | None:
    """The premise sentence that says most of the claim's content words, if it says at least SAME_THING of them."""
    wanted = content_stems(claim)
    if not wanted:
        return None
    scored = [(len(wanted & content_stems(s)) / len(wanted), s) for s in sentences(premise) or [premise]]
    share, sentence = max(scored, key=lambda pair: pair[0])
    return sentence if share >= SAME_THING else None


def opposite_sense(sentence: str, claim: str) -> list[str]:
    """A negation one side has and the other lacks, or a word of the claim whose antonym the sentence uses."""
    claim_words, premise_words = words_of(claim), words_of(sentence)
    found = []
    if negated(claim_words) != negated(premise_words):
        found.append("the passage says the opposite (negation)")
    for word in claim_words - premise_words:
        opposite = OPPOSITE.get(word, set()) & premise_words
        if opposite:
            found.append(f"the passage says {sorted(opposite)[0]}, not {word}")
    return found


def words_of(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


def negated(words: Sequence[str] | set[str]) -> bool:
    return any(w in NEGATIONS or w.endswith("n't") for w in words)
