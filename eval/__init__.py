"""Evaluation: datasets, metrics, the runner and reports that quantify hallucination."""
