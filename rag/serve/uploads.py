"""Uploads to `POST /ingest`: file names and types checked, sizes limited while written, the folder ingested
aside by the ingest engine and swapped in.

Each request's uploads go to a folder of their own, locked while it is in use and always removed: when the
request ends, or, once handed to the ingest, when that has ended. Folders whose server died (SIGKILL, power
loss) are swept at start-up and before every upload; a folder another live server holds is left alone.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

from fastapi import HTTPException, UploadFile

from rag import registry
from rag.errors import InputError
from rag.index.generations import try_lock
from rag.serve.service import ServeOptions, Service
from rag.text import utf8_problem

log = logging.getLogger(__name__)

UPLOAD_FOLDER = "uploads"
UPLOAD_PREFIX = "rag-upload-"


def upload_parent(options: ServeOptions) -> Path:
    return options.upload_dir or Path(tempfile.gettempdir())


class UploadFolder:
    """A fresh folder for one request's uploads (`path / UPLOAD_FOLDER` holds the files), with a lock file
    beside it held for as long as it exists. Removed when the `with` block ends, unless `handed_over()` gave
    its removal to the work that uses it."""

    def __init__(self, parent: Path) -> None:
        parent.mkdir(parents=True, exist_ok=True)
        name = f"{UPLOAD_PREFIX}{secrets.token_hex(8)}"
        self.path = parent / name
        self.lock_path = parent / f"{name}.lock"
        self._lock = try_lock(self.lock_path)  # taken before the folder exists, so no sweep sees it unlocked
        (self.path / UPLOAD_FOLDER).mkdir(parents=True)
        self._handed = False
        self._removed = threading.Lock()

    @property
    def files(self) -> Path:
        return self.path / UPLOAD_FOLDER

    def __enter__(self) -> UploadFolder:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        if not self._handed:
            self.remove()

    def handed_over(self) -> Callable[[], None]:
        """Leave the removal to the caller of the returned function (the lane, once the ingest has ended)."""
        self._handed = True
        return self.remove

    def remove(self) -> None:
        with self._removed:
            shutil.rmtree(self.path, ignore_errors=True)
            self.lock_path.unlink(missing_ok=True)
            if self._lock is not None:
                self._lock.close()
                self._lock = None


def sweep_uploads(parent: Path) -> None:
    """Remove the upload folders of servers that died; those whose lock is held are in use."""
    if not parent.is_dir():
        return
    for folder in parent.glob(f"{UPLOAD_PREFIX}*"):
        if not folder.is_dir():
            continue
        lock_path = folder.with_name(folder.name + ".lock")
        held = try_lock(lock_path)
        if held is None:
            continue
        try:
            log.info("removing the stale upload folder %s", folder)
            shutil.rmtree(folder, ignore_errors=True)
            lock_path.unlink(missing_ok=True)
        finally:
            held.close()


def upload_types() -> list[str]:
    """The suffixes an upload may have: those of the loaders."""
    return [f".{suffix}" for suffix in registry.names("loader")]


def upload_name(filename: str | None) -> str:
    """The bare file name of an upload; 415 for a type that cannot be ingested, 422 for a bad name."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    problem = utf8_problem(name) or ("it has a control character" if any(ord(c) < 32 for c in name) else None)
    if problem:
        raise InputError(f"bad upload file name {filename!r}: {problem}; rename the file")
    if not name or name.startswith("."):
        raise InputError(f"bad upload file name {filename!r}")
    allowed = upload_types()
    if PurePosixPath(name).suffix.lower() not in allowed:
        raise HTTPException(415, f"{name}: only {', '.join(allowed)} files can be ingested")
    return name


async def save_uploads(files: list[UploadFile], folder: Path, options: ServeOptions) -> list[str]:
    """Write the uploads into `folder`, enforcing the count, type and size limits; returns their names."""
    if not files:
        raise InputError("no files uploaded (send multipart field 'files')")
    if len(files) > options.max_upload_files:
        raise HTTPException(413, f"{len(files)} files uploaded; the limit is {options.max_upload_files}")
    names = [upload_name(f.filename) for f in files]
    if len(set(names)) != len(names):
        raise InputError("two uploads have the same file name")
    limit = int(options.max_upload_mb * 1024 * 1024)
    for upload, name in zip(files, names, strict=True):
        await _save_one(upload, folder / name, limit)
    return names


async def _save_one(upload: UploadFile, target: Path, limit: int) -> None:
    size = 0
    with target.open("wb") as out:
        while piece := await upload.read(1 << 16):
            size += len(piece)
            if size > limit:
                raise HTTPException(413, f"{target.name} is larger than {limit // (1024 * 1024)} MB")
            out.write(piece)


def ingest_folder(service: Service, folder: Path, stop: threading.Event) -> dict[str, Any]:
    """Ingest the uploaded folder (no pruning) into the live index aside, swap, reopen; `stop` cancels it."""
    report = service.ingester.run([folder], service.settings.index, cancel=stop).to_dict()
    service.holder.refresh()
    for skipped in report["skipped"]:
        skipped["path"] = Path(skipped["path"]).name
    return report
