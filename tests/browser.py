"""Headless Chromium for the HTML view's tests and screenshots (Debian's `chromium`, driven by Playwright;
no browser is downloaded). `python tests/browser.py` regenerates docs/images/html_view.png."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()),
                shutil.which("chromium") or shutil.which("chromium-browser"))
# Without the background-networking flags Chromium tries to reach the network on start.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


def why_not() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if CHROMIUM is None:
        return "no Chromium: apt-get install chromium (the tests use Debian's, not a downloaded one)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "no Playwright: pip install -e '.[dev]'"
    return None


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="archspec-chromium-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=FLAGS, headless=True,
                                                       viewport={"width": 1440, "height": 900})
            try:
                yield ctx
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def wait_drawn(page: Any, count: int = 1, timeout: float = 60_000) -> None:
    """Wait until the page has drawn its diagram `count` times."""
    page.wait_for_function(f"Number(document.body.dataset.ready || 0) >= {count}", timeout=timeout)


def screenshot(html_path: Path, png: Path, *, actions: Any = None, size: tuple[int, int] = (1440, 900)) -> None:
    with browser() as ctx:
        page = ctx.new_page()
        page.set_viewport_size({"width": size[0], "height": size[1]})
        page.goto(html_path.resolve().as_uri())
        wait_drawn(page)
        if actions:
            actions(page)
        page.screenshot(path=str(png))


if __name__ == "__main__":
    import sys

    import archspec

    root = Path(__file__).resolve().parents[1]
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "docs" / "images" / "html_view.png"
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "googlenet.html"
        archspec.view("googlenet", params={"aux": False}, depth=0, expand=["inception4a"]).save(html)

        def act(page: Any) -> None:
            page.evaluate("archspecView.select('inception4a.b3x3.conv2')")
            page.wait_for_selector("#diagram g.node.sel")
            page.mouse.move(5, 5)
            page.wait_for_timeout(300)

        screenshot(html, out, actions=act, size=(1600, 900))
    print(f"wrote {out}")
