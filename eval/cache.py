"""The evaluation cache: each item's record under out/cache/<fingerprint>/, so an interrupted run resumes where it
stopped and a finished one is re-reported without loading any model.

The fingerprint hashes the settings, the sizes and times of the index's and models' files, the judge and the
mode: a re-ingested index or a replaced model changes it though its name does not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from eval.datasets import EvalItem
from rag.config import Settings
from rag.errors import RagError
from rag.models import TRAINED_VERIFIER_DIR, resolve_model

CACHE_VERSION = 2


def run_fingerprint(settings: Settings, judge: str, retrieval_only: bool) -> str:
    """Hash of everything that changes an item's result: settings (model names included), the files behind
    them, judge and mode."""
    payload = {
        "version": CACHE_VERSION,
        "settings": settings.model_dump(mode="json"),
        "files": artifact_stamps(settings),
        "judge": judge,
        "retrieval_only": retrieval_only,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def artifact_stamps(settings: Settings) -> dict[str, list[tuple[str, int, int]]]:
    """(file, size, mtime) of the index and of every local model the settings name, the committed verifier
    included: a re-ingested index or a replaced model changes the fingerprint though its name does not."""
    locations = {"index": str(settings.index), "verifier": str(TRAINED_VERIFIER_DIR)}
    for name in ("embedder", "model", "reranker", "nli_model", "verifier_path"):
        value = getattr(settings, name)
        if value:
            with contextlib.suppress(RagError):
                locations[name] = resolve_model(name, value)
    return {name: file_stamps(Path(location)) for name, location in locations.items()}


def file_stamps(path: Path) -> list[tuple[str, int, int]]:
    """(name, size, mtime) of a file, or of every file under a directory; nothing for a missing path."""
    if path.is_file():
        return [(path.name, *stamp(path))]
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else []
    return [(str(f.relative_to(path)), *stamp(f)) for f in files]


def stamp(file: Path) -> tuple[int, int]:
    info = file.stat()
    return info.st_size, info.st_mtime_ns


class ItemCache:
    """One JSON file per item, named by a hash of the item id and content; written atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, item: EvalItem) -> Path:
        key = json.dumps([item.id, item.to_dict()], sort_keys=True)
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def get(self, item: EvalItem) -> dict[str, Any] | None:
        try:
            return json.loads(self.path(item).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def put(self, item: EvalItem, record: dict[str, Any]) -> dict[str, Any]:
        path = self.path(item)
        partial = path.with_suffix(".part")
        partial.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, path)
        return record
