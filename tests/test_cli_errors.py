"""Every way a careless user or a damaged disk can fail a command ends in one line, "error: ...", saying what is
wrong and what to do, with exit status 2; the live index stays byte for byte as it was. The commands run in
process through typer's runner; the indexes are real, built with the hashing embedder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ingest.pipeline import Ingestor
from rag.cli import app
from rag.config import Settings
from rag.errors import IndexWriteError
from rag.index.generations import CURRENT, STORE, VECTORS

from .conftest import index_files

COMMANDS = {
    "stats": lambda index, docs: ["stats", "--index", str(index)],
    "search": lambda index, docs: ["search", "when did the line open", "--index", str(index)],
    "ask": lambda index, docs: ["ask", "When did the line open?", "--index", str(index)],
    "ingest": lambda index, docs: ["ingest", str(docs), "--index", str(index)],
}


def run(args: list[str]) -> Any:
    result = CliRunner().invoke(app, args)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result


def assert_one_line_error(result: Any, *words: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def built(corpus: Path, tmp_path: Path, fake_embedder: Any) -> Path:
    index = tmp_path / "index"
    Ingestor(Settings(index=index), embedder=fake_embedder).run([corpus], index)
    return index


def live(index: Path) -> Path:
    return index / (index / CURRENT).read_text().strip()


def truncate_store(index: Path) -> None:
    store = live(index) / STORE
    store.write_bytes(store.read_bytes()[: store.stat().st_size // 2])


DAMAGE: dict[str, Callable[[Path], None]] = {
    "store truncated to half": truncate_store,
    "vectors.faiss deleted": lambda index: (live(index) / VECTORS).unlink(),
    "bm25 deleted": lambda index: shutil.rmtree(live(index) / "bm25"),
    "CURRENT names a missing generation": lambda index: (index / CURRENT).write_text("gen-000042"),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_index_is_one_line_naming_the_rebuild(built: Path, corpus: Path, command: str, damage: str) -> None:
    DAMAGE[damage](built)
    before = index_files(built)
    message = assert_one_line_error(run(COMMANDS[command](built, corpus)), str(built), "--rebuild")
    assert "damaged" in message
    assert index_files(built) == before


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_rebuild_replaces_a_damaged_index(built: Path, corpus: Path, damage: str, fake_embedder: Any) -> None:
    """What the damage message advises works: `--rebuild` writes a fresh generation over the damaged one."""
    DAMAGE[damage](built)
    report = Ingestor(Settings(index=built), embedder=fake_embedder).run([corpus], built, rebuild=True)
    assert report.added == 3 and not report.skipped
    stats = run(["stats", "--index", str(built), "--json"])
    assert stats.exit_code == 0 and json.loads(stats.output)["chunks"] == report.chunks > 0


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_index_path_that_is_a_file(tmp_path: Path, corpus: Path, command: str) -> None:
    index = tmp_path / "index.txt"
    index.write_text("not an index")
    assert_one_line_error(run(COMMANDS[command](index, corpus)), "is a file, not an index directory")
    assert index.read_text() == "not an index"


@pytest.mark.parametrize("k", ["0", "-1", "100000"])
def test_a_bad_k_is_one_line(tmp_path: Path, k: str) -> None:
    assert_one_line_error(run(["search", "mayor", "-k", k, "--index", str(tmp_path)]), "top_k")


@pytest.mark.parametrize("command", ["search", "ask"])
def test_invalid_utf8_in_argv_is_one_line(built: Path, command: str) -> None:
    """Python turns the byte \\xff of `rag search $'\\xff mayor'` into the lone surrogate \\udcff."""
    question = os.fsdecode(b"\xff mayor")
    assert_one_line_error(run([command, question, "--index", str(built)]), "not valid")


@pytest.mark.parametrize(
    ("question", "words"), [("", "empty"), ("x" * 2001, "limit is 2000"), (os.fsdecode(b"\xff mayor"), "not valid")]
)
def test_the_launcher_refuses_a_bad_question_before_the_command_line_loads(question: str, words: str) -> None:
    """`rag ask QUESTION` starts in rag.launch: a question that cannot be asked is refused there, in one line,
    before typer or pydantic is imported; the same line the full command line gives."""
    probe = (
        "import sys\n"
        "from rag.launch import main\n"
        "sys.argv = ['rag', 'ask', sys.argv[1], '--index', 'nowhere']\n"
        "try:\n    main()\n"
        "except SystemExit as stop:\n"
        "    print(stop.code, 'typer' in sys.modules, 'pydantic' in sys.modules)\n"
    )
    env = {**os.environ, "RAG_MAX_QUESTION_CHARS": "2000"}
    done = subprocess.run([sys.executable, "-c", probe, question], capture_output=True, text=True, env=env)
    assert done.stdout.split() == ["2", "False", "False"], (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and words in done.stderr
    full = run(["ask", question, "--index", "nowhere"])
    assert assert_one_line_error(full) == done.stderr.strip()


def test_the_launcher_leaves_everything_else_to_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.launch import early_refusal

    assert early_refusal(["ask", "When did the line open?"]) is None
    assert early_refusal(["ask", "--index", "x", ""]) is None  # options first: the command line decides
    assert early_refusal(["search", ""]) is None
    assert early_refusal(["ask", "", "--help"]) is None
    monkeypatch.setenv("RAG_MAX_QUESTION_CHARS", "ten")
    assert early_refusal(["ask", "x" * 5000]) is None  # an unreadable limit is the settings' error to give


# ---------------------------------------------------------------------------- disks that refuse writes


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"needs permission to mount (root): {done.stderr.strip()}")


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` read-only for this process: a read-only bind mount for root (whom permissions do not stop),
    the write bits removed for anyone else."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for path in modes:
            path.chmod(modes[path] & ~0o222)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    mount("--bind", str(folder), str(folder))
    try:
        mount("-o", "remount,bind,ro", str(folder))
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_index_is_one_line(built: Path, corpus: Path) -> None:
    (corpus / "delta.txt").write_text("A new document about the delta branch line.")
    before = index_files(built)
    with read_only(built):
        message = assert_one_line_error(run(COMMANDS["ingest"](built, corpus)), "could not write the index")
        assert "unchanged" in message
        assert_one_line_error(run(COMMANDS["ingest"](built, corpus)), "could not write the index")
    assert index_files(built) == before


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs: room for the test index and little else."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk))
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_leaves_the_live_index(small_disk: Path, corpus: Path, fake_embedder: Any) -> None:
    index = small_disk / "index"
    Ingestor(Settings(index=index), embedder=fake_embedder).run([corpus], index)
    before = index_files(index)

    class Filling(type(fake_embedder)):  # another program fills the disk while this ingest embeds
        def encode(self, texts: Any, progress: bool = False) -> Any:
            with (small_disk / "filler").open("ab") as filler:
                try:
                    while True:
                        filler.write(b"\0" * 65536)
                        filler.flush()
                except OSError:
                    pass
            return super().encode(texts)

    for n in range(20):
        (corpus / f"new-{n}.txt").write_text(f"New document {n} about carriage number {n} and its long history. " * 20)
    with pytest.raises(IndexWriteError, match=r"No space left on device|disk is full") as raised:
        Ingestor(Settings(index=index), embedder=Filling(fake_embedder.tokenizer)).run([corpus], index)
    assert "the live index is unchanged" in str(raised.value)
    (small_disk / "filler").unlink()
    assert index_files(index) == before
    assert not list(index.glob(".staging-*"))
