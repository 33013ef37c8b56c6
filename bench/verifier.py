"""Verifier benchmark: (premise, claim) pairs scored per second by the support scorers.

    python bench/verifier.py [--pairs 64]

Pairs come from the CLAPNQ questions: each gold passage (about 180 words) with its answer (supported) and with
another question's answer (unsupported). Rows:
  - the default "trained" scorer's `score_batch` (what Verifier.verify calls once per answer) against the same
    scorer called one pair at a time, as an unbatched verifier would;
  - the default int8 ONNX cross-encoder against the same model in fp32 PyTorch (the same premise windows);
  - the `evidence_words` option (the model sees the claim's best-matching sentences, up to 100 words) against
    the default windows;
  - the heuristic scorer beside the trained one;
  - verifying an answer (Verifier.verify: 3 sentences against 5 passages of 150-260 words, two of them answer
    sentences citing their gold passage and one a sentence of another passage citing it too; the passages split
    into sentences as ingest splits them), which reads a sentence's other passages only when its own citations
    do not support it, against scoring all 15 pairs in one batch as the verifier did before (its quotes not
    counted); choosing each citation's quote among the passage's 3 sentences sharing most words with the answer
    sentence (the default) against scoring every sentence; the same under the rules for generated sentences
    (threshold 0.75 and the heuristic's second opinion on the passing pairs); the same answers with each
    sentence's first word dropped, so that none copies a passage sentence word for word (a copy is its own
    quote, unscored, and most of these sentences are copies); and the worst case, where every sentence cites a
    passage that supports none of them (the second).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import QUESTIONS, SHARED, Row, answerable, latencies_ms, passage_records, timed, write_result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clapnq", type=Path, default=SHARED / "clapnq")
    parser.add_argument("--pairs", type=int, default=64)
    return parser.parse_args()


def pairs_from(clapnq: Path, count: int) -> list[tuple[str, str]]:
    """(gold passage, its answer) and (gold passage, another question's answer), alternating."""
    texts, pids = passage_records(clapnq / "passages.jsonl")
    passages = dict(zip(pids, texts, strict=True))
    items = answerable(QUESTIONS, clapnq / "passages.jsonl")
    found = [(passages[i.gold_doc_ids[0]], i.answers[0]) for i in items if i.gold_doc_ids[0] in passages]
    claims = [claim for _, claim in found]
    mixed = [(premise, claims[(i + 1) % len(claims)] if i % 2 else claim) for i, (premise, claim) in enumerate(found)]
    return mixed[:count]


def answer_cases(clapnq: Path, count: int, cite: int, reworded: bool = False) -> list[tuple[list[Any], list[Any]]]:
    """(claims, passages) per answerable question: its gold passage first, then 4 other passages of 150-260 words
    (seeded); claims: two sentences of the gold answer and the first sentence of the third passage, citing `cite`.
    Most of these copy a passage sentence word for word, which the verifier quotes without scoring; `reworded`
    drops each claim's first word, so that (almost) none does, as with freely generated sentences."""
    import random

    from rag.records import Chunk, Claim, Passage
    from rag.text import sentence_spans, sentences

    texts, pids = passage_records(clapnq / "passages.jsonl")
    passages = dict(zip(pids, texts, strict=True))
    others = [t for t in texts if 150 <= len(t.split()) <= 260]
    chooser = random.Random(0)
    cases = []
    for item in answerable(QUESTIONS, clapnq / "passages.jsonl"):
        gold = passages.get(item.gold_doc_ids[0])
        answer = sentences(item.answers[0])[:2] if item.answers else []
        if gold is None or not answer:
            continue
        texts_of_case = [gold, *chooser.sample(others, 4)]
        records = [
            Passage(Chunk(i, f"p{i}", 0, t, 0, len(t), sentences=tuple(sentence_spans(t))), 1.0, i)
            for i, t in enumerate(texts_of_case)
        ]
        texts = [*answer, sentences(texts_of_case[2])[0]]
        claims = [Claim(_without_first_word(t) if reworded else t, (cite,)) for t in texts]
        cases.append((claims, records))
    return cases[:count]


def _without_first_word(sentence: str) -> str:
    rest = sentence.split()[1:]
    return " ".join([rest[0][:1].upper() + rest[0][1:], *rest[1:]]) if rest else sentence


def copied_pairs(pairs: Sequence[tuple[str, str]]) -> int:
    """How many (premise, claim) pairs the copy rule settles: the claim copies a premise sentence."""
    from rag.verify.rules import repeats_sentence

    return sum(repeats_sentence(premise, claim) for premise, claim in pairs)


def copies(cases: Sequence[tuple[list[Any], list[Any]]]) -> int:
    """How many of the cases' sentences copy a sentence of one of their passages word for word."""
    return sum(any(copied_pairs([(p.chunk.text, c.text)]) for p in ps) for claims, ps in cases for c in claims)


def verify_p50(verifier: Any, cases: Sequence[tuple[list[Any], list[Any]]]) -> float:
    return statistics.median(latencies_ms(lambda case: verifier.verify(*case), cases))


def all_pairs_p50(scorer: Any, cases: Sequence[tuple[list[Any], list[Any]]]) -> float:
    def every_pair(case: tuple[list[Any], list[Any]]) -> None:
        claims, passages = case
        scorer.score_batch([(p.chunk.text, c.text) for c in claims for p in passages])

    return statistics.median(latencies_ms(every_pair, cases))


def variant(trained: Any, **changes: Any) -> Any:
    """The trained scorer with some inference settings of its calibration changed."""
    from dataclasses import replace

    from rag.verify.trained import MODEL_DIR, CrossEncoderVerifier, TrainedScorer

    calibration = replace(trained.verifier.calibration, **changes)
    return TrainedScorer(CrossEncoderVerifier(MODEL_DIR, None, calibration), trained.threshold)


def scorer(name: str) -> Any:
    from rag.verify.scoring import load_scorers

    return load_scorers([name])[0]


def rate(function: Any, pairs: Sequence[tuple[str, str]]) -> float:
    seconds, _ = timed(lambda: function(pairs))
    return len(pairs) / seconds


def main() -> None:
    args = parse_args()
    if not (args.clapnq / "passages.jsonl").exists():
        raise SystemExit(f"needs {args.clapnq} (the ../shared data beside the checkout)")
    pairs = pairs_from(args.clapnq, args.pairs)
    trained, heuristic = scorer("trained"), scorer("heuristic")
    fp32 = variant(trained, quantize=False)
    best_sentences = variant(trained, evidence_words=100, max_length=192)
    for warm in (trained, heuristic, fp32, best_sentences):  # load and warm up
        warm.score_batch(pairs[:2])
    one_by_one = rate(lambda ps: [trained.score(p, c) for p, c in ps], pairs)
    batched = rate(trained.score_batch, pairs)
    pytorch = rate(fp32.score_batch, pairs)
    selected = rate(best_sentences.score_batch, pairs)
    fast = rate(heuristic.score_batch, pairs)
    from rag.config import Settings
    from rag.verify.verifier import Verifier

    verifier = Verifier(trained)
    generated = Verifier(trained, Settings().generated_support_threshold, second=heuristic)
    cited, miscited = answer_cases(args.clapnq, 24, cite=1), answer_cases(args.clapnq, 24, cite=2)
    reworded = answer_cases(args.clapnq, 24, cite=1, reworded=True)
    verifier.verify(*cited[0])
    generated.verify(*cited[0])
    every_quote = Verifier(trained, quote_candidates=1_000)
    every_quote.verify(*cited[0])
    every, answer, worst = all_pairs_p50(trained, cited), verify_p50(verifier, cited), verify_p50(verifier, miscited)
    # the quote and generated-sentence rows read sentences that copy nothing, which the model must score
    not_copied, quoting_all = verify_p50(verifier, reworded), verify_p50(every_quote, reworded)
    as_generated = verify_p50(generated, reworded)
    rows = [
        Row("verify 3 sentences x 5 passages p50", every, answer, "ms", False, "all 15 pairs", "Verifier.verify"),
        Row("verify p50 against the goal", 300.0, answer, "ms", False, "goal", "Verifier.verify"),
        Row("verify p50, no sentence copied", 300.0, not_copied, "ms", False, "goal", "Verifier.verify"),
        Row("verify p50, no sentence cites support", 300.0, worst, "ms", False, "goal", "Verifier.verify"),
        Row("no copy: quote chosen among", quoting_all, not_copied, "ms", False, "every sentence", "3 best-matching"),
        Row("no copy: as generated sentences", not_copied, as_generated, "ms", False, "plain", "0.75 + heuristic"),
        Row("trained scorer pairs/s", one_by_one, batched, "pairs/s", True, "one pair a call", "score_batch"),
        Row("trained: runtime", pytorch, batched, "pairs/s", True, "fp32 PyTorch", "int8 ONNX"),
        Row("trained: evidence_words=100 option", batched, selected, "pairs/s", True, "windows", "best sentences"),
        Row("heuristic scorer pairs/s", batched, fast, "pairs/s", True, "trained, batched", "heuristic"),
    ]
    notes = [
        f"{len(pairs)} CLAPNQ (passage, answer) pairs, half of them mismatched; {copied_pairs(pairs)} copy a sentence",
        f"verify: {len(cited)} CLAPNQ answers of 3 sentences against 5 passages (see the module's docstring)",
        f"of their {3 * len(cited)} sentences {copies(cited)} copy a passage sentence, reworded {copies(reworded)}",
    ]
    write_result("verifier", rows, notes)


if __name__ == "__main__":
    main()
