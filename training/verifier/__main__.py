"""`python -m training.verifier`: train (slow: a checkpoint under --work), calibrate (scores dev, fits
calibration, exports), all (both), or fit the heuristic scorer's weights."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from rag.verify.nli import DEFAULT_BATCH_SIZE
from training.verifier.calibrate import calibrate, fit_heuristic
from training.verifier.data import training_set
from training.verifier.fit import train

log = logging.getLogger("training.verifier")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the default trained verifier.")
    parser.add_argument("--out", type=Path, default=Path("rag/verify/model"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/verifier-training"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage", choices=("all", "train", "calibrate", "heuristic"), default="all")
    parser.add_argument("--threads", type=int, default=1, help="1 beats 2 when the cores are shared")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=4e-5)
    parser.add_argument("--max-length", type=int, default=192)
    parser.add_argument("--infer-max-length", type=int, default=256)
    parser.add_argument("--window-words", type=int, default=150)
    parser.add_argument(
        "--infer-batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help="pairs per model call at inference (1: scores independent of their batch neighbours)",
    )
    parser.add_argument(
        "--evidence-words",
        type=int,
        default=0,
        help="the cross-encoder sees the premise sentences sharing most words with the claim, up to this many "
        "words (0: every window of --window-words, max over windows)",
    )
    parser.add_argument("--quantize", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--stop-after-steps",
        type=int,
        default=0,
        help="train only the first N batches of the plan, LR schedule unchanged (0: every batch of every epoch)",
    )
    parser.add_argument("--epochs", type=int, default=1, help="passes over the training pairs, reshuffled each")
    parser.add_argument("--max-pairs", type=int, default=0, help="cap the training pairs (0: all)")
    parser.add_argument(
        "--synthetic-repeat",
        type=int,
        default=0,
        help="add the project's own claims (data/verifier/synthetic, train split) this many times; with any, the "
        "synthetic dev split joins calibration",
    )
    parser.add_argument(
        "--product-run", type=Path, help="add the labelled generator sentences of this run (eval.product_pairs)"
    )
    parser.add_argument("--product-repeat", type=int, default=1, help="times the product pairs are added")
    parser.add_argument(
        "--written-repeat", type=int, default=0, help="add the project's written paraphrase pairs this many times"
    )
    parser.add_argument(
        "--resume", action=argparse.BooleanOptionalAction, default=True, help="continue from --work's checkpoint"
    )
    parser.add_argument(
        "--wice-repeat", type=int, default=0, help="add the WiCE train pairs this many more times (with --replay)"
    )
    parser.add_argument(
        "--window-repeat",
        type=int,
        default=0,
        help="add the in-context window pairs (training.verifier.windows) this many times; train with --max-length 256",
    )
    parser.add_argument("--init", type=Path, help="start from this trained verifier instead of the base encoder")
    parser.add_argument("--replay", type=int, help="keep only this many of the public training pairs (with --init)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from rag.models import force_offline

    force_offline()
    args = parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(args.work / "train.log")],
    )
    checkpoint = args.work / "checkpoint"
    if args.stage in ("all", "train"):
        pairs = training_set(
            args.data,
            args.seed,
            args.synthetic_repeat,
            args.replay,
            args.product_run,
            args.product_repeat,
            args.written_repeat,
            args.wice_repeat,
            args.window_repeat,
        )
        pairs = pairs[: args.max_pairs] if args.max_pairs else pairs
        log.info("training pairs: %d (%d supported)", len(pairs), sum(p.label for p in pairs))
        checkpoint = train(pairs, args.work, args)
    if args.stage in ("all", "calibrate"):
        calibrate(checkpoint, args.data, args.out, args)
    if args.stage == "heuristic":
        fit_heuristic(args.data, args.work, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
