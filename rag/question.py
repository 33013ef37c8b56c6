"""The check every question passes before any work is done: not empty, valid Unicode, within the limit. It is
light on purpose (no model library), so `rag ask` refuses a bad question before anything loads."""

from __future__ import annotations

from rag.errors import InputError, QuestionTooLong
from rag.text import utf8_problem

MAX_QUESTION_CHARS = 2000  # the default of setting max_question_chars


def validate_question(question: str, max_chars: int) -> str:
    """The question stripped; InputError when it is empty or not valid Unicode, QuestionTooLong when over
    `max_chars`."""
    question = question.strip()
    if not question:
        raise InputError("the question is empty")
    problem = utf8_problem(question)
    if problem:
        raise InputError(f"the question is not valid text: {problem}; send UTF-8")
    if len(question) > max_chars:
        raise QuestionTooLong(
            f"the question has {len(question)} characters; the limit is {max_chars} (setting max_question_chars)"
        )
    return question
