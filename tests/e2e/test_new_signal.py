"""Adding a signal is one module plus one registration.

This file is the toy signal's module: it declares the signal (columns,
config switch, cost, compute) and registers it, and nothing else in winnow
changes. The signal then shows up in config validation, in the plan and the
help, in records/, and in the summary means.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from winnow.pipelines.cli import build_parser, main
from winnow.transforms.config import load_config
from winnow.transforms.configfiles import ConfigError
from winnow.transforms.signals import registry
from winnow.transforms.signals.base import Context, Signal
from winnow.transforms.signals.scorer import scored_schema

pytestmark = pytest.mark.slow

# ---- the toy signal's module ----------------------------------------------------------------


def _exclamations(ctx: Context) -> dict[str, pa.Array]:
    return {"toy_exclamations": pc.count_substring(ctx.batch.column("response"), "!")}


TOY = Signal(
    name="toy_exclamations",
    label="toy exclamation count",
    cost="cheap",
    switch="signals.toy_exclamations",
    enabled=lambda config: bool(config.signal_options("toy_exclamations")),
    columns=lambda config: [pa.field("toy_exclamations", pa.int32())],
    compute=_exclamations,
    means=("toy_exclamations",),
    options=bool,
    summary="exclamation marks in the response",
)

# ---- the tests -------------------------------------------------------------------------------


@pytest.fixture
def toy() -> Iterator[Signal]:
    registry.register(TOY)
    try:
        yield TOY
    finally:
        registry.unregister(TOY.name)


def test_config_validation_knows_the_new_switch(toy):
    assert load_config(overrides={"signals": {"toy_exclamations": True}}).signal_options("toy_exclamations") is True
    assert load_config().signal_options("toy_exclamations") is None  # not set: off
    with pytest.raises(ConfigError, match=r"signals\.toy_exclamations"):
        load_config(overrides={"signals": {"toy_exclamations": "yes please"}})
    with pytest.raises(ConfigError, match=r"did you mean signals\.toy_exclamations"):
        load_config(overrides={"signals": {"toy_exclamation": True}})


def test_unregistered_switch_is_an_unknown_key():
    with pytest.raises(ConfigError, match=r"unknown config key signals\.toy_exclamations"):
        load_config(overrides={"signals": {"toy_exclamations": True}})


def test_schema_and_help_list_the_new_signal(toy):
    on = load_config(overrides={"signals": {"toy_exclamations": True}})
    assert scored_schema(on).field("toy_exclamations").type == pa.int32()
    assert "toy_exclamations" not in scored_schema(load_config()).names
    score_help = build_parser()._subparsers._group_actions[0].choices["score"].format_help()
    assert "toy exclamation count [cheap; signals.toy_exclamations]" in score_help


def test_new_signal_reaches_records_and_summary_means(toy, tmp_path, capsys):
    rows = [
        {"instruction": "Cheer for the team.", "input": "", "output": "Go team! You can do it!"},
        {"instruction": "Say hello.", "input": "", "output": "Hello!"},
        {"instruction": "State a fact.", "input": "", "output": "Water boils at 100 degrees Celsius at sea level."},
    ]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "toy.yaml"
    config.write_text("signals:\n  toy_exclamations: true\n")
    out = tmp_path / "out"
    assert main(["score", str(data), "--output", str(out), "--config", str(config)]) == 0
    assert "toy exclamation count" in capsys.readouterr().err  # the plan names it
    records = pq.read_table(out / "records").sort_by("row")
    assert records.column("toy_exclamations").to_pylist() == [2, 1, 0]
    dataset = json.loads((out / "summary" / "dataset.json").read_text())
    assert dataset["means"]["toy_exclamations"] == pytest.approx(1.0)
    shards = pq.read_table(out / "summary" / "shards.parquet")
    assert shards.column("mean_toy_exclamations").to_pylist() == [pytest.approx(1.0)]
