"""The generation prompt: numbered sources, short grounding instructions and the question.

`build_prompt` numbers the retrieved passages [1]..[n] in rank order, fits as many as the generator's context
allows (cutting the last one at a sentence boundary, never mid-sentence) and returns the passages actually
shown, so citation numbers in the answer map back to them. The format is deterministic: the same question
and passages always give the same prompt.

Where the instructions go is a per-backend default (`instructions_in_system` on the generator class).
MEASUREMENT, on the packaged SmolLM2-135M-Instruct Q4_1 GGUF (llamacpp backend, greedy, max_tokens 80,
8 questions over handmade two-passage source sets: 5 answerable, 3 whose passages are irrelevant):

    instructions in                         cites [n] (answerable)  exact NO_ANSWER (irrelevant)  right fact
    system message                          1/5                     0/3                           1/5 (+date made up)
    user message, before the sources        2/5                     0/3                           1/5
    user message, after the sources         1/5                     0/3                           2/5

So the user message (before the sources) is the default for the local backends (llamacpp, transformers): with a
system message the model also loses its template's default system prompt and cited least. The differences
are small: this 135M model almost never cites on its own and never abstained, answering from its own
knowledge instead, which is why every answer sentence is verified downstream (rag.verify) and uncited or
unsupported sentences are filtered. The openai backend puts instructions in the system message, which
larger served models honour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from rag.generation.base import Generator, Prompt
from rag.generation.grammar import ANSWER_PREFIX, QUOTE_PREFIX, REFUSAL
from rag.records import Passage

NO_ANSWER = REFUSAL

INSTRUCTIONS = (
    "Answer the question using only the sources below. "
    "After every sentence, cite its source number in square brackets, e.g. [1] or [1][2]. "
    f"If the sources do not contain the answer, reply exactly: {NO_ANSWER}"
)
# quote-then-answer (FRONT): copy the supporting sentence first, then answer from it
QUOTE_INSTRUCTIONS = (
    "Find the one sentence in the sources below that answers the question. "
    f"Copy it word for word after {QUOTE_PREFIX.strip()} and close the quote, then give its source number in square "
    f"brackets, e.g. [2]. On the next line, after {ANSWER_PREFIX.strip()} answer the question in one short "
    "sentence using only that quote, ending with the same source number. "
    f"If no sentence answers the question, reply exactly: {NO_ANSWER}"
)

# Tokens kept free for the chat template's role markers, which count_tokens on plain text does not see.
TEMPLATE_RESERVE = 24
SOURCE_SEPARATOR = "\n\n"


def render_question(question: str) -> str:
    """The question as the model sees it: whitespace collapsed, on one labelled line."""
    return f"Question: {' '.join(question.split())}"


def source_header(n: int, passage: Passage) -> str:
    """ "[n] Title (page P / Heading > Subheading)", leaving out what is unknown. An untitled source (a jsonl record
    without one) is named by its document id, not by its file path: the prompt, and so the answer, must not depend
    on where the corpus lies."""
    chunk = passage.chunk
    title = chunk.title or chunk.doc_id
    heading = list(chunk.heading)
    if heading and heading[0].strip() == title.strip():
        heading = heading[1:]
    where = [f"page {chunk.page}"] if chunk.page is not None else []
    if heading:
        where.append(" > ".join(heading))
    return f"[{n}] {title}" + (f" ({' / '.join(where)})" if where else "")


def render_source(n: int, passage: Passage) -> str:
    return f"{source_header(n, passage)}\n{passage.chunk.text.strip()}"


def render_prompt(
    question: str, sources: Sequence[str], instructions_in_system: bool, instructions: str = INSTRUCTIONS
) -> Prompt:
    """Assemble the prompt from already rendered sources."""
    body = "Sources:\n" + SOURCE_SEPARATOR.join(sources) if sources else "Sources: none"
    user = f"{body}\n\n{render_question(question)}"
    if instructions_in_system:
        return Prompt(system=instructions, user=user)
    return Prompt(system="", user=f"{instructions}\n\n{user}")


def cut_to_sentences(passage: Passage, fits: Callable[[Passage], bool]) -> Passage | None:
    """The passage shortened to its longest prefix of whole sentences that `fits`, or None if none does."""
    chunk = passage.chunk
    best: Passage | None = None
    for count in range(1, len(chunk.sentences) + 1):
        kept = chunk.sentences[:count]
        text = chunk.text[: kept[-1].end - chunk.start]
        candidate = replace(passage, chunk=replace(chunk, text=text, end=chunk.start + len(text), sentences=kept))
        if not fits(candidate):
            break
        best = candidate
    return best


def fit_passage(passage: Passage, n: int, budget: int, generator: Generator) -> tuple[Passage, str, int] | None:
    """(passage, rendered source, token cost) of source [n] cut to fit `budget` tokens, or None if nothing fits."""

    def cost(candidate: Passage) -> int:
        return generator.count_tokens(render_source(n, candidate) + SOURCE_SEPARATOR)

    chosen = passage if cost(passage) <= budget else cut_to_sentences(passage, lambda c: cost(c) <= budget)
    if chosen is None:
        return None
    return chosen, render_source(n, chosen), cost(chosen)


def build_prompt(
    question: str,
    passages: Sequence[Passage],
    generator: Generator,
    max_tokens: int,
    instructions: str = INSTRUCTIONS,
) -> tuple[Prompt, list[Passage]]:
    """The prompt for `question` and the passages included in it, numbered [1]..[n] in that order.

    Passages are added in rank order while they fit in generator.context_tokens - max_tokens - the tokens of
    the instructions and question. One that does not fit whole is cut at a sentence boundary; one of which
    not even the first sentence fits is dropped.
    """
    in_system = bool(getattr(generator, "instructions_in_system", False))
    frame = render_prompt(question, [], in_system, instructions)
    budget = generator.context_tokens - max_tokens - TEMPLATE_RESERVE
    budget -= generator.count_tokens(frame.system) + generator.count_tokens(frame.user)
    included: list[Passage] = []
    sources: list[str] = []
    for passage in passages:
        fitted = fit_passage(passage, len(included) + 1, budget, generator)
        if fitted is None:
            continue
        chosen, source, cost = fitted
        budget -= cost
        included.append(chosen)
        sources.append(source)
    return render_prompt(question, sources, in_system, instructions), included
