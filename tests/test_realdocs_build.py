"""data/realdocs/build.py: documents are read at their recorded version, from --fetch's folder when the interpreter
has another one, and a document whose text differs is skipped with the questions that point into it."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

BUILD = Path(__file__).resolve().parent.parent / "data" / "realdocs" / "build.py"
README = "A tiny package.\n\nIts bug tracker lives at https://bugs.example.org/tiny.\n"


def load_build():
    spec = importlib.util.spec_from_file_location("realdocs_build", BUILD)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_distribution(site: Path, name: str, version: str, body: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    info.joinpath("METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n{body}")


def write_set(folder: Path, version: str) -> tuple[Path, Path]:
    start = README.index("https://")
    end = README.index(".\n", start)
    corpus = folder / "corpus.json"
    corpus.write_text(
        json.dumps(
            [
                {
                    "doc_id": "tinypkg/readme.md",
                    "package": "tinypkg",
                    "version": version,
                    "kind": "metadata",
                    "sha256": sha(README),
                }
            ]
        )
    )
    question = {
        "id": "q1",
        "split": "dev",
        "question": "Where is tinypkg's bug tracker?",
        "answerable": True,
        "gold_doc_id": "tinypkg/readme.md",
        "answer_spans": [{"start": start, "end": end, "sha256": sha(README[start:end])}],
        "evidence_spans": [],
    }
    questions = folder / "questions.jsonl"
    questions.write_text(json.dumps(question) + "\n")
    return corpus, questions


def test_a_fetched_version_is_read_and_its_spans_rebuilt(tmp_path: Path) -> None:
    build = load_build()
    site = tmp_path / "site"
    write_distribution(site, "tinypkg", "1.0", README)
    corpus, questions = write_set(tmp_path, "1.0")
    assert build.build(tmp_path / "out", corpus, questions, strict=True, site=site) == 0
    assert (tmp_path / "out" / "corpus" / "tinypkg" / "readme.md").read_text() == README
    item = json.loads((tmp_path / "out" / "dev.jsonl").read_text())
    assert item["answers"] == ["https://bugs.example.org/tiny"]


def test_another_version_is_skipped_with_its_questions(tmp_path: Path, capsys) -> None:
    build = load_build()
    site = tmp_path / "site"
    write_distribution(site, "tinypkg", "2.0", README.replace("tiny", "huge"))
    corpus, questions = write_set(tmp_path, "2.0")
    assert build.build(tmp_path / "out", corpus, questions, strict=True, site=site) == 1
    assert "text hash differs" in capsys.readouterr().err
    assert (tmp_path / "out" / "dev.jsonl").read_text() == ""
