"""Parsing an answer into sentences and the [n] citations each one carries.

Handles `[1]`, `[1, 3]`, `[1][3]`, `[1-3]`, markers placed after the full stop ("... 1894. [2]"), and drops
citations to sources that do not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKER = re.compile(r"\[\s*(\d+(?:\s*(?:[,;]|-|–)\s*\d+)*)\s*\]")
LEADING_MARKERS = re.compile(r"^\s*(?:\[\s*\d+(?:\s*(?:[,;]|-|–)\s*\d+)*\s*\]\s*)+")
MAX_RANGE = 20


@dataclass(frozen=True, slots=True)
class CitedSentence:
    """A sentence of generated text, its citation markers removed, and the source numbers it cited."""

    text: str
    citations: tuple[int, ...]


def marker_numbers(marker_body: str) -> list[int]:
    """Numbers in one marker body: '1, 3' -> [1, 3]; '2-4' -> [2, 3, 4]."""
    numbers: list[int] = []
    for part in re.split(r"\s*[,;]\s*", marker_body.strip()):
        bounds = [int(b) for b in re.split(r"\s*[-–]\s*", part) if b]
        if len(bounds) == 2 and 0 <= bounds[1] - bounds[0] <= MAX_RANGE:
            numbers.extend(range(bounds[0], bounds[1] + 1))
        else:
            numbers.extend(bounds)
    return numbers


def strip_markers(text: str) -> str:
    without = MARKER.sub("", text)
    without = re.sub(r"\s+([.,;:!?])", r"\1", without)
    return " ".join(without.split())


def split_sentences(text: str) -> list[str]:
    """Sentences of generated text; citation markers that open a sentence are moved back to the one
    before it, where the generator meant them."""
    from sentencex import segment

    pieces = [p.strip() for p in segment("en", text.strip()) if p.strip()] if text.strip() else []
    sentences: list[str] = []
    for piece in pieces:
        leading = LEADING_MARKERS.match(piece)
        if leading and sentences:
            sentences[-1] = f"{sentences[-1]} {leading.group(0).strip()}"
            piece = piece[leading.end() :].strip()
        if piece:
            sentences.append(piece)
    return sentences


def parse_citations(text: str, n_sources: int | None = None) -> list[CitedSentence]:
    """Sentences with their cited source numbers (deduplicated, in order); with `n_sources`, numbers
    outside 1..n_sources are dropped. Sentences left empty by marker removal are dropped."""
    parsed: list[CitedSentence] = []
    for sentence in split_sentences(text):
        numbers = [n for body in MARKER.findall(sentence) for n in marker_numbers(body)]
        valid = [n for n in numbers if n >= 1 and (n_sources is None or n <= n_sources)]
        clean = strip_markers(sentence)
        if any(ch.isalnum() for ch in clean):
            parsed.append(CitedSentence(clean, tuple(dict.fromkeys(valid))))
    return parsed
