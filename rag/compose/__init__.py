"""Answer composition: how the shown answer is made from the passages, one strategy chosen by name (setting
`composition`, from rag.registry): free generation, quote-then-answer, or extractive-first."""
