"""Conversations: each follow-up is rewritten into a standalone question, which is then asked and verified like
any single question (the same `Answerer.ask`), so "and when did it close?" is retrieved, answered and checked
as "When did the Harbor Valley Light Railway close?".

    conversation = Conversation(pipeline, load_rewriter(settings, pipeline))
    turn = conversation.ask("When did the railway open?")
    turn = conversation.ask("And when did it close?")   # turn.standalone is the question that was asked

Two rewriters, chosen by the setting `rewriter` (rag.registry kind "rewriter"):
- `rules` (RuleRewriter): no model, deterministic, instant. A leading "and" / "so" is dropped. A pronoun (it,
  its, she, her, he, him, his, they, them, their) is replaced by what it refers to: the name the previous
  answer gave first when the previous question asked for one ("Who was its first chairman?" ... "When did
  he die?" -> "When did Douglas Ferrier die?"), else the previous question's subject (a name, else a "the
  ..." phrase; the one the turn before also spoke of; a plural one for they). "there" becomes the place the
  previous question named. A follow-up without a verb ("And on the Green timetable?", "What about No. 5?")
  is the previous question with its matching phrase replaced.
- `generator` (GeneratorRewriter): the answer generator is asked to rewrite the question, given the last turns.
`eval/chat_rewrite.py` measures both on data/conversations.jsonl (`rag eval-chat`, docs/results.md); the
rules resolve far more follow-ups there and are the default.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rag import registry
from rag.config import Settings
from rag.errors import InputError
from rag.pipeline import Answerer, Event
from rag.question import validate_question
from rag.records import Answer
from rag.text import wordset
from rag.verify.claims import strip_markers

HISTORY_TURNS = 3  # earlier turns the generator rewriter is shown


QUESTION_WORDS = wordset("what when where who whom whose which why how")
AUXILIARIES = wordset("is are was were be been did does do has have had can could will would should may might must")
VERBS = wordset(
    "open opens opened close closes closed build builds built run runs ran begin began start started end ended "
    "cost costs weigh weighs become became happen happened take took make made join joined leave leaves left "
    "arrive arrived die died include includes hold holds win won work worked carry carried serve served "
    "return returned restore restored found founded grant granted own owns owned reopen reopened design "
    "designed drive drove driven haul hauled name named sell sold buy bought pay paid get go come stop stops "
    "steam steamed manage manages managed organise organises organised live lived"
)
PREPOSITIONS = wordset("at in on for from to by with about of into during before after since until between")
# words that end a subject phrase ("the railway | open", "No. 6 Kestrel | first steamed")
PHRASE_ENDS = VERBS | PREPOSITIONS | AUXILIARIES | wordset("first last originally now today")
CALENDAR = wordset(
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday"
)
# capitalised words that open a name match without being part of the name
NOT_NAMES = (
    QUESTION_WORDS
    | AUXILIARIES
    | PREPOSITIONS
    | CALENDAR
    | wordset("the a an and but so it its she her he his they their this that there these those")
)
# connective openers of a follow-up, dropped: "And when did it close?", "So who built her?"
OPENER = re.compile(r"^\s*(?:(?:and|but|so|also|then|ok(?:ay)?|well|now)\b[\s,]*)+", re.IGNORECASE)
ABOUT = re.compile(r"^\s*(?:what|how)\s+about\s+", re.IGNORECASE)
# a name: capitalised words, joined by "of", "the", "&" or "and" ("Countess of Fennick", "Bryant & Soames"),
# or "No. 3" and the capitalised words after it ("No. 3 Countess of Fennick", "No. 5")
NAME = re.compile(r"(?:\bNo\.\s*\d+|\b[A-Z][\w-]*)(?:\s+(?:(?:of|the|and|&)\s+)?[A-Z][\w-]*)*")
THE = re.compile(r"\bthe\s+")
# where a question is about: "at the Harbor Valley Railway Museum", "in Port Merrow"
PLACE = re.compile(r"\b(?:at|in|to|from)\s+((?:the\s+)?[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)")
# the previous question asked for a name: "Who ...", "Which company ...", "What locomotive ..."
ASKS_FOR_A_NAME = re.compile(rf"^\s*(?:which|what)\s+(?!(?:{'|'.join(AUXILIARIES)})\b)[a-z]+\b", re.IGNORECASE)
LEADING_PREPOSITION = re.compile(rf"^(?:{'|'.join(PREPOSITIONS)})\s+", re.IGNORECASE)
ASKS_FOR_A_PERSON = re.compile(r"^\s*who\b", re.IGNORECASE)
ASKS_WHAT = re.compile(r"^\s*what\b", re.IGNORECASE)
# the main verb of "When did the society ... meet?" comes last
DO_SUPPORT = re.compile(r"\b(?:did|does|do|will|can|could|would|should)\b", re.IGNORECASE)
PRONOUN = re.compile(r"\b(it|its|she|her|he|him|his|they|them|their|there)\b", re.IGNORECASE)
POSSESSIVES = frozenset({"its", "his", "their"})
PERSONAL = frozenset({"she", "her", "he", "him", "his", "they", "them", "their"})
PLURAL = frozenset({"they", "them", "their"})
MOTION_VERBS = frozenset({"get", "go", "travel", "come", "walk", "drive", "cycle", "return", "reach"})


@dataclass(frozen=True, slots=True)
class Exchange:
    """An earlier turn as a rewriter reads it: the question as it was asked (standalone) and the answer text
    without its [n] markers ("" when it abstained)."""

    question: str
    answer: str = ""


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn of a conversation: the question as typed, the standalone question that was asked, and the
    verified Answer to it."""

    question: str
    standalone: str
    answer: Answer

    @property
    def rewritten(self) -> bool:
        return self.standalone != self.question

    def exchange(self) -> Exchange:
        return Exchange(self.standalone, "" if self.answer.abstained else strip_markers(self.answer.answer))

    def header(self) -> dict[str, Any]:
        return {"question": self.question, "standalone": self.standalone, "rewritten": self.rewritten}

    def to_dict(self) -> dict[str, Any]:
        """The turn as JSON: the question, the standalone question, whether they differ, and the Answer's JSON
        (`rag ask --json`)."""
        return {**self.header(), "answer": self.answer.to_dict()}


