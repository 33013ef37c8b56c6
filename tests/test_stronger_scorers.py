"""The pluggable stronger verifiers. "minicheck" (RoBERTa, DeBERTa-v2 and Flan-T5 checkpoints) and "hhem"
(HHEM-2.1-Open's published layout, run without its code) on tiny random models of the same architectures built
here; "endpoint" (MiniCheck's yes/no prompt) on answers of the OpenAI schema and against a real llama.cpp
server on loopback.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rag.config import Settings, load_settings
from rag.errors import InputError, ModelNotFoundError, RagError
from rag.verify.endpoint import INSTRUCTIONS, EndpointScorer, support_probability
from rag.verify.hhem import HhemClassifier
from rag.verify.nli import NliScorer
from rag.verify.scoring import SupportScorer, load_scorer
from rag.verify.windows import split_windows

from .conftest import free_port, save_word_tokenizer
from .test_scorers import FILLER, NEEDLE, long_premise

CLAIM = "The lighthouse at Carrow Point was automated."
WORDS = sorted(set(re.findall(r"\w+|[^\w\s]+", f"{FILLER} {NEEDLE} {CLAIM} predict premise hypothesis 0 1")))
PAIRS = [
    (NEEDLE, CLAIM),
    (FILLER, CLAIM),
    (f"{FILLER} {NEEDLE}", "The committee adjourned without a vote."),
    (NEEDLE, "The lighthouse was not automated in 1987."),
]
# the published HHEM checkpoint keeps its prompt template in this file; a template of our own words here,
# and a first line that fails if anything runs the file
HHEM_CONFIG_SOURCE = """raise RuntimeError("configuration_hhem_v2.py must be read, never run")


class HHEMv2Config:
    model_type = "HHEMv2"
    foundation = "google/flan-t5-base"
    prompt = "<pad> Does the premise back the hypothesis?\\n\\nPremise: {text1}\\n\\nHypothesis: {text2}"
"""
HHEM_PROMPT = "<pad> Does the premise back the hypothesis?\n\nPremise: {text1}\n\nHypothesis: {text2}"


def tiny(**sizes: Any) -> dict[str, Any]:
    """What every tiny encoder shares: 2 layers of width 16, with weights large enough that a one-token change
    of the input moves the output well past the tests' tolerance."""
    return {
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "hidden_size": 16,
        "intermediate_size": 32,
        "initializer_range": 0.5,
        **sizes,
    }


