"""Long premises: split a premise that exceeds a model's window into overlapping windows of sentences, score
every (window, claim) pair in one batch, and keep the maximum per premise (as SummaC and MiniCheck do):
a claim is supported when some part of the source supports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rag.text import sentences


def _pieces(sentence: str, max_words: int) -> list[str]:
    """A sentence longer than max_words cut into max_words-word pieces."""
    words = sentence.split()
    return [" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words)] or [sentence]


def split_windows(premise: str, max_words: int, overlap_sentences: int = 1) -> list[str]:
    """Windows of whole sentences of at most max_words words; consecutive windows share sentences.

    A premise that fits is returned as a single window, unchanged.
    """
    if len(premise.split()) <= max_words:
        return [premise]
    pieces = [piece for s in sentences(premise) for piece in _pieces(s, max_words)]
    windows: list[str] = []
    start = 0
    while start < len(pieces):
        end, words = start, 0
        while end < len(pieces) and (end == start or words + len(pieces[end].split()) <= max_words):
            words += len(pieces[end].split())
            end += 1
        windows.append(" ".join(pieces[start:end]))
        if end >= len(pieces):
            break
        start = max(start + 1, end - overlap_sentences)
    return windows


def score_windowed(
    pairs: Sequence[tuple[str, str]],
    score_flat: Callable[[list[tuple[str, str]]], list[float]],
    max_words: int,
) -> list[float]:
    """Score each (premise, claim) as the max over its premise windows, all windows in one batch call."""
    flat: list[tuple[str, str]] = []
    owners: list[int] = []
    for index, (premise, claim) in enumerate(pairs):
        for window in split_windows(premise, max_words):
            flat.append((window, claim))
            owners.append(index)
    scores = score_flat(flat) if flat else []
    best = [float("-inf")] * len(pairs)
    for owner, score in zip(owners, scores, strict=True):
        best[owner] = max(best[owner], score)
    return best
