"""The claim rules: the one place that decides which sentences of a generated answer are claims to check.

`draft_claims(text, n_sources, cut_off)` splits an answer into sentences, parses the [n] citations of each
(`[1]`, `[1, 3]`, `[1][3]`, `[1-3]`, markers placed after the full stop as in "... 1894. [2]"; numbers outside
1..n_sources are dropped) and classes every sentence:
- abstention: the generator says the sources lack the answer ("The sources do not contain the answer.");
- cut_off: the last sentence, left unfinished when generation stopped at max_tokens;
- fragment: states nothing checkable: a list opener ending in ":", a bare list item or name of under three
  words ("1.", "3. The Monk"), degenerate repetition, or a tautology that repeats one term three times;
- repeat: says again what an earlier claim (not a fragment) of the answer said, in the same content words in
  the same order ("A and B are known for X" after "A and B are both known for X"; not "B defeated A" after "A
  defeated B"): a small generator looping on one sentence, which would otherwise be shown two or three times;
- claim: everything else, which the verifier checks.
The pipeline verifies the claims; evaluation reads the same classes from `Answer.draft`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

from rag.records import Claim, ClaimKind
from rag.text import STOPWORDS, WORD, content_sequence, sentences

MARKER = re.compile(r"\[\s*(\d+(?:\s*(?:[,;]|-|–)\s*\d+)*)\s*\]")
LEADING_MARKERS = re.compile(r"^\s*(?:\[\s*\d+(?:\s*(?:[,;]|-|–)\s*\d+)*\s*\]\s*)+")
MAX_RANGE = 20
SENTENCE_ENDS = (".", "!", "?", '"', "'", ")")
ABSTENTION_PATTERN = re.compile(
    r"\b(sources?|context|passages?|documents?|corpus)\b[^.]*\b(do(es)?\s+not|don't|doesn't|cannot|can't)\s+"
    r"(contain|say|mention|provide|include|answer|state)|\bno (information|answer)\b|\bI (do not|don't) know\b",
    re.IGNORECASE,
)
# degenerate output: a phrase of n words said at least k times, for each (n, k)
REPEATED_PHRASES = ((3, 3), (5, 2))
# the same two content words in a row said this often, making up this share of the sentence's words: "The fire
# drill is a Chinese fire drill that involves a fire drill" (a tautology that echoes the passage's words, which
# scorers tend to pass); a long sentence that names its subject three times is not one
REPEATED_TERM = 3
REPEATED_TERM_SHARE = 0.3
# fewer words than this, list markers aside, state nothing checkable: "1.", "3. The Monk", a bare name
MIN_CLAIM_WORDS = 3
LIST_MARKER = re.compile(r"^\s*(\d+[.)]|[-*\u2022])\s*")


def marker_numbers(marker_body: str) -> list[int]:
    """Numbers in one marker body: '1, 3' -> [1, 3]; '2-4' -> [2, 3, 4]."""
    found: list[int] = []
    for part in re.split(r"\s*[,;]\s*", marker_body.strip()):
        bounds = [int(b) for b in re.split(r"\s*[-–]\s*", part) if b]
        if len(bounds) == 2 and 0 <= bounds[1] - bounds[0] <= MAX_RANGE:
            found.extend(range(bounds[0], bounds[1] + 1))
        else:
            found.extend(bounds)
    return found


def strip_markers(text: str) -> str:
    without = MARKER.sub("", text)
    without = re.sub(r"\s+([.,;:!?])", r"\1", without)
    return " ".join(without.split())


def split_answer(text: str) -> list[str]:
    """Sentences of generated text; citation markers that open a sentence are moved back to the one
    before it, where the generator meant them."""
    found: list[str] = []
    for piece in sentences(text.strip()):
        leading = LEADING_MARKERS.match(piece)
        if leading and found:
            found[-1] = f"{found[-1]} {leading.group(0).strip()}"
            piece = piece[leading.end() :].strip()
        if piece:
            found.append(piece)
    return found


def parse_citations(text: str, n_sources: int | None = None) -> list[Claim]:
    """Sentences with their cited source numbers (deduplicated, in order), not yet classed; with `n_sources`,
    numbers outside 1..n_sources are dropped. Sentences left empty by marker removal are dropped."""
    parsed: list[Claim] = []
    for sentence in split_answer(text):
        cited = [n for body in MARKER.findall(sentence) for n in marker_numbers(body)]
        valid = [n for n in cited if n >= 1 and (n_sources is None or n <= n_sources)]
        clean = strip_markers(sentence)
        if any(ch.isalnum() for ch in clean):
            parsed.append(Claim(clean, tuple(dict.fromkeys(valid))))
    return parsed


def is_abstention(text: str) -> bool:
    """True for a sentence in which the generator says the sources lack the answer."""
    return bool(ABSTENTION_PATTERN.search(text))


def repeats_itself(text: str) -> bool:
    """ "the rights to the rights to the rights to ..." or "X are shown in the theater, and X are shown in the
    theater": a phrase of 3 words said 3 times, or of 5 words said twice."""
    tokens = text.lower().replace(",", " ").split()
    for size, times in REPEATED_PHRASES:
        phrases = Counter(tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))
        if phrases and max(phrases.values()) >= times:
            return True
    return False


def repeats_a_term(text: str) -> bool:
    """Two content words in a row (a term such as "fire drill") said REPEATED_TERM times or more, and together
    at least REPEATED_TERM_SHARE of the words."""
    tokens = [w.lower().removesuffix("'s") for w in WORD.findall(text)]
    terms = Counter((a, b) for a, b in pairwise(tokens) if a not in STOPWORDS and b not in STOPWORDS)
    said = max(terms.values(), default=0)
    return said >= REPEATED_TERM and 2 * said >= REPEATED_TERM_SHARE * len(tokens)


def too_short(text: str) -> bool:
    return len(WORD.findall(LIST_MARKER.sub("", text))) < MIN_CLAIM_WORDS


def is_fragment(text: str) -> bool:
    """True for a sentence that states nothing checkable: it introduces a list that never came (ends in ":"),
    is a bare list item or name, or is degenerate repetition."""
    return text.rstrip().endswith(":") or too_short(text) or repeats_itself(text) or repeats_a_term(text)


def draft_claims(text: str, n_sources: int, cut_off: bool) -> tuple[Claim, ...]:
    """Every sentence of a generated answer with its citations and its class (see the module docstring).
    `cut_off`: generation stopped at max_tokens, so an unpunctuated last sentence is unfinished."""
    parsed = parse_citations(text, n_sources)
    kinds: list[ClaimKind] = ["abstention" if is_abstention(c.text) else "claim" for c in parsed]
    checked = [i for i, kind in enumerate(kinds) if kind == "claim"]
    if checked and cut_off and not parsed[checked[-1]].text.rstrip().endswith(SENTENCE_ENDS):
        kinds[checked[-1]] = "cut_off"  # half a claim is not checked or shown
    said: set[tuple[str, ...]] = set()
    for i, claim in enumerate(parsed):
        if kinds[i] != "claim":
            continue
        words = content_sequence(claim.text)
        if is_fragment(claim.text):
            kinds[i] = "fragment"
        elif words in said:
            kinds[i] = "repeat"
        else:
            said.add(words)
    return tuple(Claim(c.text, c.citations, kind) for c, kind in zip(parsed, kinds, strict=True))


def checkable(draft: Sequence[Claim]) -> list[Claim]:
    return [c for c in draft if c.checkable]