def save_t5_tokenizer(path: Path) -> int:
    return save_word_tokenizer(
        path, WORDS, ["<pad>", "</s>", "<unk>"], "$A </s>", pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def t5_config(vocab_size: int, **extra: Any) -> Any:
    from transformers import T5Config

    return T5Config(
        vocab_size=vocab_size, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_decoder_layers=2, num_heads=2,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, **extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random RoBERTa sequence classifier with generic labels, saved like MiniCheck-RoBERTa-Large."""
    import torch
    from transformers import RobertaConfig, RobertaForSequenceClassification

    path = tmp_path_factory.mktemp("minicheck-roberta")
    roles = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    size = save_word_tokenizer(
        path, WORDS, ["<s>", "<pad>", "</s>", "<unk>"], "<s> $A </s>", "<s> $A </s> </s> $B </s>",
        cls_token="<s>", sep_token="</s>", **roles,
    )  # fmt: skip
    config = RobertaConfig(
        vocab_size=size, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, num_labels=2, **tiny(),
    )  # fmt: skip
    torch.manual_seed(0)
    RobertaForSequenceClassification(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_deberta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random DeBERTa-v2 (relative attention, like v3) sequence classifier, saved like MiniCheck-DeBERTa."""
    import torch
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    path = tmp_path_factory.mktemp("minicheck-deberta")
    roles = {"bos_token": "[CLS]", "eos_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]"}
    size = save_word_tokenizer(
        path, WORDS, ["[PAD]", "[CLS]", "[SEP]", "[UNK]"], "[CLS] $A [SEP]", "[CLS] $A [SEP] $B [SEP]",
        cls_token="[CLS]", sep_token="[SEP]", **roles,
    )  # fmt: skip
    config = DebertaV2Config(
        vocab_size=size, max_position_embeddings=512, relative_attention=True, position_buckets=64,
        pos_att_type=["p2c", "c2p"], position_biased_input=False, type_vocab_size=0, pad_token_id=0, num_labels=2,
        **tiny(),
    )  # fmt: skip
    torch.manual_seed(0)
    DebertaV2ForSequenceClassification(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_flan_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random T5 seq2seq model whose vocabulary holds "0" and "1", saved like MiniCheck-Flan-T5-Large."""
    import torch
    from transformers import T5ForConditionalGeneration

    path = tmp_path_factory.mktemp("minicheck-flan-t5")
    config = t5_config(save_t5_tokenizer(path))
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_hhem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A directory laid out like the published HHEM-2.1-Open checkpoint around a random T5 token classifier:
    config.json without the template, configuration_hhem_v2.py holding it, model.safetensors with the "t5."
    prefix and without the tied encoder embeddings, and the foundation's config and tokenizer in flan-t5-base/.
    Returns the directory and the model it holds."""
    import torch
    from safetensors.torch import save_file
    from transformers import T5ForTokenClassification

    path = tmp_path_factory.mktemp("hhem")
    foundation = path / "flan-t5-base"
    config = t5_config(save_t5_tokenizer(foundation), num_labels=2)
    config.save_pretrained(foundation)
    torch.manual_seed(0)
    model = T5ForTokenClassification(config).eval()
    tied = "transformer.encoder.embed_tokens.weight"
    state = {f"t5.{k}": v.clone() for k, v in model.state_dict().items() if k != tied}
    save_file(state, path / "model.safetensors")
    labels = {"0": "hallucinated", "1": "consistent"}
    hhem = {"architectures": ["HHEMv2ForSequenceClassification"], "model_type": "HHEMv2", "id2label": labels}
    (path / "config.json").write_text(json.dumps(hhem), encoding="utf-8")
    (path / "configuration_hhem_v2.py").write_text(HHEM_CONFIG_SOURCE, encoding="utf-8")
    return path, model


CHECKPOINTS = {"roberta": "tiny_roberta", "deberta": "tiny_deberta", "flan-t5": "tiny_flan_t5", "hhem": "tiny_hhem"}
WINDOW_WORDS = {"roberta": 300, "deberta": 300, "flan-t5": 500, "hhem": 400}


def checkpoint(request: pytest.FixtureRequest, kind: str) -> Path:
    value = request.getfixturevalue(CHECKPOINTS[kind])
    return value[0] if kind == "hhem" else value


def scorer_for(request: pytest.FixtureRequest, kind: str) -> NliScorer:
    name = "hhem" if kind == "hhem" else "minicheck"
    scorer = load_scorer(Settings(scorer=name, verifier_path=str(checkpoint(request, kind))))
    assert isinstance(scorer, NliScorer)
    return scorer


# ------------------------------------------------------------------ what each model is asked


@pytest.mark.parametrize("kind", ["roberta", "deberta"])
def test_minicheck_classifiers_read_document_end_token_claim(kind: str, request: pytest.FixtureRequest) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = checkpoint(request, kind)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    inputs = tokenizer([f"{NEEDLE}{tokenizer.eos_token}{CLAIM}"], return_tensors="pt")
    with torch.inference_mode():
        expected = torch.softmax(model(**inputs).logits, -1)[0, 1].item()
    scorer = scorer_for(request, kind)
    assert scorer.name == "minicheck" and scorer.threshold == 0.5
    assert scorer.score(NEEDLE, CLAIM) == pytest.approx(expected, abs=1e-5)


def test_minicheck_flan_t5_reads_the_first_decoded_token(tiny_flan_t5: Path) -> None:
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_flan_t5)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_flan_t5).eval()
    inputs = tokenizer([f"predict: {NEEDLE}</s>{CLAIM}"], return_tensors="pt")
    one, zero = tokenizer.convert_tokens_to_ids(["1", "0"])
    with torch.inference_mode():
        logits = model(**inputs, decoder_input_ids=torch.zeros((1, 1), dtype=torch.long)).logits[0, 0]
    expected = torch.softmax(logits[[one, zero]], -1)[0].item()
    scorer = load_scorer(Settings(scorer="minicheck", verifier_path=str(tiny_flan_t5)))
    assert scorer.score(NEEDLE, CLAIM) == pytest.approx(expected, abs=1e-5)


def test_hhem_runs_the_published_layout_without_its_code(tiny_hhem: tuple[Path, Any]) -> None:
    import torch
    from transformers import AutoTokenizer

    path, model = tiny_hhem
    tokenizer = AutoTokenizer.from_pretrained(path / "flan-t5-base")
    inputs = tokenizer([HHEM_PROMPT.format(text1=NEEDLE, text2=CLAIM)], return_tensors="pt")
    with torch.inference_mode():
        logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits[:, 0]
    expected = torch.softmax(logits, -1)[0, 1].item()
    scorer = load_scorer(Settings(scorer="hhem", verifier_path=str(path), support_threshold=0.6))
    assert isinstance(scorer, NliScorer) and isinstance(scorer.classifier, HhemClassifier)
    assert scorer.name == "hhem" and scorer.threshold == 0.6
    assert scorer.classifier.prompt == HHEM_PROMPT, "the template is read from configuration_hhem_v2.py's text"
    assert scorer.score(NEEDLE, CLAIM) == pytest.approx(expected, abs=1e-5)


def test_hhem_template_in_config_json_wins(tiny_hhem: tuple[Path, Any], tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_hhem[0], tmp_path / "hhem")
    (copy / "configuration_hhem_v2.py").unlink()
    config = json.loads((copy / "config.json").read_text())
    prompt = "<pad> premise: {text1} hypothesis: {text2}"
    (copy / "config.json").write_text(json.dumps({**config, "prompt": prompt, "foundation": "flan-t5-base"}))
    scorer = load_scorer(Settings(scorer="hhem", verifier_path=str(copy)))
    assert scorer.classifier.prompt == prompt
    assert 0.0 <= scorer.score(NEEDLE, CLAIM) <= 1.0


# ------------------------------------------------------------------ the scorer protocol, for every kind


@pytest.mark.parametrize("kind", sorted(CHECKPOINTS))
def test_batches_match_one_by_one_and_scores_are_probabilities(kind: str, request: pytest.FixtureRequest) -> None:
    scorer = scorer_for(request, kind)
    assert isinstance(scorer, SupportScorer)
    scorer.warm_up()
    batch = scorer.score_batch(PAIRS)
    assert all(0.0 <= s <= 1.0 for s in batch)
    assert batch == pytest.approx([scorer.score(p, c) for p, c in PAIRS], abs=1e-5)
    assert len(set(batch)) > 1, "the pairs are told apart"


@pytest.mark.parametrize("kind", sorted(CHECKPOINTS))
def test_long_premises_take_the_max_over_windows(kind: str, request: pytest.FixtureRequest) -> None:
    scorer = scorer_for(request, kind)
    assert scorer.window_words == WINDOW_WORDS[kind]
    premise = long_premise(2000)
    windows = split_windows(premise, scorer.window_words)
    assert len(windows) > 3
    each = scorer.score_batch([(window, NEEDLE) for window in windows])
    assert scorer.score(premise, NEEDLE) == pytest.approx(max(each), abs=1e-5)


def test_building_the_scorers_loads_no_model_library(tiny_roberta: Path, tiny_hhem: tuple[Path, Any]) -> None:
    code = (
        "import sys; from rag.config import Settings; from rag.verify.scoring import load_scorer; "
        f"load_scorer(Settings(scorer='minicheck', verifier_path={str(tiny_roberta)!r})); "
        f"load_scorer(Settings(scorer='hhem', verifier_path={str(tiny_hhem[0])!r})); "
        "load_scorer(Settings(scorer='endpoint', verifier_model='m')); "
        "heavy = [m for m in ('torch', 'transformers', 'openai', 'safetensors') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


# ------------------------------------------------------------------ one-line errors


def assert_one_line(error: pytest.ExceptionInfo[Exception], *parts: str) -> None:
    message = str(error.value)
    assert all(part in message for part in parts), message
    assert "\n" not in message
    assert error.value.__cause__ is None


@pytest.mark.parametrize("name", ["hhem", "minicheck"])
def test_unset_or_missing_verifier_path_is_a_one_line_error(name: str, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError) as unset:
        load_scorer(Settings(scorer=name))
    assert_one_line(unset, "verifier_path", "RAG_VERIFIER_PATH", f"scorer={name}")
    missing = str(tmp_path / "no-such-checkpoint")
    with pytest.raises(ModelNotFoundError) as absent:
        load_scorer(Settings(scorer=name, verifier_path=missing))
    assert_one_line(absent, "verifier_path", missing)


@pytest.mark.parametrize("kind", sorted(CHECKPOINTS))
def test_a_checkpoint_without_weights_is_a_one_line_error(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    copy = shutil.copytree(checkpoint(request, kind), tmp_path / kind)
    (copy / "model.safetensors").unlink()
    scorer = load_scorer(Settings(scorer="hhem" if kind == "hhem" else "minicheck", verifier_path=str(copy)))
    with pytest.raises(ModelNotFoundError) as caught:
        scorer.warm_up()
    assert_one_line(caught, "verifier_path", str(copy))


def test_hhem_without_its_foundation_or_template_is_a_one_line_error(
    tiny_hhem: tuple[Path, Any], tmp_path: Path
) -> None:
    copy = shutil.copytree(tiny_hhem[0], tmp_path / "hhem")
    shutil.rmtree(copy / "flan-t5-base")
    with pytest.raises(ModelNotFoundError) as no_foundation:
        load_scorer(Settings(scorer="hhem", verifier_path=str(copy))).warm_up()
    assert_one_line(no_foundation, "verifier_path", "google/flan-t5-base")
    (copy / "configuration_hhem_v2.py").unlink()
    with pytest.raises(ModelNotFoundError) as no_template:
        load_scorer(Settings(scorer="hhem", verifier_path=str(copy)))
    assert_one_line(no_template, "verifier_path", "prompt template")


def test_hhem_weights_of_another_model_are_a_one_line_error(
    tiny_hhem: tuple[Path, Any], tiny_flan_t5: Path, tmp_path: Path
) -> None:
    copy = shutil.copytree(tiny_hhem[0], tmp_path / "hhem")
    shutil.copy(tiny_flan_t5 / "model.safetensors", copy / "model.safetensors")
    with pytest.raises(ModelNotFoundError) as caught:
        load_scorer(Settings(scorer="hhem", verifier_path=str(copy))).warm_up()
    assert_one_line(caught, "verifier_path", "does not fit")


# ------------------------------------------------------------------ endpoint


def completion(content: str, top: list[tuple[str, float]] | None) -> Any:
    """A chat completion of the OpenAI schema whose first answer token had these top logprobs."""
    from openai.types.chat import ChatCompletion

    logprobs = None
    if top is not None:
        candidates = [{"token": token, "logprob": value, "bytes": None} for token, value in top]
        first = {**candidates[0], "top_logprobs": candidates} if candidates else None
        logprobs = {"content": [first] if first else []}
    choice = {
        "index": 0,
        "finish_reason": "length",
        "message": {"role": "assistant", "content": content},
        "logprobs": logprobs,
    }
    return ChatCompletion.model_validate(
        {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]}
    )


@pytest.mark.parametrize(
    ("content", "top", "expected"),
    [
        ("Yes", [("Yes", -0.2), ("No", -1.8), ("The", -3.0)], 0.8320),
        ("No", [("No", -0.1), (" yes", -3.0), ("Yes", -3.0), ("no", -4.0)], 0.0974),
        ("Yes", [("Yes", -0.01), ("Based", -5.0)], 1.0),
        ("Yes.", None, 1.0),
        ("no, it does not", None, 0.0),
        ("The document says so", None, 0.0),
        ("YES", [("Maybe", -0.5), ("The", -1.0)], 1.0),
        ("", [], 0.0),
    ],
)
def test_support_probability_reads_top_logprobs_else_the_text(
    content: str, top: list[tuple[str, float]] | None, expected: float
) -> None:
    choice = completion(content, top).choices[0]
    assert support_probability(choice) == pytest.approx(expected, abs=1e-4)


def test_endpoint_messages_follow_minicheck() -> None:
    default = EndpointScorer(Settings(scorer="endpoint", verifier_model="m"))
    assert default.messages("The doc.", "A claim.") == [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": "Document: The doc.\nClaim: A claim."},
    ]
    own = EndpointScorer(Settings(verifier_model="m", verifier_instructions="Say Yes or No."))
    assert own.messages("d", "c")[0] == {"role": "system", "content": "Say Yes or No."}
    assert own.threshold == 0.5


def test_empty_instructions_from_the_environment_send_no_system_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_VERIFIER_INSTRUCTIONS", "")
    scorer = EndpointScorer(load_settings(scorer="endpoint", verifier_model="bespoke-minicheck"))
    assert scorer.messages("d", "c") == [{"role": "user", "content": "Document: d\nClaim: c"}]


def test_endpoint_needs_a_model() -> None:
    with pytest.raises(InputError) as caught:
        load_scorer(Settings(scorer="endpoint"))
    assert_one_line(caught, "verifier_model", "RAG_VERIFIER_MODEL")


def test_a_dead_endpoint_is_a_one_line_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    scorer = load_scorer(Settings(scorer="endpoint", verifier_base_url=url, verifier_model="m"))
    with pytest.raises(RagError) as caught:
        scorer.score_batch(PAIRS)
    assert_one_line(caught, url, "verifier_base_url", "RAG_VERIFIER_BASE_URL")


@pytest.mark.slow
def test_endpoint_scorer_against_a_local_llama_server(llama_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_TEST_NO_KEY", raising=False)
    settings = {"verifier_base_url": llama_server, "verifier_api_key_env": "RAG_TEST_NO_KEY"}
    scorer = load_scorer(Settings(scorer="endpoint", verifier_model="smollm2-135m-instruct", **settings))
    assert isinstance(scorer, SupportScorer) and scorer.name == "endpoint"
    premise = long_premise(900)
    assert len(split_windows(premise, 400)) > 1
    pairs = [*PAIRS[:2], (premise, CLAIM)]
    scorer.warm_up()
    batch = scorer.score_batch(pairs)
    assert len(batch) == len(pairs) and all(0.0 <= s <= 1.0 for s in batch)
    # SmolLM2 opens with "The" as often as with Yes or No: only the first token's logprobs give these values
    assert any(0.0 < s < 1.0 for s in batch), "the top logprobs were read"
    assert batch == pytest.approx([scorer.score(p, c) for p, c in pairs], abs=0.02)
    text_only = load_scorer(Settings(scorer="endpoint", verifier_model="m", verifier_logprobs=False, **settings))
    assert set(text_only.score_batch(PAIRS[:2])) <= {0.0, 1.0}
    # claims are not windowed: one longer than the server's 2048-token context is refused with HTTP 400
    with pytest.raises(RagError) as refused:
        scorer.score(NEEDLE, " ".join(["lighthouse"] * 3000))
    assert_one_line(refused, llama_server, "HTTP 400", "verifier_model", "verifier_api_key_env")
