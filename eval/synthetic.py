"""The project's own claims (data/verifier/synthetic/*.jsonl): MiniCheck-style supported and unsupported claims
written by judge models against passages of ../shared/data and of installed packages' documentation, plus the
contradictions a verifier must catch. Each line names its passage by reference (file and line or id, or package,
version and offsets) with the passage's SHA-256; the text is read here, and a passage that differs (another
package version installed) is skipped with a warning, never guessed.

Claims are split by passage (salted hash): SYNTHETIC_HELDOUT of the passages are held out (measured, never
trained, calibrated or tuned on), the next SYNTHETIC_DEV are the dev split used for calibration and selection, the
rest train.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from eval.datasets import read_jsonl
from eval.pairs import LabeledPair, split_position

log = logging.getLogger(__name__)

SYNTHETIC = Path(__file__).resolve().parents[1] / "data" / "verifier" / "synthetic"
SYNTHETIC_HELDOUT, SYNTHETIC_DEV = 0.075, 0.075


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@cache
def _lines(path: Path) -> tuple[dict[str, Any], ...]:
    return tuple(read_jsonl(path))


@cache
def _clapnq(path: Path) -> dict[str, dict[str, Any]]:
    return {str(record["pid"]): record for record in read_jsonl(path)}


@cache
def _package_text(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.distribution(package).metadata.get_payload() or ""
    except metadata.PackageNotFoundError:
        return None


def premise(ref: dict[str, Any], data: Path) -> str | None:
    """The passage a reference names, or None when it is not available as written (hash differs)."""
    source = ref["source"]
    if source == "site-packages":
        body = _package_text(ref["package"])
        text = body[ref["start"] : ref["end"]] if body is not None else None
    elif source == "clapnq/passages.jsonl":
        text = _clapnq(data / source).get(ref["pid"], {}).get(ref["field"])
    else:
        lines = _lines(data / source)
        text = lines[ref["line"]].get(ref["field"]) if ref["line"] < len(lines) else None
    return text if text is not None and sha256(text) == ref["sha256"] else None


def split_of(ref: dict[str, Any]) -> str:
    """heldout, dev or train, by a salted hash of the passage reference (all claims of a passage go together)."""
    position = split_position(json.dumps(ref, sort_keys=True))
    if position < SYNTHETIC_HELDOUT:
        return "heldout"
    return "dev" if position < SYNTHETIC_HELDOUT + SYNTHETIC_DEV else "train"


def synthetic_pairs(data: Path, split: str, folder: Path = SYNTHETIC) -> list[LabeledPair]:
    """The claims of one split ("train", "dev", "heldout" or "all") against their passages; unavailable passages
    are skipped."""
    pairs, missing = [], 0
    for claim in _claims(folder):
        if split != "all" and split_of(claim["ref"]) != split:
            continue
        text = premise(claim["ref"], data)
        if text is None:
            missing += 1
            continue
        pairs.append(LabeledPair(f"synthetic-{claim['id']}", text, claim["claim"], int(claim["label"])))
    if missing:
        log.warning("%d synthetic claims skipped: their passages are not available as written", missing)
    return pairs


def _claims(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.glob("*.jsonl")):
        yield from read_jsonl(path)