class Rewriter(Protocol):
    """Rewrites a follow-up into a question that stands alone, given the earlier turns (oldest first)."""

    name: str

    def rewrite(self, question: str, history: Sequence[Exchange]) -> str: ...


# ---------------------------------------------------------------------------------------------- rules


def names(text: str) -> list[str]:
    """The names in a text, in order: capitalised runs without the question words, articles, pronouns and
    dates that open them ("When was No. 6 Kestrel ..." -> "No. 6 Kestrel")."""
    found = []
    for match in NAME.finditer(text):
        words = match.group(0).split()
        while words and words[0].lower() in NOT_NAMES:
            words = words[1:]
        if words:
            found.append(" ".join(words))
    return found


def phrase_words(words: Sequence[str]) -> list[str]:
    """The words of a phrase up to the first verb, preposition or auxiliary."""
    kept: list[str] = []
    for word in words:
        if word.lower() in PHRASE_ENDS:
            break
        kept.append(word)
    return kept


def the_phrase(question: str, start: int) -> list[str]:
    """The words of the "the ..." phrase whose words begin at `start`, up to four, ending before a verb, a
    preposition or another name; when the phrase ends the question after "did/does/will/can ..." its last
    word is the verb ("How many responses did the 2024 visitor survey receive?")."""
    rest = re.findall(r"[\w'-]+", question[start:])
    kept = phrase_words(rest[:4])
    if kept and len(kept) == len(rest) and DO_SUPPORT.search(question[:start]):
        kept = kept[:-1]
    return kept[: name_boundary(kept)]


def name_boundary(words: Sequence[str]) -> int:
    """Where a phrase stops before another name begins: "the diesel locomotive | No 8 Bramble", and after a
    name, before the word that leads to the next ("the Trust | acquire No 8")."""
    capital = [w[:1].isupper() for w in words]
    for i in range(1, len(words)):
        if capital[i] and not capital[i - 1]:
            return i - 1 if capital[0] else i
    return len(words)


def subjects(question: str) -> list[str]:
    """Candidate subjects of a question, best first: its names, each in the fullest "the ..." phrase holding
    it ("Green" -> "the Green timetable"), then its other "the ..." phrases ("the opening train")."""
    phrases = []
    for match in THE.finditer(question):
        kept = the_phrase(question, match.end())
        if kept:
            phrases.append("the " + " ".join(kept))
    found: list[str] = []
    for name in names(question):
        fuller = [p for p in phrases if re.search(rf"\b{re.escape(name)}\b", p)]
        found.append(max(fuller, key=len) if fuller else name)
    found += [p for p in phrases if not any(p in f or f in p for f in found)]
    return list(dict.fromkeys(found))


