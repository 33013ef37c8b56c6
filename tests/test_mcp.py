"""The MCP server, driven by the official `mcp` client library, which starts it as a subprocess on stdio and
calls both tools: the same JSON as `rag search --json` and `rag ask --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from rag.fakes import fake_pipeline

from .conftest import REPO

QUESTION = "When did the railway open?"
FAKE_SERVER = "from rag.fakes import fake_pipeline; import rag.mcp_server as m; m.serve_stdio(fake_pipeline())"
ENV = {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def without_timings(answer: dict[str, Any]) -> dict[str, Any]:
    return {**answer, "timings": {}}


async def session(args: list[str], calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[Any]]:
    """Start the server with `python ARGS`, list its tools and make the calls; (tool names, results)."""
    server = StdioServerParameters(command=sys.executable, args=args, env={**os.environ, **ENV}, cwd=str(REPO))
    async with Client(server, read_timeout_seconds=600) as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        results = [await client.call_tool(name, arguments) for name, arguments in calls]
    return tools, results


def parsed(result: Any) -> Any:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


def test_mcp_client_calls_search_and_ask_over_stdio() -> None:
    calls = [("search", {"query": QUESTION, "k": 2}), ("ask", {"question": QUESTION}), ("ask", {"question": " "})]
    tools, (searched, asked, empty) = anyio.run(session, ["-c", FAKE_SERVER], calls)
    assert sorted(tools) == ["ask", "search"]
    local = fake_pipeline()
    assert parsed(searched) == [p.to_dict(n) for n, p in enumerate(local.search(QUESTION, k=2), start=1)]
    assert without_timings(parsed(asked)) == without_timings(local.ask(QUESTION).to_dict())
    assert parsed(asked)["answer"] == "The Harbor Valley Railway opened in 1894. [1]"
    assert empty.is_error and "the question is empty" in empty.content[0].text


@pytest.mark.slow
def test_rag_mcp_serves_the_sample_index_like_the_cli(sample_index: Path) -> None:
    query = "When was the Harbor Valley Light Railway Order granted?"
    calls = [("search", {"query": query}), ("ask", {"question": query})]
    args = ["-m", "rag.cli", "mcp", "--index", str(sample_index)]
    _, (searched, asked) = anyio.run(session, args, calls)
    cli = subprocess.run(
        [sys.executable, "-m", "rag.cli", "search", query, "--index", str(sample_index), "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, **ENV},
    )
    assert searched.content[0].text + "\n" == cli.stdout  # the very text `rag search --json` prints
    answer = parsed(asked)
    assert answer["question"] == query and set(answer) >= {"answer", "abstained", "sentences", "passages"}
    assert answer["abstained"] or any("1898" in c["quote"] for s in answer["sentences"] for c in s["citations"])
