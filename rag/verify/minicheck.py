"""Scorer "minicheck": a MiniCheck fact-checker (Tang, Laban and Durrett, EMNLP 2024) from a local checkpoint
directory (setting verifier_path): MiniCheck-RoBERTa-Large and MiniCheck-DeBERTa-v3-Large (sequence
classifiers) or MiniCheck-Flan-T5-Large (a seq2seq model that answers "1" for supported, "0" otherwise).

How the input is built and read follows MiniCheck's own inference code (github.com/Liyan06/MiniCheck,
minicheck/inference.py, `Inferencer.batch_tokenize` and `Inferencer.inference`; defaults in
minicheck/minicheck.py):
- each (document chunk, claim) is one text: the chunk, the tokenizer's end token, the claim; Flan-T5 reads it
  after the prefix "predict: ";
- the classifiers' support probability is the softmax of label 1 (here: the label id2label names supported,
  label 1 when the names are generic);
- Flan-T5's is the softmax over two logits of its first decoder step (decoder input: the start token).
  MiniCheck hard-codes the T5 ids 209 and 3; here they are the first token of "1" and of "0" under the
  checkpoint's tokenizer, which for the T5 vocabulary are those ids ("0" encodes as the word-start piece
  first);
- long documents are cut into chunks of whole sentences, and the claim's score is the maximum over chunks.
  MiniCheck's chunks hold 400 tokens for the classifiers and 500 words for Flan-T5, and inputs are truncated
  at 512 tokens (RoBERTa) or 2048 (DeBERTa, Flan-T5). Here windows are counted in words: 300 (about 400
  tokens) for the classifiers, 500 for Flan-T5 (rag.verify.windows).

Which kind a checkpoint is comes from its config.json (an encoder-decoder architecture or not). The directory holds what
`save_pretrained` writes, as published: config.json, model.safetensors and the tokenizer files, e.g.
`hf download lytang/MiniCheck-Flan-T5-Large --local-dir DIR`. MiniCheck decides at probability 0.5, the
default threshold here (support_threshold overrides it).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import ModelNotFoundError
from rag.models import force_offline, local_checkpoint
from rag.verify.nli import NliScorer, SequenceClassifier, batched_by_length, set_torch_threads
from rag.verify.scoring import configured_threshold

SETTING = "verifier_path"
FLAN_T5_PREFIX = "predict: "
CLASSIFIER_WINDOW_WORDS = 300
FLAN_T5_WINDOW_WORDS = 500
# MiniCheck's input limits by model type; any other classifier gets BERT's 512
MAX_LENGTH = {"roberta": 512, "deberta-v2": 2048, "t5": 2048}
DEFAULT_MAX_LENGTH = 512


class FlanT5Judge:
    """MiniCheck-Flan-T5: log-odds of "1" against "0" as the first decoded token, batched; loaded at
    `warm_up()` or on first use."""

    def __init__(
        self, location: Path, threads: int | None = None, max_length: int = MAX_LENGTH["t5"], batch_size: int = 8
    ) -> None:
        self.location, self.threads, self.max_length, self.batch_size = location, threads, max_length, batch_size

    @cached_property
    def _loaded(self) -> tuple[Any, Any, int, int]:
        """(tokenizer, model, id of "1", id of "0"); a one-line error naming the setting if unloadable."""
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        force_offline()
        set_torch_threads(self.threads)
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.location)
            model = AutoModelForSeq2SeqLM.from_pretrained(self.location, dtype=torch.float32).eval()
        except (OSError, ValueError) as error:
            raise ModelNotFoundError(SETTING, str(self.location), type(error).__name__) from None
        supported, unsupported = (tokenizer(label, add_special_tokens=False).input_ids for label in ("1", "0"))
        if not supported or not unsupported:
            raise ModelNotFoundError(SETTING, str(self.location), 'its tokenizer cannot encode "1" and "0"')
        return tokenizer, model, supported[0], unsupported[0]

    def warm_up(self) -> None:
        _ = self._loaded

    def log_odds(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return batched_by_length(pairs, self.batch_size, self._batch)

    def _batch(self, pairs: list[tuple[str, str]]) -> list[float]:
        import torch

        tokenizer, model, supported, unsupported = self._loaded
        texts = [f"{FLAN_T5_PREFIX}{premise}{tokenizer.eos_token}{claim}" for premise, claim in pairs]
        inputs = tokenizer(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        start = torch.full((len(pairs), 1), model.config.decoder_start_token_id, dtype=torch.long)
        with torch.inference_mode():
            logits = model(
                input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], decoder_input_ids=start
            ).logits[:, 0, :]
        return (logits[:, supported] - logits[:, unsupported]).double().tolist()


def is_seq2seq(config: dict[str, Any]) -> bool:
    """Whether a config.json describes an encoder-decoder model (MiniCheck-Flan-T5) rather than a classifier."""
    architectures = config.get("architectures") or []
    return bool(config.get("is_encoder_decoder")) or any(a.endswith("ForConditionalGeneration") for a in architectures)


def build_minicheck(settings: Settings) -> NliScorer:
    """The "minicheck" scorer for the checkpoint in settings.verifier_path; reads only its config.json."""
    location, config = local_checkpoint(SETTING, settings.verifier_path, "minicheck")
    threshold = configured_threshold(settings)
    max_length = MAX_LENGTH.get(config.get("model_type", ""), DEFAULT_MAX_LENGTH)
    if is_seq2seq(config):
        judge = FlanT5Judge(location, settings.threads, max_length)
        return NliScorer(judge, threshold, FLAN_T5_WINDOW_WORDS, name="minicheck")
    classifier = SequenceClassifier(location, SETTING, settings.threads, max_length=max_length, joined=True)
    return NliScorer(classifier, threshold, CLASSIFIER_WINDOW_WORDS, name="minicheck")
