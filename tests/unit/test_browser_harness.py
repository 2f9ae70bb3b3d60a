"""The browser harness itself: it renders a page, runs its script and reports console errors."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import browser_page


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "ok.html").write_text(
        "<html><head><link rel=icon href='data:,'></head><body><p id=out>waiting</p>"
        "<script>document.getElementById('out').textContent = 'ran';</script></body></html>"
    )
    (tmp_path / "bad.html").write_text(
        "<html><head><link rel=icon "
        "href='data:,'></head><body><script>undefinedFunction();</script></body></html>"
    )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_renders_and_its_script_runs(site: str) -> None:
    with browser_page() as b:
        b.page.goto(f"{site}/ok.html")
        assert b.page.inner_text("#out") == "ran"
        assert b.errors() == []


def test_an_uncaught_script_error_is_reported(site: str) -> None:
    with browser_page() as b:
        b.page.goto(f"{site}/bad.html")
        assert any("undefinedFunction" in e for e in b.errors())
