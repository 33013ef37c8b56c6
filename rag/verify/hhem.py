"""Scorer "hhem": Vectara's HHEM-2.1-Open hallucination detector from a local checkpoint directory (setting
verifier_path), run with plain transformers classes: nothing from the checkpoint is executed, and it loads
offline.

What HHEM computes, from the code published with the checkpoint (huggingface.co/vectara/
hallucination_evaluation_model: modeling_hhem_v2.py, configuration_hhem_v2.py; copies of both are in public
repositories): `HHEMv2ForSequenceClassification` wraps a `T5ForTokenClassification`, its weights stored under
the prefix "t5.", built from the config of its foundation model (google/flan-t5-base) and read with the
foundation's tokenizer. A pair is one text, the checkpoint's prompt template with the premise as {text1} and
the hypothesis as {text2}; the template starts with the pad token, whose logits (the first position) are
softmaxed, and class 1 ("consistent") is the score. The same runs here with a
`transformers.T5ForTokenClassification`.

The checkpoint directory needs:
- config.json and model.safetensors, as published (id2label, when present, names the consistent label);
- the prompt template and the foundation's name: config.json's "prompt" and "foundation" when it has them,
  else the `prompt = "..."` and `foundation = "..."` assignments of configuration_hhem_v2.py beside it, read
  as text (parsed, never run), which is where the published checkpoint keeps them;
- the foundation's config.json and tokenizer files, in a subdirectory named after its last part
  (`flan-t5-base/`, e.g. `hf download google/flan-t5-base config.json tokenizer.json tokenizer_config.json
  special_tokens_map.json spiece.model --local-dir DIR/flan-t5-base`); without it the foundation is loaded
  as named, a directory or a hub id in the local Hugging Face cache.
`hf download vectara/hallucination_evaluation_model --local-dir DIR` fetches the rest.

HHEM reads long inputs whole; here premises over 400 words are scored in windows (max over windows,
rag.verify.windows), a choice of this project that bounds the cost on a CPU. HHEM's authors suggest 0.5 as
the decision threshold, the default here (support_threshold overrides it).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import ModelNotFoundError
from rag.models import force_offline, local_checkpoint
from rag.verify.nli import NliScorer, batched_by_length, entailment_index, entailment_log_odds, set_torch_threads
from rag.verify.scoring import configured_threshold

SETTING = "verifier_path"
CONFIG_SOURCE = "configuration_hhem_v2.py"
WEIGHTS = "model.safetensors"
WEIGHTS_PREFIX = "t5."
# T5 ties its encoder's input embeddings to the shared ones; checkpoints store the shared tensor only
TIED = frozenset({"transformer.encoder.embed_tokens.weight"})
WINDOW_WORDS = 400
MAX_LENGTH = 2048


def template(location: Path, config: dict[str, Any]) -> tuple[str, str]:
    """(prompt template, foundation name) from config.json, else from configuration_hhem_v2.py's text."""
    found = {key: config[key] for key in ("prompt", "foundation") if isinstance(config.get(key), str)}
    source = location / CONFIG_SOURCE
    if len(found) < 2 and source.is_file():
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id in ("prompt", "foundation"):
                        found.setdefault(target.id, node.value.value)
    prompt, foundation = found.get("prompt"), found.get("foundation")
    if not isinstance(prompt, str) or "{text1}" not in prompt or "{text2}" not in prompt:
        raise ModelNotFoundError(SETTING, str(location), f"no prompt template in config.json or {CONFIG_SOURCE}")
    if not isinstance(foundation, str):
        raise ModelNotFoundError(SETTING, str(location), f"no foundation model in config.json or {CONFIG_SOURCE}")
    return prompt, foundation


class HhemClassifier:
    """HHEM's log-odds of "consistent" per (premise, hypothesis), batched; loaded at `warm_up()` or on first use."""

    def __init__(
        self,
        location: Path,
        config: dict[str, Any],
        threads: int | None = None,
        max_length: int = MAX_LENGTH,
        batch_size: int = 8,
    ) -> None:
        self.location, self.threads, self.max_length, self.batch_size = location, threads, max_length, batch_size
        self.prompt, self.foundation = template(location, config)
        labels = {int(index): str(name) for index, name in config.get("id2label", {}).items()}
        self.labels = labels or {0: "LABEL_0", 1: "LABEL_1"}

    def foundation_location(self) -> str:
        """The foundation's config and tokenizer: the subdirectory named after it, else the name as given."""
        local = self.location / Path(self.foundation).name
        return str(local) if (local / "config.json").is_file() else self.foundation

    @cached_property
    def _loaded(self) -> tuple[Any, Any, int]:
        """(tokenizer, model, index of the consistent label); a one-line error naming the setting if unloadable."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoTokenizer, T5ForTokenClassification

        force_offline()
        set_torch_threads(self.threads)
        foundation = self.foundation_location()
        try:
            base = AutoConfig.from_pretrained(foundation, num_labels=len(self.labels))
            tokenizer = AutoTokenizer.from_pretrained(foundation)
            model = T5ForTokenClassification(base).eval()
            state = {k.removeprefix(WEIGHTS_PREFIX): v for k, v in load_file(self.location / WEIGHTS).items()}
            missing, unexpected = model.load_state_dict(state, strict=False)
        except (OSError, ValueError, RuntimeError, SafetensorError) as error:
            detail = f"{type(error).__name__} loading it or its foundation {foundation}"
            raise ModelNotFoundError(SETTING, str(self.location), detail) from None
        if set(missing) - TIED or unexpected:
            detail = f"{WEIGHTS} does not fit {foundation}: {len(missing)} missing, {len(unexpected)} unexpected"
            raise ModelNotFoundError(SETTING, str(self.location), detail)
        return tokenizer, model, entailment_index(self.labels)

    def warm_up(self) -> None:
        _ = self._loaded

    def log_odds(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return batched_by_length(pairs, self.batch_size, self._batch)

    def _batch(self, pairs: list[tuple[str, str]]) -> list[float]:
        import torch

        tokenizer, model, index = self._loaded
        texts = [self.prompt.format(text1=premise, text2=claim) for premise, claim in pairs]
        inputs = tokenizer(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        with torch.inference_mode():
            logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits[:, 0, :]
        return entailment_log_odds(logits.numpy(), index)


def build_hhem(settings: Settings) -> NliScorer:
    """The "hhem" scorer for the checkpoint in settings.verifier_path; reads only its small config files."""
    location, config = local_checkpoint(SETTING, settings.verifier_path, "hhem")
    classifier = HhemClassifier(location, config, settings.threads)
    return NliScorer(classifier, configured_threshold(settings), WINDOW_WORDS, name="hhem")
