"""The web page in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): ask a question,
see the streamed draft replaced by the verified answer, reveal a citation's quote, toggle removed sentences.

`make browser-deps` installs Chromium; without it these tests are skipped. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.config import Settings
from rag.fakes import UNSUPPORTED_CLAIM, fake_pipeline
from rag.serve import create_app
from rag.serve.app import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"needs Chromium at {CHROMIUM}: run `make browser-deps` (apt chromium)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (dev extra)")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    settings = Settings(index=tmp_path / "index")
    with serve_in_thread(create_app(settings, fake_pipeline(settings, delay_s=0.03))) as url:
        yield url


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(base_url)
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def ask(page: Any, question: str, policy: str = "") -> None:
    page.fill("#question", question)
    page.select_option("#policy", policy)
    page.click("#ask")


def test_answer_streams_then_shows_verified_citations(page: Any) -> None:
    page.wait_for_selector("#index-info:has-text('3 documents')")
    ask(page, "When did the railway open?")
    page.wait_for_selector("#draft:not([hidden])", timeout=10_000)  # tokens arrive before the verified answer
    page.wait_for_selector("#verified:not([hidden])", timeout=10_000)
    assert page.is_hidden("#draft")
    answer = page.inner_text("#answer")
    assert "The Harbor Valley Railway opened in 1894." in answer and UNSUPPORTED_CLAIM not in answer
    assert "verified" in page.inner_text("#answer-badges")

    page.hover("#answer button.cite")
    page.wait_for_selector("#quote:not([hidden]) mark")
    assert page.inner_text("#quote mark") == "The Harbor Valley Railway opened in 1894."
    assert "Steam services ended in 1962" in page.inner_text("#quote-context")  # the quote in its passage
    assert "history/founding.md" in page.inner_text("#quote-meta")

    assert page.is_hidden("#removed")
    page.check("#show-removed")
    assert UNSUPPORTED_CLAIM in page.inner_text("#raw-answer")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-answer.png"), full_page=True)


def test_flagged_sentences_are_marked_on_request(page: Any) -> None:
    ask(page, "When did the railway open?", policy="annotate")
    page.wait_for_selector("#verified:not([hidden])", timeout=10_000)
    assert UNSUPPORTED_CLAIM not in page.inner_text("#answer")
    page.check("#show-removed")
    flagged = page.locator("#flagged-list .sentence.flagged")
    assert flagged.inner_text().startswith(UNSUPPORTED_CLAIM)
    assert "unsupported" in page.inner_text("#flagged-list .badge")


def test_abstention_says_why(page: Any) -> None:
    ask(page, "Zebras quantum xylophone?")
    page.wait_for_selector("#abstention:not([hidden])", timeout=10_000)
    assert "The corpus does not say." in page.inner_text("#abstain-text")
    assert "no passage relevant enough" in page.inner_text("#abstain-reason")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-abstention.png"), full_page=True)


def test_errors_are_shown(page: Any) -> None:
    ask(page, "x" * 3000)
    page.wait_for_selector("#status.error")
    assert "413" in page.inner_text("#status")


def test_the_page_keeps_the_conversation_and_shows_the_rewritten_follow_up(page: Any) -> None:
    ask(page, "When did the Harbor Valley Railway open?")
    page.wait_for_selector("#turns li", timeout=10_000)
    assert page.is_hidden("#standalone")  # a first question is asked as typed
    ask(page, "And when did it close?")
    page.wait_for_selector("#turns li:nth-child(2)", timeout=10_000)
    assert page.inner_text("#standalone-text") == "When did the Harbor Valley Railway close?"
    assert "asked as: When did the Harbor Valley Railway close?" in page.inner_text("#turns")
    assert "history/founding.md" in page.inner_text("#sources")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-conversation.png"), full_page=True)
    page.click("#new-conversation")
    assert page.is_hidden("#conversation")
    ask(page, "And when did it close?")
    page.wait_for_selector("#turns li", timeout=10_000)
    assert page.is_hidden("#standalone")  # nothing before it to resolve "it" against
