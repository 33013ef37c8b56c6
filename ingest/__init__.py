"""Turning a folder of documents into a searchable index: load, chunk, embed, store."""
