"""Generation: the prompt of numbered sources and the LLM backends that answer it."""
