"""Score canonical record batches: every enabled signal, then the rules, then what reads the rules.

`Scorer` is built once per worker from the config; `score` is a pure
function of a batch (plus the models its signals loaded) and returns the
batch with signal columns, `flags` and `severity` appended. Which signals
run, in which order and with which columns, comes from the registry.
A source's shards (config `sources`) get a scorer of their own, with their
rules, that shares the loaded models (`Scorer.for_config`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from winnow.transforms.configfiles import ConfigError
from winnow.transforms.schema import CANONICAL
from winnow.transforms.signals import registry, rules, safety
from winnow.transforms.signals.base import Context, Signal, typed_columns
from winnow.transforms.textviews import conversation_text

if TYPE_CHECKING:
    from winnow.transforms.config import Config

# Config keys a source may change (config.SourceConfig): none of them changes what a signal loads.
_PER_SOURCE = {"disable_rules", "rule_severity", "keep", "dedup", "sources"}
TEXT_COLUMNS = ("turns", "system", "instruction", "input", "response", "meta")
DERIVED_TEXT = ("conversation",)


def scored_schema(config: Config) -> pa.Schema:
    """records/: the canonical columns (text ones unless output.include_text is off), signals, flags, severity."""
    base = [f for f in CANONICAL if config.output.include_text or f.name not in TEXT_COLUMNS]
    tail = [pa.field("flags", pa.list_(pa.string())), pa.field("severity", pa.string())]
    return pa.schema(base + registry.signal_fields(config) + tail)


def check_rules_against_signals(rule_list: list[rules.Rule], config: Config) -> None:
    """Fail before reading data when a rule reads a column no enabled signal makes."""
    available = set(CANONICAL.names) | set(DERIVED_TEXT) | {f.name for f in registry.signal_fields(config)}
    for rule in rule_list:
        missing = rules.columns_needed(rule.when) - available
        if missing:
            makers = [s.switch for s in registry.SIGNALS if missing & {f.name for f in s.columns(config)}]
            hint = f" (enable {', '.join(makers)})" if makers else ""
            raise ConfigError(
                f"rule {rule.name} (pack {rule.pack}) reads {sorted(missing)}, which no enabled signal produces{hint}; "
                f"or switch the rule off with disable_rules: [{rule.name}]"
            )


class Scorer:
    """Everything needed to score batches, built once per worker.

    The rules that fire are `rule_list` less `config.disable_rules`, with
    `config.rule_severity` applied, so a shard's effective config
    (transforms.sources) gives that shard's rules.
    """

    def __init__(self, config: Config, rule_list: list[rules.Rule], resources: dict[str, Any] | None = None):
        self.config = config
        self._given_rules = rule_list
        self.rules = rules.configured(rule_list, config.disable_rules, config.rule_severity)
        self.schema = scored_schema(config)
        self.signals = registry.enabled(config)
        self._fields = {s.name: s.columns(config) for s in self.signals}
        # Models and indexes, loaded on first use (once per worker process), by signal name.
        self._resources: dict[str, Any] = {} if resources is None else resources
        # Seconds spent per stage, for the benchmark's per-stage table.
        self.timings: dict[str, float] = defaultdict(float)

    def for_config(self, config: Config) -> Scorer:
        """A scorer for another effective config of the run (a source's), sharing this one's models.

        A source overrides rules, the keep policy and dedup.text only, never a
        signal's settings, so every model is loaded once; a config that differs
        elsewhere loads its own.
        """
        same = config.model_dump(exclude=_PER_SOURCE) == self.config.model_dump(exclude=_PER_SOURCE)
        return Scorer(config, self._given_rules, self._resources if same else None)

    def load_models(self) -> None:
        """Load every enabled signal's models and indexes now (a worker's setup), not on the first batch."""
        for signal in self.signals:
            self._resource(signal)

    def _resource(self, signal: Signal) -> Any:
        if signal.load is None:
            return None
        if signal.name not in self._resources:
            self._resources[signal.name] = signal.load(self.config)
        return self._resources[signal.name]

    def score(self, batch: pa.RecordBatch, base_dir: str | None = None, dataset: dict[str, Any] | None = None) -> pa.RecordBatch:
        """Signals, flags and severity for one canonical batch.

        `base_dir` is the directory of the batch's input file: relative media
        paths are checked against it. `dataset`: facts counted over the whole
        dataset before scoring (answer reuse), passed to every signal.
        """
        cols: dict[str, Any] = {name: batch.column(name) for name in batch.schema.names}
        cols["conversation"] = conversation_text(batch)
        ruled = False
        for signal in self.signals:
            if signal.phase == "after_rules" and not ruled:
                self._apply_rules(cols, batch.num_rows)
                ruled = True
            self._run(signal, batch, cols, base_dir, dataset or {})
        if not ruled:
            self._apply_rules(cols, batch.num_rows)
        if self.config.safety.redact and self.config.output.include_text:
            _redact_text_columns(cols)
        return pa.RecordBatch.from_arrays([cols[f.name] for f in self.schema], schema=self.schema)

    def _run(
        self, signal: Signal, batch: pa.RecordBatch, cols: dict[str, Any], base_dir: str | None, dataset: dict[str, Any]
    ) -> None:
        t = time.perf_counter()
        ctx = Context(batch, cols, self.config, base_dir, self._resource(signal), dataset)
        cols.update(typed_columns(signal.compute(ctx), self._fields[signal.name]))
        self.timings[signal.name] += time.perf_counter() - t

    def _apply_rules(self, cols: dict[str, Any], n: int) -> None:
        t = time.perf_counter()
        fired = rules.evaluate_rules(self.rules, cols, n)
        cols["flags"], cols["severity"] = rules.flag_columns(self.rules, fired)
        self.timings["rules"] += time.perf_counter() - t


def _redact_text_columns(cols: dict[str, pa.Array]) -> None:
    """PII replaced by placeholders in every text column written to records/ (after all signals ran)."""
    for name in ("instruction", "input", "response", "system"):
        cols[name] = safety.redact(cols[name])
    turns = cols["turns"]
    values = turns.flatten()
    content = safety.redact(values.field("content"))
    structs = pa.StructArray.from_arrays([values.field("role"), content], names=["role", "content"])
    cols["turns"] = pa.ListArray.from_arrays(turns.offsets, structs)


def fired_counts(scored: pa.RecordBatch) -> dict[str, int]:
    """How many rows each rule flagged in a scored batch."""
    flat = pc.list_flatten(scored.column("flags"))
    if len(flat) == 0:
        return {}
    vc = pc.value_counts(flat)
    return {v.as_py(): c.as_py() for v, c in zip(vc.field("values"), vc.field("counts"), strict=True)}
