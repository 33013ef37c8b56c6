"""grounded-rag: retrieval-augmented generation that verifies its citations and abstains when unsupported."""

from typing import Any

__all__ = ["Pipeline", "Settings"]


def __getattr__(name: str) -> Any:
    """Lazy exports, so that importing `rag` stays cheap."""
    if name == "Pipeline":
        from rag.pipeline import Pipeline

        return Pipeline
    if name == "Settings":
        from rag.config import Settings

        return Settings
    raise AttributeError(name)
