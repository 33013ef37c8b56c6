"""The MCP server behind `rag mcp`: the tools `search` and `ask` over the stdio transport, for any client
that speaks the Model Context Protocol (Claude Desktop, IDE agents, the official `mcp` client library).

`search` returns the text `rag search --json` prints (the passages, numbered), `ask` the text of
`rag ask --json` (Answer.to_dict(): the verified answer, every sentence with its citations, quotes and
support, or the abstention and its reason); a user error is the tool's one-line error. Models load before the
server starts reading; one tool call runs at a time, since a local model serves one request at once. Logs go
to stderr: stdout carries the protocol.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from pydantic import Field

from rag.config import PolicyName, RetrievalMode
from rag.errors import RagError
from rag.pipeline import Answerer

INSTRUCTIONS = (
    "grounded-rag answers from an indexed document collection. Use `ask` for a verified answer with numbered "
    "citations and quotes (it abstains with 'The corpus does not say.' when the documents do not support an "
    "answer); use `search` to read the most relevant passages yourself."
)


def build_server(answerer: Answerer) -> Any:
    """An MCPServer with the tools `search` and `ask` over `answerer`."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name="grounded-rag", instructions=INSTRUCTIONS, version="0.1.0")
    lock = threading.Lock()

    @contextmanager
    def one_at_a_time() -> Iterator[None]:
        """One call at a time; a user error (empty question, bad setting) is the tool's one-line error."""
        from mcp.server.mcpserver.exceptions import ToolError

        with lock:
            try:
                yield
            except RagError as error:
                raise ToolError(str(error)) from None

    def search(
        query: Annotated[str, Field(description="what to look for")],
        k: Annotated[int | None, Field(ge=1, le=50, description="passages to return")] = None,
        mode: Annotated[RetrievalMode | None, Field(description="dense | bm25 | hybrid")] = None,
    ) -> str:
        """Retrieve the passages most relevant to a query, best first (the JSON of `rag search --json`)."""
        with one_at_a_time():
            passages = answerer.search(query, k=k, mode=mode)
        return as_json([p.to_dict(n) for n, p in enumerate(passages, start=1)])

    def ask(
        question: Annotated[str, Field(description="the question")],
        k: Annotated[int | None, Field(ge=1, le=50, description="passages to answer from")] = None,
        policy: Annotated[PolicyName | None, Field(description="annotate | filter | strict")] = None,
    ) -> str:
        """Answer from the documents with verified citations, or abstain when they do not say (the JSON of
        `rag ask --json`: answer, abstained, abstain_reason, sentences with citations and quotes, passages)."""
        with one_at_a_time():
            return as_json(answerer.ask(question, k=k, policy=policy).to_dict())

    server.add_tool(search, name="search", structured_output=False)
    server.add_tool(ask, name="ask", structured_output=False)
    return server


def as_json(data: Any) -> str:
    """The text `--json` prints (rag.console.emit_json), without its final newline."""
    return json.dumps(data, ensure_ascii=False, indent=2)


def serve_stdio(answerer: Answerer) -> None:
    """Load the models, then serve MCP over stdin and stdout until the client closes them."""
    answerer.warm_up()
    build_server(answerer).run("stdio")
