"""A screenshot of a command's real output as a terminal shows it (tests/artifacts/, for the README).

The text is what the process printed (captured with NO_COLOR); lines the CLI colours on a terminal (alerts:
red for HIGH, amber otherwise) are coloured the same way here, so the picture matches what people see."""

from __future__ import annotations

import html
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def terminal_screenshot(text: str, name: str, *, command: str) -> Path | None:
    """Render `$ command` and `text` like a dark terminal; returns the PNG path (None without Chromium)."""
    if not CHROMIUM.exists():
        return None

    def line(x: str) -> str:
        style = ' style="color:#ff6b6b;font-weight:bold"' if "*** ALERT HIGH" in x or "UPGRADED to HIGH" in x else ""
        style = style or (' style="color:#f5c542;font-weight:bold"' if "*** ALERT" in x else "")
        return f"<span{style}>{html.escape(x)}</span>"

    body = "\n".join([f'<span style="color:#8be9fd">$ {html.escape(command)}</span>', *map(line, text.splitlines())])
    page_html = (
        '<html><body style="margin:0;background:#1e1f24"><pre style="margin:0;padding:14px 16px;color:#e6e6e6;'
        f'font:13px/1.45 DejaVu Sans Mono,monospace;white-space:pre">{body}</pre></body></html>'
    )
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--headless", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1500, "height": 400})
        page.set_content(page_html)
        page.screenshot(path=str(path), full_page=True)
        browser.close()
    (ARTIFACTS / f"{name}.txt").write_text(text)
    return path
