"""Registers the built-in generator backends: llamacpp, transformers and openai.

Importing this module is cheap: each backend imports its heavy library (llama_cpp, transformers, openai)
only when a generator is built.
"""

from __future__ import annotations

from rag.generation import llamacpp, openai_backend, transformers_backend

__all__ = ["llamacpp", "openai_backend", "transformers_backend"]
