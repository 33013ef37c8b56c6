"""Load benchmark of the HTTP service: requests/second and p50/p95 latency of GET /search and POST /ask at 1, 4
and 16 concurrent clients, measured from this process against a server in a second process on loopback.

    python bench/serve_load.py --index indexes/sample          # the real default models
    python bench/serve_load.py --fake                          # a model-free pipeline: a quick run
    python bench/serve_load.py --url http://127.0.0.1:8000     # a server that is already running

Each (endpoint, clients) level stops after --requests requests or --seconds seconds, whichever comes first.
Latency percentiles count successful (200) requests; 429s (queue full) and other failures are counted apart.
Writes bench/out/serve.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = REPO / "data" / "questions.jsonl"
FALLBACK_QUESTIONS = ["When did the railway open?", "Who maintains the locomotives?", "When do trains run?"]
CLIENTS = (1, 4, 16)
ENDPOINTS = ("search", "ask")


@dataclass
class Level:
    """The outcome of one endpoint at one number of concurrent clients."""

    endpoint: str
    clients: int
    requests: int = 0
    ok: int = 0
    rejected: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "latencies_ms"}
        data["seconds"] = round(self.seconds, 3)
        data["rps"] = round(self.ok / self.seconds, 2) if self.seconds else 0.0
        data["p50_ms"] = percentile(self.latencies_ms, 50)
        data["p95_ms"] = percentile(self.latencies_ms, 95)
        return data


def percentile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


def load_questions(path: Path) -> list[str]:
    if not path.exists():
        return FALLBACK_QUESTIONS
    return [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------- client


async def one_request(client: Any, endpoint: str, question: str) -> int:
    if endpoint == "search":
        response = await client.get("/search", params={"q": question})
    else:
        response = await client.post("/ask", json={"question": question})
    return response.status_code


async def run_level(
    base_url: str, endpoint: str, clients: int, questions: list[str], budget: tuple[int, float, float]
) -> Level:
    """`clients` concurrent loops sending requests until the count or time budget is spent (requests
    already sent then finish, each within the client timeout)."""
    import httpx

    limit, seconds, client_timeout = budget
    level = Level(endpoint, clients)
    counter = iter(range(limit))
    started = time.perf_counter()
    deadline = started + seconds

    async def client_loop(http: httpx.AsyncClient) -> None:
        for n in counter:
            if time.perf_counter() >= deadline:
                return
            sent = time.perf_counter()
            try:
                status = await one_request(http, endpoint, questions[n % len(questions)])
            except httpx.HTTPError:
                status = 0  # no response: connection error or client timeout
            record(level, status, (time.perf_counter() - sent) * 1000)

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=client_timeout, limits=limits) as http:
        await asyncio.gather(*(client_loop(http) for _ in range(clients)))
    level.seconds = time.perf_counter() - started
    return level


def record(level: Level, status: int, latency_ms: float) -> None:
    level.requests += 1
    if status == 200:
        level.ok += 1
        level.latencies_ms.append(latency_ms)
    elif status == 429:
        level.rejected += 1
    else:
        level.failed += 1
        level.failures[str(status)] = level.failures.get(str(status), 0) + 1


# --------------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_command(args: argparse.Namespace, port: int) -> list[str]:
    # -P: the script folder holds bench/ingest.py, which must not shadow the `ingest` package.
    command = [sys.executable, "-P", str(Path(__file__).resolve()), "--serve-only", "--port", str(port)]
    command += ["--fake", "--fake-delay", str(args.fake_delay)] if args.fake else ["--index", str(args.index)]
    return [*command, "--generation-queue", str(args.generation_queue)]


@contextmanager
def server_process(args: argparse.Namespace) -> Iterator[str]:
    """A server in a second process on a free loopback port; yields its URL once /health answers."""
    import httpx

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    log_path = args.out.with_suffix(".server.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    process = subprocess.Popen(server_command(args, port), env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + args.startup_timeout
        while True:
            if process.poll() is not None:
                tail = log_path.read_text().strip().splitlines()[-1:] or ["(no output)"]
                raise SystemExit(f"the server exited with status {process.returncode}: {tail[0]} (log: {log_path})")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not answer /health within {args.startup_timeout} s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def run_server(args: argparse.Namespace) -> None:
    """The --serve-only child: the fake or the real pipeline behind uvicorn."""
    from rag.config import Settings

    options = {"generation_queue": args.generation_queue}
    if not args.fake:
        from rag.errors import RagError
        from rag.serve import serve

        try:
            serve(Settings().with_overrides(index=args.index), "127.0.0.1", args.port, **options)
        except RagError as error:
            raise SystemExit(f"error: {error}") from None
        return
    import uvicorn

    from rag.fakes import fake_pipeline
    from rag.serve import create_app

    settings = Settings()
    app = create_app(settings, fake_pipeline(settings, delay_s=args.fake_delay), **options)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


# -------------------------------------------------------------------------------------------- report


def markdown(levels: list[Level]) -> str:
    rows = [
        "| endpoint | clients | requests | ok | 429 | failed | req/s | p50 ms | p95 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in levels:
        s = level.summary()
        rows.append(
            f"| {s['endpoint']} | {s['clients']} | {s['requests']} | {s['ok']} | {s['rejected']} | {s['failed']} "
            f"| {s['rps']} | {s['p50_ms']} | {s['p95_ms']} |"
        )
    return "\n".join(rows)


def measure(args: argparse.Namespace, base_url: str) -> list[Level]:
    questions = load_questions(args.questions)
    levels = []
    for endpoint in args.endpoints:
        budget = (args.requests if endpoint == "search" else args.ask_requests, args.seconds, args.client_timeout)
        for clients in args.clients:
            level = asyncio.run(run_level(base_url, endpoint, clients, questions, budget))
            print(f"{endpoint:>6} x{clients:<3} {level.summary()['rps']} req/s", file=sys.stderr)
            levels.append(level)
    return levels


def write(args: argparse.Namespace, levels: list[Level], target: str) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "target": target,
        "fake": args.fake,
        "index": None if args.fake or args.url else str(args.index),
        "budget": {
            "requests": args.requests,
            "ask_requests": args.ask_requests,
            "seconds": args.seconds,
            "client_timeout": args.client_timeout,
        },
        "generation_queue": args.generation_queue,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.write_text(json.dumps({"meta": meta, "results": [level.summary() for level in levels]}, indent=2) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--index", type=Path, default=Path("indexes/sample"), help="index for the real models")
    target.add_argument("--fake", action="store_true", help="serve the model-free fake pipeline")
    target.add_argument("--url", help="benchmark an already running server instead of starting one")
    parser.add_argument("--clients", type=int, nargs="+", default=list(CLIENTS))
    parser.add_argument("--endpoints", nargs="+", choices=ENDPOINTS, default=list(ENDPOINTS))
    parser.add_argument("--requests", type=int, default=200, help="at most this many /search requests per level")
    parser.add_argument("--ask-requests", type=int, default=48, help="at most this many /ask requests per level")
    parser.add_argument("--seconds", type=float, default=30.0, help="at most this long per level")
    parser.add_argument("--client-timeout", type=float, default=180.0, help="seconds (above the server's 120 s)")
    parser.add_argument("--generation-queue", type=int, default=8, help="server: waiting generations before 429")
    parser.add_argument("--fake-delay", type=float, default=0.002, help="fake pipeline: seconds per token")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--startup-timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "serve.json")
    parser.add_argument("--serve-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve_only:
        run_server(args)
        return
    if args.url:
        levels = measure(args, args.url)
    else:
        with server_process(args) as url:
            levels = measure(args, url)
    write(args, levels, args.url or ("fake" if args.fake else str(args.index)))
    print(markdown(levels))
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
