"""Contradictions the project's scorers veto whatever their model says: a claim that expands an abbreviation
otherwise than the passage does ("cif stands for C Interchangeable Function" against "cif is short for Call
InterFace"), or uses the antonym of what the passage's sentence about the same thing says (open/closed,
rose/fell, before/after, older/younger, ...). `conflicts(premise, claim)` lists them and `capped()` caps the
support of such claims at CONFLICT_CAP.

Only rules that almost never fire on supported claims are vetoes. Measured on the dev splits (supported claims
flagged / unsupported flagged): antonyms 0/36 and 0/69 on WiCE, 1/500 and 1/500 on HaluEval, 1/331 and 3/441 on
the synthetic claims; expansions never fired on supported claims. Missing names, missing numbers and negation
mismatches fire on 8 to 37% of supported claims, so they stay soft features of the calibrated scorer
(rag.verify.heuristic), not vetoes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.text import NAME, NUMBER, STOPWORDS, WORD, content_stems, sentences

CONFLICT_CAP = 0.05
# an antonym counts only against the premise clause that says the rest of the claim
SAME_THING = 0.6
CLAUSE = re.compile(r"[,;:]\s+|\s+(?:and|but|while|whereas)\s+")
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
EXPANSION = r"((?:[A-Z+][\w+-]*[ ,]*){2,8})"
MEANS = r"(?:stands for|is short for|short for|means|is an acronym for|abbreviates)"
EXPANSIONS = (
    # "cif is short for Call InterFace", "RPM here means Resource Pool Manager": the word right before
    re.compile(rf"\b(?P<abbr>[A-Za-z][\w]{{1,11}})\s+(?:here\s+|which\s+)?{MEANS}\s+(?:the\s+)?(?P<long>{EXPANSION})"),
    # "The GDS format, short for Graph Data Stream": a capitals abbreviation a word or two before
    re.compile(rf"\b(?P<abbr>[A-Z][A-Z0-9]{{1,9}})\b(?:\s+\w+){{0,2}},?\s+{MEANS}\s+(?:the\s+)?(?P<long>{EXPANSION})"),
    # "NWA (National Weather Archive)", "NWA, the National Wildlife Association,"
    re.compile(rf"\b(?P<abbr>[A-Z][A-Z0-9]{{1,9}})\b\s*(?:\(|,\s*the\s+)(?P<long>{EXPANSION})"),
    # "National Weather Archive (NWA)"
    re.compile(rf"(?P<long>{EXPANSION})\s*\((?P<abbr>[A-Z][A-Z0-9]{{1,9}})\)"),
)
# two expansions of one abbreviation differ when they share less than this share of their content words
SAME_EXPANSION = 0.5


def conflicts(premise: str, claim: str) -> list[str]:
    """Why `claim` contradicts `premise` (empty when no rule finds a contradiction)."""
    found = other_expansions(premise, claim)
    best = best_sentence(premise, claim)
    if best is not None:
        found += antonyms(best, claim)
    return found


def capped(pairs: Sequence[tuple[str, str]], scores: Sequence[float]) -> list[float]:
    """Each (premise, claim) pair's score, at most CONFLICT_CAP when the claim contradicts its premise."""
    return [min(score, CONFLICT_CAP) if conflicts(*pair) else score for pair, score in zip(pairs, scores, strict=True)]


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
        if abbr in given and len(stems & given[abbr]) / len(stems | given[abbr]) < SAME_EXPANSION
    ]


def best_sentence(premise: str, claim: str) -> str | None:
    """The premise clause (a sentence, or a part of one between commas, semicolons, "and", "but", "while") that
    says most of the claim's content words, if it says at least SAME_THING of them."""
    wanted = content_stems(claim)
    if not wanted:
        return None
    clauses = [c for s in sentences(premise) or [premise] for c in CLAUSE.split(s) if c.strip()]
    scored = [(len(wanted & content_stems(c)) / len(wanted), c) for c in clauses or [premise]]
    share, clause = max(scored, key=lambda pair: pair[0])
    return clause if share >= SAME_THING else None


def antonyms(sentence: str, claim: str) -> list[str]:
    """Words of the claim whose antonym the sentence uses instead (and not the word itself)."""
    claim_words, premise_words = words_of(claim), words_of(sentence)
    return [
        f"the passage says {sorted(OPPOSITE[word] & premise_words)[0]}, not {word}"
        for word in sorted(claim_words - premise_words)
        if OPPOSITE.get(word, set()) & premise_words
    ]


def unstated(claim: str, source: str) -> list[str]:
    """Names (capitalised words after a sentence's first) and numbers of the claim that `source` (a passage with
    its title and heading) never mentions: the stricter standard for sentences a generator wrote, which must not
    bring in a name or a figure of their own (setting generated_exact_names)."""
    lowered = source.lower()
    names = {m.group() for s in sentences(claim) or [claim] for m in NAME.finditer(s) if m.start() > 0}
    figures = set(NUMBER.findall(claim))
    return sorted(n for n in names | figures if n.lower() not in STOPWORDS and n.lower() not in lowered)


def words_of(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}
