"""Uploads to `POST /ingest`: file names and types checked, sizes limited while written, the folder ingested
aside by the ingest engine and swapped in, then deleted."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import HTTPException, UploadFile

from rag import registry
from rag.errors import InputError
from rag.serve.service import ServeOptions, Service

UPLOAD_FOLDER = "uploads"


def upload_types() -> list[str]:
    """The suffixes an upload may have: those of the loaders."""
    return [f".{suffix}" for suffix in registry.names("loader")]


def upload_name(filename: str | None) -> str:
    """The bare file name of an upload; 415 for a type that cannot be ingested, 422 for a bad name."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
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


def ingest_folder(service: Service, temporary: Path) -> dict[str, Any]:
    """Ingest the uploaded folder (no pruning) into the live index aside, swap, reopen; then delete it."""
    try:
        report = service.ingester.run([temporary], service.settings.index).to_dict()
        service.holder.refresh()
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    for skipped in report["skipped"]:
        skipped["path"] = Path(skipped["path"]).name
    return report
