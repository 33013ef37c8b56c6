"""The verifier's training loop: AdamW with linear warm-up and decay over length-grouped batches, seeded and
deterministic; writes a checkpoint directory."""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.pairs import LabeledPair
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
    order = random.Random(args.seed)
    plan = [batch for _ in range(args.epochs) for batch in batches(pairs, args.batch_size, order)]
    checkpoint = work / "checkpoint"
    done = resumable_step(checkpoint, len(plan)) if args.resume else 0
    source = checkpoint if done else (args.init or base)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = BertForSequenceClassification.from_pretrained(
        source,
        num_labels=2,
        id2label={0: "not_supported", 1: "supported"},
        label2id=LABEL2ID,
        dtype=torch.float32,  # a committed model is stored in fp16, which trains very slowly on a CPU
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    last = min(len(plan), args.stop_after_steps or len(plan))
    schedule = get_linear_schedule_with_warmup(optimizer, math.ceil(0.06 * len(plan)), len(plan))
    if done:
        state = torch.load(checkpoint / TRAINING_STATE, weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["torch_rng"])
        log.info("resuming at step %d of %d", done + 1, len(plan))
    model.train()
    started, seen, running = time.perf_counter(), 0, 0.0
    for step, batch in enumerate(plan[:last], start=1):
        if step <= done:
            continue
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
            save(checkpoint, model, tokenizer, optimizer, schedule, step, len(plan))
    log.info("trained %d pairs in %.0f s", seen, time.perf_counter() - started)
    return checkpoint


TRAINING_STATE = "training_state.pt"
PROGRESS = "progress.json"


def save(checkpoint: Path, model: Any, tokenizer: Any, optimizer: Any, schedule: Any, step: int, of: int) -> None:
    """The model, tokenizer and everything resuming needs, written aside and then swapped in."""
    import torch

    staging = checkpoint.with_name(checkpoint.name + ".saving")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    state = {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "torch_rng": torch.get_rng_state()}
    torch.save(state, staging / TRAINING_STATE)
    (staging / PROGRESS).write_text(json.dumps({"step": step, "of": of}))
    shutil.rmtree(checkpoint, ignore_errors=True)
    staging.rename(checkpoint)


def resumable_step(checkpoint: Path, plan_length: int) -> int:
    """The last step saved in `checkpoint` for a plan of this length (0: start afresh)."""
    progress = checkpoint / PROGRESS
    if not progress.is_file() or not (checkpoint / TRAINING_STATE).is_file():
        return 0
    saved = json.loads(progress.read_text())
    return int(saved["step"]) if saved.get("of") == plan_length and saved["step"] < plan_length else 0


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
