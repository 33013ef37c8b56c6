"""The verifier's training loop: AdamW with linear warm-up and decay over length-grouped batches, seeded and
deterministic; writes a checkpoint directory."""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.verifier_eval import LabeledPair
from training.verifier.data import BASE_MODEL

log = logging.getLogger("training.verifier")


def batches(pairs: Sequence[LabeledPair], size: int, rng: random.Random) -> list[list[LabeledPair]]:
    """Batches of similar length (less padding on CPU), in seeded random order."""
    chunk = size * 50
    result = []
    for start in range(0, len(pairs), chunk):
        block = sorted(pairs[start : start + chunk], key=lambda p: len(p.premise) + len(p.claim))
        result += [block[i : i + size] for i in range(0, len(block), size)]
    rng.shuffle(result)
    return result


def train(pairs: Sequence[LabeledPair], work: Path, args: argparse.Namespace) -> Path:
    """Fine-tune the cross-encoder for args.epochs epochs; returns the checkpoint directory."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification, get_linear_schedule_with_warmup

    from rag.models import resolve_model

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    base = resolve_model("verifier base", BASE_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = BertForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label={0: "not_supported", 1: "supported"}, label2id=LABEL2ID
    )
    order = random.Random(args.seed)
    plan = [batch for _ in range(args.epochs) for batch in batches(pairs, args.batch_size, order)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    last = min(len(plan), args.stop_after_steps or len(plan))
    schedule = get_linear_schedule_with_warmup(optimizer, math.ceil(0.06 * len(plan)), len(plan))
    checkpoint = work / "checkpoint"
    model.train()
    started, seen, running = time.perf_counter(), 0, 0.0
    for step, batch in enumerate(plan[:last], start=1):
        inputs = encode(tokenizer, batch, args.max_length)
        loss = model(**inputs, labels=torch.tensor([p.label for p in batch])).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        seen, running = seen + len(batch), running + loss.item()
        if step % 25 == 0 or step == last:
            rate = seen / (time.perf_counter() - started)
            log.info("step %d/%d loss %.4f %.1f pairs/s", step, len(plan), running / 25, rate)
            running = 0.0
        if step % 50 == 0 or step == last:
            model.save_pretrained(checkpoint)
            tokenizer.save_pretrained(checkpoint)
            (checkpoint / "progress.json").write_text(json.dumps({"step": step, "of": len(plan)}))
    log.info("trained %d pairs in %.0f s", seen, time.perf_counter() - started)
    return checkpoint


LABEL2ID = {"not_supported": 0, "supported": 1}


def encode(tokenizer: Any, batch: Sequence[LabeledPair], max_length: int) -> Any:
    """Tokenize (premise, claim) pairs, truncating the premise first."""
    return tokenizer(
        [p.premise for p in batch],
        [p.claim for p in batch],
        truncation="only_first",
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