def referent(pronoun: str, history: Sequence[Exchange]) -> str | None:
    """What a pronoun of the next question refers to.

    - "there": the last place the previous question names ("at the Harbor Valley Railway Museum");
    - when the previous question asked for a name (which / what <noun>, or who and the pronoun is personal):
      the answer's first name, in the fuller form the question gives it ("the Countess" -> "No. 3 Countess of
      Fennick"); after "what is ..." the answer's first name that the question lacks ("Kelbury");
    - else the previous question's subject, looking further back when it has none: the one the turn before
      also spoke of (the topic goes on), a plural one for they / them / their, else the first.
    """
    if not history:
        return None
    last = history[-1]
    places = PLACE.findall(last.question)
    if pronoun == "there" and places:
        return places[-1]
    answered = names(last.answer)
    if ASKS_FOR_A_NAME.match(last.question) or (ASKS_FOR_A_PERSON.match(last.question) and pronoun in PERSONAL):
        if answered:
            fuller = [c for c in subjects(last.question) if answered[0] in c]
            return (fuller or answered)[0]
    elif ASKS_WHAT.match(last.question):
        new = [n for n in answered if n.lower() not in last.question.lower()]
        if new:
            return new[0]
    for back, exchange in enumerate(reversed(history)):
        candidates = subjects(exchange.question)
        if not candidates:
            continue
        if pronoun in PLURAL:
            candidates = [c for c in candidates if c.endswith("s")] or candidates
        earlier = history[-back - 2] if back + 2 <= len(history) else None
        going_on = [c for c in candidates if earlier and topic_word(c) in f"{earlier.question} {earlier.answer}"]
        return (going_on or candidates)[0]
    return None


def topic_word(phrase: str) -> str:
    """The last word of a subject ("No. 8 Bramble" -> "Bramble"): what a later mention of it shares."""
    return phrase.split()[-1]


def possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def replace_pronouns(question: str, history: Sequence[Exchange]) -> str:
    """The question with each pronoun replaced by its referent: possessives (its, his, their, and "her" before
    a noun) as "X's", "there" as "at X" (or "to X" after a verb of motion)."""

    def replacement(match: re.Match[str]) -> str:
        pronoun = match.group(0).lower()
        found = referent(pronoun, history)
        if found is None:
            return match.group(0)
        following = question[match.end() :].split()[:1]
        before = question[: match.start()].split()[-1:]
        if pronoun in POSSESSIVES or (
            pronoun == "her"
            and following
            and following[0].isalpha()
            and following[0].lower() not in PREPOSITIONS | AUXILIARIES
        ):
            return possessive(found)
        if pronoun == "there":
            return f"to {found}" if before and before[0].lower() in MOTION_VERBS else f"at {found}"
        return found

    return PRONOUN.sub(replacement, question)


def fill_ellipsis(fragment: str, history: Sequence[Exchange]) -> str:
    """A follow-up without a verb ("And on the Green timetable?", "What about No. 5?") as the previous question
    with the phrase it stands for replaced: the candidate subject with the same last word, else the first."""
    previous = history[-1].question
    topic = LEADING_PREPOSITION.sub("", fragment.strip(" ?.!"))
    head = topic.split()[-1].lower() if topic.split() else ""
    candidates = [c for c in subjects(previous) if c in previous]
    same_head = [c for c in candidates if c.split()[-1].lower() == head]
    target = (same_head or candidates or [None])[0]
    if target is None:
        return f"{previous.rstrip(' ?')}, {topic}?"
    return previous.replace(target, topic, 1)


def has_verb(text: str) -> bool:
    """Whether a follow-up has a question word, an auxiliary or a verb ("And No. 5?" has none)."""
    return any(w.lower() in QUESTION_WORDS | AUXILIARIES | VERBS for w in re.findall(r"[\w'-]+", text))


def finish(text: str) -> str:
    """One space between words, a capital first letter and a question mark."""
    text = " ".join(text.split()).rstrip(" .?")
    return f"{text[:1].upper()}{text[1:]}?"


class RuleRewriter:
    """Rule-based follow-up rewriting (see the module docstring): no model, deterministic."""

    name = "rules"

    def rewrite(self, question: str, history: Sequence[Exchange]) -> str:
        if not history:
            return question
        opened = OPENER.sub("", question).strip()
        body = ABOUT.sub("", opened).strip()
        if not body:
            return question
        if body != opened or not has_verb(body):
            return finish(fill_ellipsis(body, history))
        rewritten = replace_pronouns(body, history)
        return finish(rewritten) if rewritten != question.strip() else question


# ---------------------------------------------------------------------------------------------- generator

REWRITE_INSTRUCTIONS = (
    "Rewrite the last question so that it can be understood without the conversation: replace words such as "
    "it, she, he, they, there and that with what they refer to. Reply with the rewritten question only."
)


