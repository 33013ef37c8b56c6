"""How many of the generator's own invented sentences a support scorer lets through, judged against hand labels.

The benchmark sets (WiCE, HaluEval) hold no sentences like a small generator's: fragments, tautologies, fluent
topical inventions. data/judged/sentences.jsonl (eval.judged) holds the independent judgements of the sentences
the generator wrote in eval runs: a sentence is named by its question id and a hash of its text, and labelled
supported when the passages it was generated from state it. The text stays in the run's items.jsonl (it quotes
the sources); raw sentences without a label are not scored.

Each sentence is scored alone against every passage the generator read (max), before the pipeline's own rules:

    python -m eval.generated_support --run runs/clapnq --scorer trained,heuristic [--generated [--sweep 0.7,0.75]]
        [--split train|heldout]

--sweep reports the generated rules at each threshold from one scoring: how a new scorer's generated threshold
is chosen on the product's train items (--split train) and checked on the rest.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from eval.datasets import read_jsonl
from eval.judged import LABELS, Labels, text_hash
from eval.report import md_table

SplitChoice = Literal["all", "train", "heldout"]


@dataclass(frozen=True)
class JudgedSentence:
    """A generated sentence, the passages the generator read for its question, and the judged label."""

    text: str
    passages: tuple[str, ...]
    supported: bool


def judged_sentences(items: Sequence[dict[str, Any]], labels: Labels) -> list[JudgedSentence]:
    """The labelled raw sentences of an eval run, each with the passages its generator read (the ones the judges
    saw, eval.judged), not the longer retrieved list."""
    found: list[JudgedSentence] = []
    for item in items:
        passages = tuple(passage["text"] for passage in (item.get("answer") or {}).get("passages", []))
        for sentence in (item.get("raw") or {}).get("sentences", []):
            label = labels.sentences.get((str(item["id"]), text_hash(sentence["text"])))
            if label is not None and passages:
                found.append(JudgedSentence(sentence["text"], passages, label))
    return found


def sentence_pairs(sentences: Sequence[JudgedSentence]) -> list[tuple[str, str]]:
    """(passage, sentence) for every passage of every sentence, in order."""
    return [(passage, s.text) for s in sentences for passage in s.passages]


def maxima(sentences: Sequence[JudgedSentence], pair_scores: Sequence[float]) -> list[float]:
    """Each sentence's highest score over its passages, from the scores of sentence_pairs()."""
    scores = iter(pair_scores)
    return [max(next(scores) for _ in s.passages) for s in sentences]


def best_scores(sentences: Sequence[JudgedSentence], scorer: Any) -> list[float]:
    """Each sentence's highest support over its passages, all pairs in one batch."""
    return maxima(sentences, scorer.score_batch(sentence_pairs(sentences)))


def as_generated(
    name: str, scorer: Any, sentences: Sequence[JudgedSentence], sweep: Sequence[float] = ()
) -> list[dict[str, Any]]:
    """The counts under the rules the pipeline applies to generated sentences (default settings): at
    generated_support_threshold (or the scorer's own threshold when higher), then also with the second opinion;
    the same at each threshold of `sweep`, from one scoring."""
    from rag.config import Settings
    from rag.verify.scoring import load_second_opinion
    from rag.verify.verifier import second_opinion

    settings = Settings(scorer=scorer.name)
    levels = sorted({max(settings.generated_support_threshold or 0.0, scorer.threshold), *sweep})
    pairs = sentence_pairs(sentences)
    values = scorer.score_batch(pairs)
    second = load_second_opinion(settings)
    # doubted at the lowest level: a pair lowered there stays below every higher level, so one pass serves all
    doubted = maxima(sentences, second_opinion(pairs, values, levels[0], second)) if second is not None else None
    best = maxima(sentences, values)
    rows = []
    for threshold in levels:
        rows.append({"scorer": f"{name} at {threshold:.2f}", **passed_counts(sentences, best, threshold)})
        if second is not None and doubted is not None:
            label = f"{name} at {threshold:.2f} + {second.name}"
            rows.append({"scorer": label, **passed_counts(sentences, doubted, threshold)})
    return rows


def passed_counts(sentences: Sequence[JudgedSentence], scores: Sequence[float], threshold: float) -> dict[str, Any]:
    passed = [s.supported for s, score in zip(sentences, scores, strict=True) if score >= threshold]
    supported = sum(s.supported for s in sentences)
    kept = sum(passed)
    return {
        "n": len(sentences),
        "supported": supported,
        "threshold": threshold,
        "passed": len(passed),
        "passed_unsupported": len(passed) - kept,
        "passed_supported": kept,
        "precision": kept / len(passed) if passed else None,
        "recall": kept / supported if supported else None,
    }


def evaluate(
    run: Path,
    scorer_names: Sequence[str],
    labels: Path = LABELS,
    split: SplitChoice = "all",
    generated: bool = False,
    sweep: Sequence[float] = (),
) -> list[dict[str, Any]]:
    """Each scorer at its own threshold or, with `generated`, under the rules for generated sentences (as_generated,
    at each threshold of `sweep` too). With `split` train or heldout, only the items eval.product_pairs puts there."""
    from eval.product_pairs import split_of
    from rag.verify.scoring import load_scorers

    items = [i for i in read_jsonl(run / "items.jsonl") if split in ("all", split_of(str(i["id"])))]
    sentences = judged_sentences(items, Labels.load(labels))
    results = []
    for name, scorer in zip(scorer_names, load_scorers(scorer_names), strict=True):
        if generated:
            rows = as_generated(name, scorer, sentences, sweep)
        else:
            rows = [{"scorer": name, **passed_counts(sentences, best_scores(sentences, scorer), scorer.threshold)}]
        results += [{**row, "run": str(run)} for row in rows]
    return results


def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    header = ("scorer", "sentences (supported)", "passed", "unsupported passed", "supported passed", "precision")
    rows = [
        (
            r["scorer"],
            f"{r['n']} ({r['supported']})",
            str(r["passed"]),
            str(r["passed_unsupported"]),
            str(r["passed_supported"]),
            "–" if r["precision"] is None else f"{r['precision']:.2f}",
        )
        for r in results
    ]
    return "\n".join(md_table(header, rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="an eval run directory (its items.jsonl)")
    parser.add_argument(
        "--scorer", default="trained,heuristic", help="comma-separated scorer names (trained:DIR: the one in DIR)"
    )
    parser.add_argument("--labels", type=Path, default=LABELS, help="folder of the judged labels (eval.judged)")
    parser.add_argument(
        "--generated",
        action="store_true",
        help="apply the rules for generated sentences (generated_support_threshold, then the second opinion)",
    )
    parser.add_argument(
        "--split",
        choices=get_args(SplitChoice),
        default="all",
        help="only the items of this split of the verifier's product pairs (eval.product_pairs)",
    )
    parser.add_argument("--sweep", default="", help="with --generated: also these comma-separated generated thresholds")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = parser.parse_args(argv)
    if not (args.run / "items.jsonl").is_file():
        print(f"error: {args.run / 'items.jsonl'} not found: run `make eval-clapnq LIMIT=48` first", file=sys.stderr)
        return 2
    sweep = [float(t) for t in args.sweep.split(",") if t]
    results = evaluate(args.run, args.scorer.split(","), args.labels, args.split, args.generated, sweep)
    print(json.dumps(results, indent=2) if args.json else markdown_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
