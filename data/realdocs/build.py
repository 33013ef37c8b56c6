"""Build the real-documentation eval set from the documentation shipped inside installed Python packages.

The repository holds no third-party text: corpus.json names each document (distribution, version, where its
text lives, SHA-256 of the text) and questions.jsonl stores gold answers and evidence as character offsets
plus the SHA-256 of each span. This script extracts the texts from the running interpreter's packages,
checks every hash, and writes

    DIR/corpus/<doc_id>            the documents, UTF-8 (.md or .txt, so the project's loaders read them)
    DIR/dev.jsonl, DIR/test.jsonl  the questions in the project's eval-set format

A document whose text differs (usually another version of the package is installed) is skipped with a
warning, and so is every answerable question that points into it. With --fetch DIR, each package whose recorded
version is not the installed one is first installed at that version into DIR (pip, no dependencies, nothing
imported) and read from there, so the set does not depend on what the interpreter happens to have.

Usage: python data/realdocs/build.py --out runs/realdocs [--fetch runs/realdocs/site]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPLITS = ("dev", "test")


@dataclass(frozen=True)
class Entry:
    """One corpus document: where its text comes from and what it must hash to."""

    doc_id: str
    package: str
    version: str
    kind: str  # "metadata": long description in the distribution's METADATA; "file": a file in site-packages
    path: str | None
    sha256: str

    @classmethod
    def from_dict(cls, record: dict) -> Entry:
        return cls(
            doc_id=record["doc_id"],
            package=record["package"],
            version=record["version"],
            kind=record["kind"],
            path=record.get("path"),
            sha256=record["sha256"],
        )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def find_distribution(entry: Entry, site: Path | None) -> metadata.Distribution | None:
    """The entry's distribution at its recorded version in `site`, else the interpreter's own (any version)."""
    if site is not None:
        for dist in metadata.distributions(name=entry.package, path=[str(site)]):
            if dist.version == entry.version:
                return dist
    try:
        return metadata.distribution(entry.package)
    except metadata.PackageNotFoundError:
        return None


def fetch(entries: list[Entry], site: Path) -> None:
    """Install into `site` each recorded package version that the interpreter does not have (no dependencies)."""
    wanted = sorted({f"{e.package}=={e.version}" for e in entries if installed_version(e.package) != e.version})
    present = {f"{d.metadata['Name']}=={d.version}".lower() for d in metadata.distributions(path=[str(site)])}
    wanted = [w for w in wanted if w.lower() not in present]
    if not wanted:
        return
    print(f"realdocs: fetching {', '.join(wanted)} into {site}", file=sys.stderr)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), *wanted]
    if subprocess.run(command, check=False).returncode:
        warn(f"pip could not fetch {', '.join(wanted)}: their documents will be skipped")


def extract_text(dist: metadata.Distribution, kind: str, path: str | None) -> str:
    """The document text as installed: the METADATA body, or a file's exact contents (no newline translation)."""
    if kind == "metadata":
        payload = dist.metadata.get_payload()  # type: ignore[attr-defined]  # an email.message.Message
        return payload if isinstance(payload, str) else ""
    if kind == "file" and path:
        return Path(str(dist.locate_file(path))).read_bytes().decode("utf-8")
    raise ValueError(f"{dist.name}: unknown document kind {kind!r}")


def load_text(entry: Entry, site: Path | None = None) -> str | None:
    """The entry's text if its package yields exactly the recorded text, else None (with a warning)."""
    dist = find_distribution(entry, site)
    if dist is None:
        warn(f"skipping {entry.doc_id}: {entry.package} {entry.version} expected, not installed")
        return None
    installed = dist.version
    try:
        text = extract_text(dist, entry.kind, entry.path)
    except (OSError, UnicodeDecodeError) as error:
        warn(
            f"skipping {entry.doc_id}: {entry.package} {entry.version} expected, {installed} installed"
            f" but its text is unreadable ({error})"
        )
        return None
    if sha256(text) != entry.sha256:
        warn(
            f"skipping {entry.doc_id}: {entry.package} {entry.version} expected, {installed} installed"
            " (text hash differs)"
        )
        return None
    return text


def span_text(text: str, span: dict) -> str | None:
    """text[start:end] when its hash matches the recorded one, else None."""
    piece = text[span["start"] : span["end"]]
    return piece if sha256(piece) == span["sha256"] else None


def materialise(question: dict, texts: dict[str, str]) -> dict | None:
    """The question in the project's eval format, or None (with a warning) if its gold text is unavailable."""
    item = {
        "id": question["id"],
        "question": question["question"],
        "answers": [],
        "gold_doc_ids": [],
        "gold_sentences": [],
    }
    if not question["answerable"]:
        return item
    doc_id = question["gold_doc_id"]
    text = texts.get(doc_id)
    if text is None:
        warn(f"skipping question {question['id']}: its document {doc_id} was not written")
        return None
    answers = [span_text(text, span) for span in question["answer_spans"]]
    evidence = [span_text(text, span) for span in question["evidence_spans"]]
    if not answers or None in answers or None in evidence:
        warn(f"skipping question {question['id']}: a span in {doc_id} does not match its recorded hash")
        return None
    item.update(answers=answers, gold_doc_ids=[doc_id], gold_sentences=evidence)
    return item


def write_jsonl(path: Path, items: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for item in items:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")


def build(out: Path, corpus_file: Path, questions_file: Path, *, strict: bool = False, site: Path | None = None) -> int:
    entries = [Entry.from_dict(record) for record in json.loads(corpus_file.read_text(encoding="utf-8"))]
    out.mkdir(parents=True, exist_ok=True)
    if site is not None:
        fetch(entries, site)
    texts: dict[str, str] = {}
    for entry in entries:
        text = load_text(entry, site)
        if text is None:
            continue
        target = out / "corpus" / entry.doc_id
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
        texts[entry.doc_id] = text

    questions = [json.loads(line) for line in questions_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    written: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for question in questions:
        item = materialise(question, texts)
        if item is not None:
            written[question["split"]].append(item)
    for split, items in written.items():
        write_jsonl(out / f"{split}.jsonl", items)

    skipped = len(questions) - sum(len(items) for items in written.values())
    counts = ", ".join(f"{split} {len(items)}" for split, items in written.items())
    print(
        f"realdocs: {len(texts)}/{len(entries)} documents written; questions {counts} ({skipped} skipped) -> {out}",
        file=sys.stderr,
    )
    complete = len(texts) == len(entries) and not skipped
    return 1 if strict and not complete else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="output directory (created if missing)")
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus.json", help="corpus manifest")
    parser.add_argument("--questions", type=Path, default=HERE / "questions.jsonl", help="question set")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if anything was skipped")
    parser.add_argument(
        "--fetch", type=Path, metavar="DIR", help="install recorded versions the interpreter lacks into DIR, read them"
    )
    args = parser.parse_args(argv)
    return build(args.out, args.corpus, args.questions, strict=args.strict, site=args.fetch)


if __name__ == "__main__":
    sys.exit(main())
