"""Scorer "nli": any Hugging Face sequence-classification NLI or fact-checking model, by name or local path.

Works with 3-label NLI cross-encoders (entailment / neutral / contradiction) and 2-label HHEM / MiniCheck
style models (supported / not supported): the model config's id2label names the entailment label, and the
support probability is the softmax of that label. Long premises are scored in windows (max over windows).

`SequenceClassifier` is the shared batched runner; the "trained", "minicheck" and "hhem" scorers use it or
its helpers too, and `NliScorer` (any model that gives log-odds, max over premise windows) is the scorer that
"minicheck" and "hhem" return under their own names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from rag.config import Settings
from rag.errors import ModelNotFoundError
from rag.exports import exported_model, onnx_session
from rag.models import force_offline, resolve_model
from rag.verify.scoring import configured_threshold, sigmoid
from rag.verify.windows import score_windowed

# id2label names (lower-cased) that mean "the premise supports the claim"
ENTAILMENT_NAMES = ("entailment", "entailed", "supported", "support", "consistent", "factual", "true", "yes")
DEFAULT_WINDOW_WORDS = 150
DEFAULT_MAX_LENGTH = 256
DEFAULT_BATCH_SIZE = 32


def entailment_index(id2label: dict[int, str]) -> int:
    """Index of the supporting label; a 2-label model with generic names (LABEL_0/1) uses label 1."""
    for index, name in sorted(id2label.items()):
        if str(name).lower().replace("-", "_") in ENTAILMENT_NAMES:
            return int(index)
    if len(id2label) == 2:
        return 1
    raise ValueError(f"no entailment/supported label among {sorted(id2label.values())}")


def entailment_log_odds(logits: Any, index: int) -> list[float]:
    """log(p / (1 - p)) of label `index` under the softmax of each row of a (batch, labels) logits array."""
    import numpy as np

    logits = np.asarray(logits, dtype=np.float64)
    log_probs = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    entail = log_probs[:, index]
    rest = np.log1p(-np.minimum(np.exp(entail), 1 - 1e-7))
    return (entail - rest).tolist()


def batched_by_length(
    pairs: Sequence[tuple[str, str]], batch_size: int, run: Callable[[list[tuple[str, str]]], list[float]]
) -> list[float]:
    """`run` over batches of pairs of similar length (less padding), results in the order of `pairs`."""
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    result = [0.0] * len(pairs)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        for index, value in zip(chunk, run([pairs[i] for i in chunk]), strict=True):
            result[index] = value
    return result


def set_torch_threads(threads: int | None) -> None:
    """Limit PyTorch's CPU threads when the `threads` setting is given."""
    import torch

    if threads:
        torch.set_num_threads(threads)


class LogOddsModel(Protocol):
    """What NliScorer runs: a model loaded at warm_up() that gives support log-odds per (premise, claim)."""

    def warm_up(self) -> None: ...

    def log_odds(self, pairs: Sequence[tuple[str, str]]) -> list[float]: ...


