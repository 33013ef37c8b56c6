"""First contact: the first ingest or ask exports models to ONNX quietly (the exporting libraries' report is
debug logging), and the Makefile's browser install says what it does and upgrades nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, save_tiny_bert

EXPORT = (
    "import sys; from rag.console import setup_logging; setup_logging(verbose=sys.argv[2] == 'verbose'); "
    "from rag.exports import exported_model; exported_model(sys.argv[1], True, 'logits')"
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny"), ["slate", "train", "quay"], num_labels=2)


def first_export(model: Path, cache: Path, verbosity: str) -> str:
    env = {**os.environ, "RAG_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", EXPORT, str(model), verbosity], capture_output=True, text=True, env=env, check=True
    )
    assert (cache / "onnx").is_dir()
    return run.stderr


def test_a_first_export_prints_nothing_but_keeps_its_report_for_verbose(tiny_model: Path, tmp_path: Path) -> None:
    assert first_export(tiny_model, tmp_path / "quiet", "quiet").strip() == ""
    verbose = first_export(tiny_model, tmp_path / "verbose", "verbose")
    assert "Quantization parameters" in verbose and "INFO" not in verbose


FAKE_APT = '#!/bin/sh\necho "$@" >> "$APT_LOG"\ncase "$*" in *--simulate*) cat "$APT_PLAN";; esac\n'
NEW_ONLY = "Inst chromium-common (156.0-1 Debian:12/stable [amd64])\nInst chromium (156.0-1 Debian:12/stable [amd64])\n"
WITH_UPGRADE = NEW_ONLY + "Inst perl [5.36.0-7] (5.36.0-7+deb12u1 Debian:12/stable [amd64])\n"


def browser_deps(tmp_path: Path, plan: str, mode: str = "install") -> tuple[str, list[str]]:
    """mk/browser-deps.sh with Chromium absent and apt-get (and sudo) stood in for by scripts that log their
    arguments and print `plan` for a simulated install; (output, apt-get calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(FAKE_APT)
    (bin_dir / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    (tmp_path / "plan").write_text(plan)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CHROMIUM": str(tmp_path / "no-chromium"),
        "APT_LOG": str(tmp_path / "apt.log"),
        "APT_PLAN": str(tmp_path / "plan"),
    }
    script = REPO / "mk" / "browser-deps.sh"
    run = subprocess.run(
        ["bash", str(script), mode, "chromium", "chromium-driver"], capture_output=True, text=True, env=env, check=True
    )
    log = tmp_path / "apt.log"
    return run.stdout, log.read_text().splitlines() if log.exists() else []


def test_browser_deps_says_what_it_installs_and_adds_no_recommends(tmp_path: Path) -> None:
    output, calls = browser_deps(tmp_path, NEW_ONLY)
    assert "installing 2 new packages: chromium-common chromium" in output
    assert output.index("needs Chromium") < output.index("installing 2 new packages")
    assert calls[-1] == "install -y -qq --no-install-recommends --no-upgrade chromium chromium-driver"


def test_browser_deps_upgrades_nothing_already_installed(tmp_path: Path) -> None:
    output, calls = browser_deps(tmp_path, WITH_UPGRADE)
    assert "not installing: apt would upgrade" in output and "perl 5.36.0-7 -> 5.36.0-7+deb12u1" in output
    assert not any(call.startswith("install -y") for call in calls)


def test_browser_deps_can_be_skipped(tmp_path: Path) -> None:
    output, calls = browser_deps(tmp_path, NEW_ONLY, mode="skip")
    assert "will be skipped" in output and calls == []
