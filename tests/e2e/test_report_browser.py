"""The report in a real browser: `winnow score` on rows that carry script payloads, report.html opened in
headless Chromium (Debian's `chromium` package, driven by Playwright's Python client).

Checked: no console error and no network request; every section there, every chart a non-empty SVG;
the payloads did not run (title and sentinel unchanged); the what-if slider answers; a screenshot.

Without Chromium (or Playwright) the test fails: .ci/run installs both, and a report nobody opened
in a browser is not tested. Locally, WINNOW_SKIP_BROWSER=1 turns the failure into a skip, except
under CI (CI=true), where it is ignored. WINNOW_CHROMIUM names another browser binary;
WINNOW_SCREENSHOT_DIR receives a copy of the screenshot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPORT_SECTIONS, alpaca, jsonl_bytes, score, write_file

pytestmark = pytest.mark.slow

SENTINEL = "window.__winnowSentinel"
PAYLOADS = [
    "<script>window.__winnowSentinel = 'script ran'; document.title = 'pwned';</script>",
    "<img src=x onerror=\"window.__winnowSentinel = 'onerror ran'; document.title = 'pwned'\">",
    "</pre></section><script>window.__winnowSentinel = 'breakout ran'</script>",
    "<svg onload=\"window.__winnowSentinel = 'svg ran'\"></svg>",
    '<iframe src="http://127.0.0.1:9/x"></iframe><img src="https://example.invalid/p.png">',
]


def chromium_path() -> str | None:
    return os.environ.get("WINNOW_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def browser_or_fail() -> str:
    """The Chromium binary; fail (skip only when allowed locally) when it or Playwright is missing."""
    path = chromium_path()
    missing = []
    if path is None:
        missing.append("Chromium (apt-get install chromium; .ci/run installs it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright (pip install -e '.[test]')")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("WINNOW_SKIP_BROWSER") == "1" and os.environ.get("CI", "").lower() not in ("1", "true"):
            pytest.skip(message + " (skipped: WINNOW_SKIP_BROWSER=1)")
        pytest.fail(message)
    assert path is not None
    return path


def _corpus(directory: Path) -> None:
    rows = []
    for i in range(60):
        payload = PAYLOADS[i % len(PAYLOADS)]
        rows.append(
            alpaca(
                f"r{i}", f"Describe topic number {i} and mention {payload}", f"Topic {i} is about {payload} and more text here."
            )
        )
    # Near-duplicates: the same answer to the same prompt three times.
    rows += [
        alpaca(f"d{i}", "Explain why the sky looks blue at noon.", "Sunlight scatters off air molecules; blue scatters most.")
        for i in range(3)
    ]
    rows.append(alpaca("e1", "Say nothing <script>window.__winnowSentinel='x'</script>", ""))
    write_file(directory / "family_a" / "clean.jsonl", jsonl_bytes(rows[:32]))
    # A file name from the data, with markup in it.
    write_file(
        directory / "family_b" / "evil<img src=x onerror=window.__winnowSentinel=1>.jsonl",
        jsonl_bytes(rows[32:]) + b'{"broken <script>window.__winnowSentinel=2</script>\n',
    )


def test_the_report_opens_offline_in_chromium_and_runs_no_payload(tmp_path):
    chromium = browser_or_fail()
    from playwright.sync_api import sync_playwright

    data = tmp_path / "data"
    _corpus(data)
    out = tmp_path / "run"
    assert score(str(data), out) == 0
    report = out / "report.html"
    assert report.exists()
    # The same run rendered again by `winnow report`: the same bytes.
    again = tmp_path / "again.html"
    assert (
        subprocess.run([sys.executable, "-m", "winnow", "report", str(out), "--output", str(again)], check=False).returncode == 0
    )
    assert again.read_bytes() == report.read_bytes()

    url = report.resolve().as_uri()
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("request", lambda r: requests.append(r.url) if r.url != url else None)
        page.on("requestfailed", lambda r: requests.append(f"failed {r.url}") if r.url != url else None)
        page.goto(url, wait_until="load")
        page.wait_for_timeout(300)
        assert page.title() == "winnow report"
        assert page.evaluate(f"typeof {SENTINEL}") == "undefined"
        for section in REPORT_SECTIONS:
            assert page.locator(f"section#{section}").count() == 1, section
        charts = page.evaluate(
            "Array.from(document.querySelectorAll('svg.chart')).map(s => [s.getAttribute('class'), s.querySelectorAll('rect,line').length, s.getBoundingClientRect().width])"
        )
        kinds = {c.split()[1] for c, _, _ in charts}
        assert {"hist", "hbars", "heat", "stacked", "strip"} <= kinds
        assert all(n > 0 and w > 0 for _, n, w in charts)
        # The what-if answers its slider.
        block = page.locator(".whatif[data-col=composite]")
        before = block.locator(".wi-kept").first.text_content()
        block.locator("input").evaluate("(el) => { el.value = el.max; el.dispatchEvent(new Event('input')); }")
        after = block.locator(".wi-kept").first.text_content()
        assert before is not None and after is not None and after != before  # fewer rows kept at the top threshold
        # Sorting a table by a column reorders its rows.
        page.locator("#sources table.sortable th").nth(3).click()
        assert page.title() == "winnow report" and page.evaluate(f"typeof {SENTINEL}") == "undefined"
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert not errors, errors
    assert not requests, requests
    assert shot.stat().st_size > 10_000
    target = os.environ.get("WINNOW_SCREENSHOT_DIR")
    if target:
        os.makedirs(target, exist_ok=True)
        shutil.copy(shot, os.path.join(target, "report.png"))