class SequenceClassifier:
    """A (premise, claim) classifier returning the log-odds of its entailment label, batched; loaded at
    `warm_up()` or on first use.

    `quantize` runs the model exported to ONNX with int8 weights (ONNX Runtime, cached like the embedder's
    export); otherwise PyTorch fp32. `joined` feeds each pair as one text, premise + the tokenizer's end token
    + claim (MiniCheck's input), instead of the tokenizer's sentence-pair encoding.
    """

    def __init__(
        self,
        location: str | Path,
        setting: str = "nli_model",
        threads: int | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        quantize: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        joined: bool = False,
    ) -> None:
        self.location, self.setting, self.threads, self.quantize = str(location), setting, threads, quantize
        self.max_length = max_length
        self.batch_size = batch_size
        self.joined = joined

    @cached_property
    def _loaded(self) -> tuple[Any, Any, Callable[..., Any]]:
        return _load(self.location, self.setting, self.threads, self.quantize)

    def warm_up(self) -> None:
        _ = self._loaded

    @property
    def config(self) -> Any:
        return self._loaded[0]

    @property
    def tokenizer(self) -> Any:
        return self._loaded[1]

    @property
    def index(self) -> int:
        return entailment_index(self.config.id2label)

    def log_odds(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """log(p / (1 - p)) of the entailment label per pair; batches are sorted by length. The int8 model
        quantises its activations per batch, so a pair's score moves a little with the pairs beside it (up to
        0.22 log-odds, median 0.04, on 64 CLAPNQ pairs against each scored alone); the calibration and the
        thresholds were chosen on scores batched this way."""
        return batched_by_length(pairs, self.batch_size, self._batch)

    def _encode(self, pairs: list[tuple[str, str]]) -> Any:
        if self.joined:
            end = self.tokenizer.eos_token or self.tokenizer.sep_token
            texts = [f"{premise}{end}{claim}" for premise, claim in pairs]
            return self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="np")
        return self.tokenizer(
            [p for p, _ in pairs],
            [c for _, c in pairs],
            # Premise first; "longest_first" also copes with a claim longer than the window on its own,
            # where "only_first" raises.
            truncation="longest_first",
            max_length=self.max_length,
            padding=True,
            return_tensors="np",
        )

    def _batch(self, pairs: list[tuple[str, str]]) -> list[float]:
        import numpy as np

        inputs = self._encode(pairs)
        logits = self._loaded[2]({name: np.asarray(value, dtype=np.int64) for name, value in inputs.items()})
        return entailment_log_odds(logits, self.index)


def _load(location: str, setting: str, threads: int | None, quantize: bool) -> tuple[Any, Any, Callable[..., Any]]:
    """(config, tokenizer, run: inputs -> logits array); a one-line error naming the setting if absent."""
    from transformers import AutoConfig, AutoTokenizer

    force_offline()
    try:
        config = AutoConfig.from_pretrained(location)
        tokenizer = AutoTokenizer.from_pretrained(location)
        run = _onnx_runner(location, threads) if quantize else _torch_runner(location, threads)
    except (OSError, ValueError) as error:
        raise ModelNotFoundError(setting, location, type(error).__name__) from None
    return config, tokenizer, run


def _torch_runner(location: str, threads: int | None) -> Callable[[dict[str, Any]], Any]:
    import torch
    from transformers import AutoModelForSequenceClassification

    set_torch_threads(threads)
    model = AutoModelForSequenceClassification.from_pretrained(location, dtype=torch.float32).eval()

    def run(inputs: dict[str, Any]) -> Any:
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.float().numpy()

    return run


def _onnx_runner(location: str, threads: int | None) -> Callable[[dict[str, Any]], Any]:
    import numpy as np

    session = onnx_session(exported_model(location, quantized=True, head="logits"), threads)
    names = [i.name for i in session.get_inputs()]

    def run(inputs: dict[str, Any]) -> Any:
        feed = {name: inputs.get(name, np.zeros_like(inputs["input_ids"])) for name in names}
        return session.run(None, feed)[0]

    return run


class NliScorer:
    """Support probability = the entailment softmax of an NLI model (any LogOddsModel), max over premise windows."""

    def __init__(
        self,
        classifier: LogOddsModel,
        threshold: float = 0.5,
        window_words: int = DEFAULT_WINDOW_WORDS,
        name: str = "nli",
    ) -> None:
        self.classifier = classifier
        self.threshold = threshold
        self.window_words = window_words
        self.name = name

    def warm_up(self) -> None:
        self.classifier.warm_up()

    def score(self, premise: str, claim: str) -> float:
        return self.score_batch([(premise, claim)])[0]

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        log_odds = score_windowed(pairs, self.classifier.log_odds, self.window_words)
        return [sigmoid(value) for value in log_odds]


def build_nli(settings: Settings) -> NliScorer:
    """The "nli" scorer from settings.nli_model (a hub id in the local cache or a directory)."""
    if not settings.nli_model:
        raise ModelNotFoundError("nli_model", "", "scorer=nli needs nli_model set")
    location = resolve_model("nli_model", settings.nli_model)
    classifier = SequenceClassifier(location, "nli_model", settings.threads)
    return NliScorer(classifier, configured_threshold(settings))
