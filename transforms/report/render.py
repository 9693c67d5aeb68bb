"""The report page: sections rendered with Jinja2 into one self-contained, deterministic HTML file.

- Self-contained: CSS, JavaScript and SVG inline; the Content-Security-Policy
  (default-src 'none') forbids every network load, and scripts and styles run
  only if their SHA-256 matches the page's own, so a string that escaped
  escaping still could not run (and inline event handlers never do).
- Escaped: Jinja2 autoescaping on every value; the what-if data is JSON with
  <, > and & written as \\u escapes inside a non-executed script block.
- Bounded: at most MAX_BYTES; `render_report` halves the section limits
  until the page fits (it fits at the defaults: see the README).
- Deterministic: no clock, no randomness; sorted keys, fixed number formats.
"""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from winnow.transforms.report.data import RunData
from winnow.transforms.report.sections import Limits, all_sections

MAX_BYTES = 5_000_000
TITLE = "winnow report"


def _asset(name: str) -> str:
    return (resources.files(__package__) / "templates" / name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def content_security_policy(script: str, style: str) -> str:
    """No network load of any kind; only this page's own script and style (by hash); images only as data: URLs."""
    return (
        f"default-src 'none'; script-src '{_sha256(script)}'; style-src '{_sha256(style)}'; img-src data:; "
        "connect-src 'none'; font-src 'none'; media-src 'none'; object-src 'none'; frame-src 'none'; "
        "worker-src 'none'; manifest-src 'none'; base-uri 'none'; form-action 'none'"
    )


def safe_json(value: Any) -> Markup:
    """JSON for a <script type="application/json"> block: sorted keys, and no character that could end the block."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: _asset(name)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def build_html(run: RunData, previous: RunData | None = None, limits: Limits | None = None) -> str:
    """The page for one run (and the drift against `previous`), with the given section limits."""
    sections = all_sections(run, previous, limits or Limits())
    script, style = _asset("report.js"), _asset("report.css")
    whatif = sections["whatif"]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            s=sections,
            css=Markup(style),
            js=Markup(script),
            csp=content_security_policy(script, style),
            whatif_json=safe_json({"columns": whatif["data"], "on_missing_keep": whatif["on_missing_keep"]}),
        )
    )


def render_report(run: RunData, previous: RunData | None = None, max_bytes: int = MAX_BYTES) -> bytes:
    """The page as UTF-8, at most `max_bytes`: the limits are halved until it fits."""
    limits = Limits()
    for _ in range(12):
        page = build_html(run, previous, limits).encode("utf-8")
        if len(page) <= max_bytes:
            return page
        limits = limits.halved()
    raise ValueError(f"the report does not fit in {max_bytes:,} bytes even with the smallest limits")
