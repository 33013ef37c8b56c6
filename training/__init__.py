"""Recipes that make the project's own models. Outside the runtime path: nothing under rag/, ingest/ or eval/
imports them."""