class GeneratorRewriter:
    """The answer generator rewrites the follow-up, shown the last HISTORY_TURNS turns; its first line is the
    question (the typed question when it replies with nothing usable)."""

    name = "generator"

    def __init__(self, generator: Any) -> None:
        self.generator = generator

    def prompt(self, question: str, history: Sequence[Exchange]) -> Any:
        from rag.generation.base import Prompt

        lines = [REWRITE_INSTRUCTIONS, "", "Conversation:"]
        for exchange in history[-HISTORY_TURNS:]:
            lines += [f"User: {exchange.question}", f"Assistant: {exchange.answer or 'I do not know.'}"]
        lines += ["", f"Last question: {question}", "Rewritten question:"]
        return Prompt(system="", user="\n".join(lines))

    def rewrite(self, question: str, history: Sequence[Exchange]) -> str:
        if not history:
            return question
        reply = self.generator.generate(self.prompt(question, history)).strip()
        first = next((line.strip(" \"'*") for line in reply.splitlines() if line.strip(" \"'*")), "")
        first = re.sub(r"^(?:rewritten question|question)\s*:\s*", "", first, flags=re.I).strip(" \"'")
        return finish(first) if re.search(r"\w", first) else question


def build_rules(settings: Settings, answerer: Answerer | None = None) -> RuleRewriter:
    return RuleRewriter()


def build_generator(settings: Settings, answerer: Answerer | None = None) -> GeneratorRewriter:
    """The pipeline's own generator (no second model), else one built from the settings."""
    from rag.generation.base import load_generator

    generator = getattr(answerer, "generator", None) or load_generator(settings)
    return GeneratorRewriter(generator)


def load_rewriter(settings: Settings, answerer: Answerer | None = None, name: str | None = None) -> Rewriter:
    """The rewriter named by the setting `rewriter` (or `name`)."""
    return registry.create("rewriter", name or settings.rewriter, settings, answerer)


# ---------------------------------------------------------------------------------------------- conversations


@dataclass
class Conversation:
    """A conversation with an answerer: the turns so far, and the next question rewritten and asked."""

    answerer: Answerer
    rewriter: Rewriter
    history: list[Exchange] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)

    def standalone(self, question: str) -> str:
        """The question as it will be asked: rewritten against the history (InputError when empty)."""
        typed = validate_question(question, self.answerer.settings.max_question_chars)
        return self.rewriter.rewrite(typed, self.history) if self.history else typed

    def ask(self, question: str, k: int | None = None, policy: str | None = None) -> Turn:
        """Rewrite, ask and verify one question; the turn joins the history."""
        answer: Answer | None = None
        header: dict[str, Any] = {}
        for kind, payload in self.ask_stream(question, k=k, policy=policy):
            if kind == "question":
                header = payload
            elif kind == "answer":
                answer = payload
        assert answer is not None
        return Turn(header["question"], header["standalone"], answer)

    def ask_stream(self, question: str, k: int | None = None, policy: str | None = None) -> Iterator[Event]:
        """("question", {question, standalone, rewritten}) and then the answerer's events for the standalone
        question: ("passages", ...), ("token", ...)..., ("answer", Answer). The turn joins the history."""
        typed = validate_question(question, self.answerer.settings.max_question_chars)
        standalone = self.standalone(typed)
        yield "question", {"question": typed, "standalone": standalone, "rewritten": standalone != typed}
        for kind, payload in self.answerer.ask_stream(standalone, k=k, policy=policy):
            if kind == "answer":
                turn = Turn(typed, standalone, payload)
                self.turns.append(turn)
                self.history.append(turn.exchange())
            yield kind, payload

    def reset(self) -> None:
        self.history.clear()
        self.turns.clear()


def message_text(content: Any) -> str:
    """A chat message's text: a string, or the text parts of a list of content parts (OpenAI's format)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def from_messages(
    answerer: Answerer, rewriter: Rewriter, messages: Sequence[dict[str, Any]]
) -> tuple[Conversation, str]:
    """A conversation rebuilt from chat messages ({"role", "content", "standalone"?}, oldest first; system
    messages ignored) and its last user question, still to be asked. Each earlier user question becomes its
    standalone form: the one the message carries, else rewritten in order."""
    turns = [m for m in messages if m.get("role") in ("user", "assistant")]
    if not turns or turns[-1].get("role") != "user":
        raise InputError("the last message must be the user's question")
    conversation = Conversation(answerer, rewriter)
    pending: str | None = None
    for message in turns[:-1]:
        text = message_text(message.get("content")).strip()
        if message["role"] == "user":
            pending = message.get("standalone") or (rewriter.rewrite(text, conversation.history) if text else None)
        elif pending:
            conversation.history.append(Exchange(pending, strip_markers(text)))
            pending = None
    return conversation, message_text(turns[-1].get("content"))
