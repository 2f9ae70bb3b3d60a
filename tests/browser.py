"""A real headless browser for the web pages' tests: Debian's chromium driven by playwright.

Browsers cannot be downloaded here, so playwright never fetches one: it drives the system's
chromium (`make browser` installs it with apt). A missing browser fails the test that asked for it,
with the command that installs it; it never skips.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from playwright.sync_api import ConsoleMessage, Page, sync_playwright

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("no chromium on PATH: run `make browser` (apt-get install chromium) and try again")


@dataclass
class BrowserPage:
    page: Page
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions seen so far (a page that loads cleanly has none)."""
        return self.console_errors + self.page_errors


@contextmanager
def browser_page(width: int = 1280, height: int = 800) -> Iterator[BrowserPage]:
    """One headless page. Closing the context closes the browser; if the test process dies, the
    playwright driver sees its pipe close and takes chromium down with it."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            seen = BrowserPage(page)

            def on_console(msg: ConsoleMessage) -> None:
                if msg.type == "error":
                    seen.console_errors.append(msg.text)

            page.on("console", on_console)
            page.on("pageerror", lambda exc: seen.page_errors.append(str(exc)))
            yield seen
        finally:
            browser.close()
