"""Open a report in headless Chromium at a laptop's size, check it renders, screenshot it.

    python tools/screenshot_report.py REPORT_DIR OUT.png

Checks what a reader would notice: every image loaded, every table has rows,
no console or page errors, the within-noise figure comes first. Prints the
problems and exits 1 when there are any (the screenshot is written anyway),
2 when Chromium or playwright is missing. Uses the system Chromium
(``CHROMIUM``, default /usr/bin/chromium) through PyPI ``playwright``; it
never downloads a browser.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A 14-inch laptop's browser window.
VIEWPORT = {"width": 1366, "height": 768}
FIRST_FIGURE = "fig-within_noise"


@dataclass
class PageCheck:
    """What the browser saw."""

    images: list[dict[str, Any]] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    first_figure_top: float = float("nan")
    page_width: int = 0
    text: str = ""

    def problems(self) -> list[str]:
        out = [
            f"image not loaded: {i['figure'] or i['alt'][:60]}" for i in self.images if not i["w"]
        ]
        out += [f"table without rows: {t['head'][:80]!r}" for t in self.tables if t["rows"] < 1]
        out += [f"console error: {e}" for e in self.console_errors]
        out += [f"page error: {e}" for e in self.page_errors]
        if not self.figures or self.figures[0] != FIRST_FIGURE:
            out.append(f"first figure is {self.figures[:1]}, not {FIRST_FIGURE}")
        elif not self.first_figure_top < VIEWPORT["height"]:
            out.append(f"the first figure starts at {self.first_figure_top:.0f}px, below the fold")
        if self.page_width > VIEWPORT["width"]:
            out.append(f"the page scrolls sideways ({self.page_width}px wide)")
        return out


def missing() -> str:
    """Why the browser cannot run here ('' when it can)."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (set CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; never `playwright install`)"
    return ""


_COLLECT = """() => ({
  images: [...document.images].map(i => ({
    alt: i.alt, w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width,
    figure: i.closest('figure') ? i.closest('figure').id : ''})),
  tables: [...document.querySelectorAll('table')].map(t => ({
    rows: [...t.querySelectorAll('tr')].filter(r => r.querySelector('td')).length,
    head: (t.querySelector('tr') || {innerText: ''}).innerText})),
  figures: [...document.querySelectorAll('figure')].map(f => f.id),
  firstTop: document.querySelector('figure') ?
    document.querySelector('figure').getBoundingClientRect().top + window.scrollY : NaN,
  width: document.documentElement.scrollWidth,
  text: document.body.innerText,
})"""


def inspect_report(report_dir: str | Path, shot: str | Path | None = None) -> PageCheck:
    """Load ``report_dir/report.html`` at :data:`VIEWPORT`, collect a :class:`PageCheck`
    and save a full-page screenshot to ``shot``."""
    from playwright.sync_api import sync_playwright

    page_path = Path(report_dir).resolve() / "report.html"
    if not page_path.is_file():
        raise FileNotFoundError(page_path)
    check = PageCheck()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
            page.on(
                "console",
                lambda m: check.console_errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: check.page_errors.append(str(e)))
            page.goto(page_path.as_uri(), wait_until="load")
            got = page.evaluate(_COLLECT)
            if shot is not None:
                Path(shot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    check.images, check.tables, check.figures = got["images"], got["tables"], got["figures"]
    check.first_figure_top = float(got["firstTop"])
    check.page_width, check.text = int(got["width"]), got["text"]
    return check


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    why = missing()
    if why:
        print(f"cannot screenshot: {why}", file=sys.stderr)
        return 2
    if not (Path(args[0]) / "report.html").is_file():
        print(f"cannot screenshot: no report.html in {args[0]}", file=sys.stderr)
        return 2
    check = inspect_report(args[0], args[1])
    print(
        f"{args[1]}: {len(check.images)} images, {len(check.tables)} tables, "
        f"first figure at {check.first_figure_top:.0f}px"
    )
    for p in check.problems():
        print(f"problem: {p}")
    return 1 if check.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
