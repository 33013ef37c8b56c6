"""Fusion of ranked lists from several retrievers, chosen by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rag.registry import Registry

Ranking = Sequence[tuple[int, float]]
Fusion = Callable[[Sequence[Ranking], int], list[tuple[int, float]]]
FUSIONS: Registry[list[tuple[int, float]]] = Registry("fusion")


@FUSIONS.register("rrf")
def reciprocal_rank_fusion(rankings: Sequence[Ranking], k: int = 60) -> list[tuple[int, float]]:
    """Cormack et al.'s RRF: score(d) = sum over rankings of 1 / (k + rank of d), best first."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
