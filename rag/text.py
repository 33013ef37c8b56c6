"""Text helpers every stage shares: sentence boundaries with offsets, and the word, number and name sets that
the claim rules, the scorers and the extractive check compare.

Sentences come from sentencex (rule based, compiled, no model download). Measured on the 597 CLAPNQ
passages: about 250x faster than pysbd, with the same splits on abbreviations ("No. 3", "Ltd.", "i.e.",
"Mr.") and decimals.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.records import SentenceSpan


def utf8_problem(text: str) -> str | None:
    """Why `text` is not valid Unicode, or None. Python turns invalid UTF-8 in argv and file names into lone
    surrogates (and JSON can spell one, "\\ud800"); tokenizers and SQLite refuse them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"character {error.start + 1} is not valid Unicode (invalid UTF-8 or a lone surrogate)"
    return None


def sentence_spans(text: str, base: int = 0, language: str = "en") -> list[SentenceSpan]:
    """The sentences of `text`, stripped, with their offsets (plus `base`) into it."""
    from sentencex import segment

    spans: list[SentenceSpan] = []
    cursor = 0
    for piece in segment(language, text):
        stripped = piece.strip()
        if not stripped:
            continue
        start = text.find(stripped, cursor)
        if start < 0:
            continue
        cursor = start + len(stripped)
        spans.append(SentenceSpan(stripped, base + start, base + cursor))
    return spans


def sentences(text: str) -> list[str]:
    """The sentences of `text`, stripped."""
    return [span.text for span in sentence_spans(text)] if text.strip() else []


def wordset(text: str) -> frozenset[str]:
    """The words of a space-separated list, as a set."""
    return frozenset(text.split())


STOPWORDS = wordset(
    "a an the and or but if of at by for with about against between into through during before after above "
    "below to from up down in out on off over under again further then once here there when where why how all "
    "any both each few more most other some such no nor only own same so than too very can will just should "
    "now is are was were be been being have has had having do does did doing this that these those it its "
    "they them their he him his she her we our you your i me my what which who whom as also"
)
NEGATIONS = wordset("not no never none nobody nothing neither nor without cannot n't")
WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|\d+(?:[.,]\d+)*")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
NAME = re.compile(r"\b[A-Z][a-zA-Z]+\b")


def words(text: str) -> list[str]:
    return WORD.findall(text)


def content_sequence(text: str) -> tuple[str, ...]:
    """The text's content words in order, lower-cased and cut to 5 letters (a cheap stemmer)."""
    lowered = (w.lower() for w in WORD.findall(text))
    return tuple(w[:5] for w in lowered if w not in STOPWORDS and len(w) > 1)


def content_stems(text: str) -> set[str]:
    """The set of the text's content_sequence."""
    return set(content_sequence(text))


def overlaps(sentences: Sequence[str], claim: str) -> list[int]:
    """Content words each sentence shares with the claim."""
    wanted = content_stems(claim)
    return [len(wanted & content_stems(sentence)) for sentence in sentences]


def ranked(shared: Sequence[int]) -> list[int]:
    """Sentence indices by overlaps(), most content words shared with the claim first (ties: earlier first)."""
    return sorted(range(len(shared)), key=lambda i: -shared[i])


def most_shared(sentences: Sequence[str], claim: str, count: int) -> list[int]:
    """Indices of the `count` sentences sharing most content words with the claim, in their order."""
    return sorted(ranked(overlaps(sentences, claim))[:count])


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in NUMBER.findall(text)}


def is_negated(text: str) -> bool:
    return any(w.lower() in NEGATIONS or w.lower().endswith("n't") for w in WORD.findall(text))
