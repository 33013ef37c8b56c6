"""training.verifier.windows: in-context training pairs keep their evidence inside one inference window and their
labels as the sources give them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from eval.pairs import load_pairs
from tests.conftest import shared_path
from training.verifier.windows import WINDOW_WORDS, climate_sets, needles, wice_page_windows


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def evidence_set(claim: str, labelled: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"premise": premise, "hypothesis": claim, "label": label} for premise, label in labelled]


def test_a_climate_evidence_set_is_supported_only_with_its_supporting_sentence(tmp_path: Path) -> None:
    support = "Sea ice in the Arctic has shrunk by about 13 percent per decade since 1979."
    others = ["Polar bears hunt seals from the ice.", "The Arctic warms faster than the rest of the planet."]
    rows = evidence_set("Arctic sea ice is shrinking.", [(support, "entailment")] + [(o, "neutral") for o in others])
    rows += evidence_set("Glaciers grow.", [("Glaciers retreat.", "contradiction"), ("Ice is cold.", "neutral")])
    rows += evidence_set("Mixed.", [("A.", "entailment"), ("B.", "contradiction")])
    write_jsonl(tmp_path / "nli" / "climate_fever.jsonl", rows)
    pairs = {p.id.rsplit("-", 1)[0].removeprefix("climate-") + f"-{p.claim}": p for p in climate_sets(tmp_path)}
    assert set(pairs) == {"set-Arctic sea ice is shrinking.", "rest-Arctic sea ice is shrinking.", "set-Glaciers grow."}
    whole, rest = pairs["set-Arctic sea ice is shrinking."], pairs["rest-Arctic sea ice is shrinking."]
    assert whole.label == 1 and support in whole.premise and all(o in whole.premise for o in others)
    assert rest.label == 0 and support not in rest.premise and all(o in rest.premise for o in others)
    assert pairs["set-Glaciers grow."].label == 0  # refuted: not supported


def test_a_needle_sits_inside_a_window_of_other_premises(tmp_path: Path) -> None:
    rows = [
        {
            "premise": f"Town {i} lies on river {i} and has {i} bridges .",
            "hypothesis": f"Town {i} has bridges.",
            "label": "supported" if i % 2 else "refutes",
        }
        for i in range(60)
    ]
    write_jsonl(tmp_path / "nli" / "fever_nli_dev.jsonl", rows)
    made = needles(tmp_path, random.Random(0), count=10)
    assert len(made) == 10
    by_claim = {row["hypothesis"]: row for row in rows}
    for pair in made:
        source = by_claim[pair.claim]
        assert source["premise"] in pair.premise and pair.premise != source["premise"]
        assert len(pair.premise.split()) <= WINDOW_WORDS + 30  # one short filler sentence may run past the budget
        assert pair.label == int(source["label"] == "supported")


@pytest.mark.shared
def test_wice_page_windows_use_train_claims_only_and_hold_their_evidence() -> None:
    wice = shared_path("wice/claims_dev.jsonl")
    measured = {p.claim for split in ("dev", "heldout") for p in load_pairs(wice, "wice", split)}
    made = wice_page_windows(wice.parent.parent)
    assert made and not {p.claim for p in made} & measured
    assert all(len(p.premise.split()) <= WINDOW_WORDS for p in made)
    assert {p.label for p in made} == {0, 1}
