"""`winnow report`: safe, bounded, deterministic, per source, with a what-if and drift, from summaries only."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from html.parser import HTMLParser

import pytest
from conftest import REPORT_SECTIONS
from report_fixtures import make_run

from winnow.pipelines.cli import main
from winnow.pipelines.report import write_report
from winnow.transforms.report import drift
from winnow.transforms.report.data import read_run
from winnow.transforms.report.render import MAX_BYTES, render_report
from winnow.transforms.report.sources import group_sources, source_lines, total_of


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag):
        self._in_script = False


@pytest.fixture(scope="module")
def payload_run(tmp_path_factory) -> str:
    return make_run(str(tmp_path_factory.mktemp("payload") / "run"), rows=3000, shards=6, payload=True)


def test_every_string_from_the_data_is_escaped(payload_run):
    page = render_report(read_run(payload_run)).decode()
    parsed = _Elements()
    parsed.feed(page)
    scripts = [t for t, _ in parsed.tags if t == "script"]
    assert len(scripts) == 2  # the what-if data block and the page's own script, nothing from the data
    assert not [(t, a) for t, a in parsed.tags if any(k.startswith("on") for k in a)]
    assert not [t for t, _ in parsed.tags if t in ("img", "iframe", "object", "embed", "link", "base", "form")]
    assert "&lt;script&gt;window.__pwned = 1" in page  # shown as text
    assert "evil&lt;img src=x onerror=window.__pwned=9&gt;.jsonl" in page  # a file name from the data, escaped too
    assert "window.__pwned" not in "".join(parsed.scripts[-1:])


def test_the_policy_forbids_network_loads_and_pins_the_script_and_style(payload_run):
    page = render_report(read_run(payload_run)).decode()
    csp = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1))
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp and "unsafe" not in csp
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    for text in (script, style):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert not re.search(r"\b(src|href)=\"(https?:)?//", page)  # no URL to load anything from


def test_every_section_is_there(payload_run):
    page = render_report(read_run(payload_run)).decode()
    for section in REPORT_SECTIONS:
        assert f'<section id="{section}">' in page
    assert page.count('<svg class="chart hist"') >= 5


def test_a_generated_run_of_100000_rows_fits_and_renders_the_same_bytes_twice(tmp_path):
    run = make_run(str(tmp_path / "big"), rows=100_000, shards=120, payload=True, seed=5)
    path, size = write_report(run)
    first = open(path, "rb").read()
    path2, _ = write_report(run, output=str(tmp_path / "again.html"))
    assert size == len(first) < MAX_BYTES
    assert open(path2, "rb").read() == first
    assert b"directory (level 1" in first  # 120 files in 2 folders: a source per folder


def test_the_size_budget_halves_the_limits(payload_run):
    full = render_report(read_run(payload_run))
    small = render_report(read_run(payload_run), max_bytes=len(full) // 2)
    assert len(small) <= len(full) // 2


def test_one_family_of_files_shows_in_the_per_source_breakdown(tmp_path):
    run = read_run(make_run(str(tmp_path / "r"), rows=4000, shards=4, boilerplate=0.5, boilerplate_dir="family_a"))
    sources, depth = group_sources(run.shards)
    assert depth is None  # four files: one source each
    rates = {s.name: s.maps["flag_counts"]["special_token_debris"] / s.counts["rows_scored"] for s in sources}
    assert min(r for n, r in rates.items() if n.startswith("family_a")) > 0.4
    assert max(r for n, r in rates.items() if n.startswith("family_b")) < 0.1
    lines = source_lines(run.shards)
    assert lines[0] == "per source (file):" and any("family_a/" in line and "special_token_debris" in line for line in lines)


def test_the_whatif_at_the_configured_threshold_keeps_the_rows_kept_now(payload_run):
    page = render_report(read_run(payload_run)).decode()
    data = json.loads(re.search(r'id="whatif-data">(.*?)</script>', page, re.S).group(1))
    composite = data["columns"]["composite"]
    steps, i = composite["steps"], composite["current"]
    assert steps[i - 2] < 0.3 <= steps[i - 1]  # the slider starts at the stop of the run's keep.min 0.3
    for row in composite["rows"]:
        # Stops are bucket edges (exact counts): today's kept rows lie between the stops around 0.3.
        assert row["at"][i - 1] <= row["kept"] <= row["at"][i - 2]
        assert row["off"] >= row["kept"]


def test_drift_lists_the_moved_rule_of_the_changed_source_first(tmp_path):
    before = read_run(make_run(str(tmp_path / "a"), rows=8000, shards=4, boilerplate=0.02, seed=1))
    after = read_run(make_run(str(tmp_path / "b"), rows=8000, shards=4, boilerplate=0.3, boilerplate_dir="family_a", seed=2))
    same = drift.compare({"all": total_of(before.shards)}, {"all": total_of(before.shards)})
    assert same and not [m for m in same if m.moved]

    def by_name(run):
        sources, _ = group_sources(run.shards)
        return {"all": total_of(run.shards), **{s.name: s for s in sources}}

    moves = drift.compare(by_name(before), by_name(after))
    moved = [m for m in moves if m.moved]
    assert moved[0].stat == "rule special_token_debris"
    assert {m.source for m in moved if m.stat == "rule special_token_debris"} >= {
        "family_a/part0000.jsonl",
        "family_a/part0002.jsonl",
    }
    assert not [m for m in moved if m.stat == "rule special_token_debris" and m.source.startswith("family_b")]
    page = render_report(after, before).decode()
    assert "statistics moved" in page and "Jensen-Shannon" in page


def test_the_command_writes_the_report_and_refuses_an_unfinished_run(payload_run, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", payload_run, "--compare", payload_run, "--output", str(out)]) == 0
    assert out.read_bytes().startswith(b"<!DOCTYPE html>")
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "run.json is missing" in capsys.readouterr().err
