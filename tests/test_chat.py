"""Conversations: follow-ups rewritten into standalone questions (rules and generator), every turn answered
and verified by the same Answerer.ask, a three-turn conversation on the sample corpus, chat messages rebuilt
into a conversation, and `rag chat` driven through stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ingest.pipeline import Ingestor
from rag import cli
from rag.chat import Conversation, Exchange, GeneratorRewriter, RuleRewriter, from_messages, load_rewriter
from rag.config import Settings
from rag.errors import InputError
from rag.fakes import EchoGenerator, HashingEmbedder, OverlapScorer, ScriptedGenerator
from rag.generation.context import WholePassages
from rag.pipeline import Pipeline
from rag.retrieval.retriever import IndexRetriever
from rag.verify.relevance import AnswerCheck
from rag.verify.verifier import Verifier

from .conftest import DATA, REPO

OPENED = "When did the Harbor Valley Light Railway open to public traffic?"
THREE_TURNS = [OPENED, "And when did it close?", "Who drove its opening train?"]
STANDALONE = [
    OPENED,
    "When did the Harbor Valley Light Railway close?",
    "Who drove the Harbor Valley Light Railway's opening train?",
]


@pytest.fixture(scope="module")
def sample_pipeline(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> Pipeline:
    """The sample corpus indexed with the hashing embedder, answered by the echoing generator."""
    index = tmp_path_factory.mktemp("chat") / "index"
    settings = Settings(index=index)
    embedder = HashingEmbedder(tokenizer)
    Ingestor(settings, embedder=embedder).run([DATA / "corpus"], index)
    retriever = IndexRetriever(index, embedder, settings)
    answers = AnswerCheck(embedder.encode)
    return Pipeline(retriever, WholePassages(), EchoGenerator(), Verifier(OverlapScorer()), answers, settings)


def rewrite(question: str, *history: tuple[str, str]) -> str:
    return RuleRewriter().rewrite(question, [Exchange(q, a) for q, a in history])


def test_rules_resolve_pronouns_against_the_previous_question() -> None:
    first = ("When did the Harbor Valley Light Railway open to public traffic?", "It opened on 14 June 1901.")
    assert rewrite("and when did it close?", first) == "When did the Harbor Valley Light Railway close?"
    assert rewrite("Who drove its opening train?", first) == STANDALONE[2]
    kestrel = ("When was No. 6 Kestrel first steamed?", "Kestrel was first steamed on 8 August 2015.")
    assert rewrite("Where was she built?", kestrel) == "Where was No. 6 Kestrel built?"
    specials = ("Where is Santa's grotto set up for the Santa Specials?", "In the old goods shed.")
    assert rewrite("When do they run?", specials) == "When do the Santa Specials run?"


def test_rules_take_the_name_the_previous_answer_gave() -> None:
    chairman = ("Who was the first chairman of the Society?", "Douglas Ferrier, a schoolteacher, was elected.")
    assert rewrite("When did he die?", chairman) == "When did Douglas Ferrier die?"
    museum = ("Which locomotive is on display at the Harbor Valley Railway Museum?", "No. 1 Merrow is on display.")
    assert rewrite("Since when has it been there?", museum) == (
        "Since when has No. 1 Merrow been at the Harbor Valley Railway Museum?"
    )


def test_rules_complete_a_follow_up_without_a_verb() -> None:
    red = ("How many trains each way run on the Red timetable?", "The Red timetable has 5 trains each way.")
    assert rewrite("And on the Green timetable?", red) == "How many trains each way run on the Green timetable?"
    works = ("What is the works number of No. 3 Countess of Fennick?", "It is 1183.")
    assert rewrite("What about No. 5?", works) == "What is the works number of No. 5?"


def test_rules_leave_standalone_questions_and_first_questions_alone() -> None:
    first = ("How much does the Valley Pass cost?", "It costs £65.")
    assert rewrite("How many levers has Bellhaven signal box?", first) == "How many levers has Bellhaven signal box?"
    assert rewrite("When did it close?") == "When did it close?"


def test_the_generator_rewriter_reads_the_history_and_keeps_its_first_line() -> None:
    generator = ScriptedGenerator("Rewritten question: When did the railway close?\nIt closed in 1961.")
    rewriter = GeneratorRewriter(generator)
    history = [Exchange("When did the railway open?", "It opened in 1901.")]
    assert rewriter.rewrite("and when did it close?", history) == "When did the railway close?"
    shown = generator.prompts[0].user
    assert "User: When did the railway open?" in shown and "Assistant: It opened in 1901." in shown
    assert GeneratorRewriter(ScriptedGenerator("  ")).rewrite("and then?", history) == "and then?"


def test_the_generator_rewriter_uses_the_pipelines_own_generator(sample_pipeline: Pipeline) -> None:
    rewriter = load_rewriter(sample_pipeline.settings, sample_pipeline, "generator")
    assert isinstance(rewriter, GeneratorRewriter) and rewriter.generator is sample_pipeline.generator


def test_three_turns_on_the_sample_corpus_each_verified_like_a_single_question(sample_pipeline: Pipeline) -> None:
    conversation = Conversation(sample_pipeline, RuleRewriter())
    turns = [conversation.ask(question) for question in THREE_TURNS]
    assert [t.standalone for t in turns] == STANDALONE
    assert [t.rewritten for t in turns] == [False, True, True]
    for turn in turns:  # the same Answerer.ask as a single question: the same answer, verified the same way
        alone = sample_pipeline.ask(turn.standalone).to_dict()
        assert {**turn.answer.to_dict(), "timings": {}} == {**alone, "timings": {}}
        assert all(s.supported for s in turn.answer.sentences)
    closing = {p.chunk.doc_id for p in turns[1].answer.passages}
    assert closing & {"history/preservation-era.md", "history/quarry-traffic.txt"}
    assert "history/founding.md" in {p.chunk.doc_id for p in turns[2].answer.passages}
    typed = {p.chunk.doc_id for p in sample_pipeline.ask(THREE_TURNS[2]).passages}
    assert "history/founding.md" not in typed  # the third question depends on the first
    assert turns[2].to_dict()["answer"]["question"] == STANDALONE[2]


def test_stream_announces_the_standalone_question_first(sample_pipeline: Pipeline) -> None:
    conversation = Conversation(sample_pipeline, RuleRewriter())
    conversation.ask(THREE_TURNS[0])
    events = list(conversation.ask_stream(THREE_TURNS[1]))
    assert events[0] == ("question", {"question": THREE_TURNS[1], "standalone": STANDALONE[1], "rewritten": True})
    assert [kind for kind, _ in events if kind != "stage"][1] == "passages" and events[-1][0] == "answer"
    assert len(conversation.history) == 2


def test_messages_rebuild_the_conversation(sample_pipeline: Pipeline) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": THREE_TURNS[0]},
        {"role": "assistant", "content": "It opened on 14 June 1901. [1]"},
        {"role": "user", "content": [{"type": "text", "text": THREE_TURNS[1]}]},
        {"role": "assistant", "content": "The last train ran on 11 March 1961. [2]"},
        {"role": "user", "content": THREE_TURNS[2]},
    ]
    conversation, question = from_messages(sample_pipeline, RuleRewriter(), messages)
    assert question == THREE_TURNS[2]
    assert conversation.history == [
        Exchange(STANDALONE[0], "It opened on 14 June 1901."),
        Exchange(STANDALONE[1], "The last train ran on 11 March 1961."),
    ]
    assert conversation.ask(question).standalone == STANDALONE[2]
    given = [{"role": "user", "content": "and it?", "standalone": "When did No. 2 Ashcombe arrive?"}]
    conversation, _ = from_messages(sample_pipeline, RuleRewriter(), [*given, messages[2], messages[-1]])
    assert conversation.history[0].question == "When did No. 2 Ashcombe arrive?"
    with pytest.raises(InputError, match="last message"):
        from_messages(sample_pipeline, RuleRewriter(), messages[:3])


def test_rag_chat_reads_questions_from_stdin(sample_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Pipeline, "from_settings", classmethod(lambda cls, settings: sample_pipeline))
    typed = "\n".join([THREE_TURNS[0], "", THREE_TURNS[1], "x" * 3000, THREE_TURNS[2], "/quit", "ignored?"])
    result = CliRunner().invoke(cli.app, ["chat", "--index", "unused", "--json"], input=typed + "\n")
    assert result.exit_code == 0, result.output
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert [t["standalone"] for t in turns] == STANDALONE
    assert "error: the question has 3000 characters" in result.stderr


@pytest.mark.slow
def test_rag_chat_with_the_default_models_on_the_sample_index(sample_index: Path) -> None:
    typed = "\n".join(THREE_TURNS) + "\n"
    run = subprocess.run(
        [sys.executable, "-m", "rag.cli", "chat", "--index", str(sample_index), "--json"],
        input=typed,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
        check=True,
    )
    turns = [json.loads(line) for line in run.stdout.splitlines()]
    assert [t["standalone"] for t in turns] == STANDALONE
    for turn in turns:
        answer = turn["answer"]
        assert answer["question"] == turn["standalone"]
        assert answer["abstained"] or all(s["supported"] and s["citations"] for s in answer["sentences"])
    assert "history/founding.md" in {p["doc_id"] for p in turns[2]["answer"]["passages"]}
