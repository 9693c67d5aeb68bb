"""Score canonical record batches: text statistics, language ID, rules.

`Scorer` is built once per worker from the config; `score` is a pure
function of a batch (plus the loaded models) and returns the batch with
signal columns, `flags` and `severity` appended.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from transforms import classify, code_checks, models, rules, taxonomy, textstats
from transforms.config import ConfigError
from transforms.schema import CANONICAL

TEXT_COLUMNS = ("turns", "system", "instruction", "input", "response", "meta")
DERIVED_TEXT = ("conversation",)


def signal_fields(config: dict[str, Any]) -> list[pa.Field]:
    """The signal columns a config produces, in output order."""
    fields = [pa.field("n_media", pa.int32())]
    for role in ("instruction", "response"):
        fields += [
            pa.field(f"{role}_chars", pa.int64()),
            pa.field(f"{role}_words", pa.int64()),
            pa.field(f"{role}_non_alpha_frac", pa.float32()),
        ]
    if config["signals"]["repetition"]:
        fields += [pa.field(f"response_{k}", pa.float32()) for k in ("dup_line_frac", "top_2gram_frac", "dup_5gram_frac")]
    if config["signals"]["langid"]["enabled"]:
        fields += [
            pa.field("lang", pa.string()),
            pa.field("lang_instruction", pa.string()),
            pa.field("lang_instruction_score", pa.float32()),
            pa.field("lang_response", pa.string()),
            pa.field("lang_response_score", pa.float32()),
        ]
    if config["signals"]["code_checks"]:
        for name in code_checks.COLUMNS:
            if name == "code_languages":
                fields.append(pa.field(name, pa.list_(pa.string())))
            elif name in ("code_fence_unbalanced", "media_placeholder_mismatch"):
                fields.append(pa.field(name, pa.bool_()))
            else:
                fields.append(pa.field(name, pa.int32()))
    if config["taxonomy"]["enabled"]:
        fields += [pa.field("topics", pa.list_(pa.string())), pa.field("relevance", pa.float32())]
    for spec in classify.specs_from_config(config):
        fields += [pa.field(spec.column, pa.float32()), pa.field(spec.entropy_column, pa.float32())]
    return fields


def scored_schema(config: dict[str, Any]) -> pa.Schema:
    base = [f for f in CANONICAL if config["output"]["include_text"] or f.name not in TEXT_COLUMNS]
    tail = [pa.field("flags", pa.list_(pa.string())), pa.field("severity", pa.string())]
    return pa.schema(base + signal_fields(config) + tail)


def check_rules_against_signals(rule_list: list[rules.Rule], config: dict[str, Any]) -> None:
    """Fail before reading data when a rule reads a column no enabled signal makes."""
    available = set(CANONICAL.names) | set(DERIVED_TEXT) | {f.name for f in signal_fields(config)}
    for rule in rule_list:
        missing = rules.columns_needed(rule.when) - available
        if missing:
            hint = ""
            if any(m.startswith("lang") for m in missing):
                hint = " (enable signals.langid.enabled)"
            elif any("dup" in m or "gram" in m for m in missing):
                hint = " (enable signals.repetition)"
            raise ConfigError(
                f"rule {rule.name} (pack {rule.pack}) reads {sorted(missing)}, which no enabled signal produces{hint}; "
                f"or switch the rule off with disable_rules: [{rule.name}]"
            )


def conversation_text(batch: pa.RecordBatch) -> pa.Array:
    """System prompt and every turn's content, joined by newlines."""
    turns = batch.column("turns")
    contents = pa.ListArray.from_arrays(turns.offsets, turns.values.field("content"))
    joined = pc.binary_join(contents, "\n")
    system = batch.column("system")
    return pc.if_else(pc.equal(system, ""), joined, pc.binary_join_element_wise(system, joined, "\n"))


class Scorer:
    """Everything needed to score batches, built once per worker."""

    def __init__(self, config: dict[str, Any], rule_list: list[rules.Rule]):
        self.config = config
        self.rules = rule_list
        self.schema = scored_schema(config)
        self._lid = None
        self.taxonomy = taxonomy.load_taxonomy(config["taxonomy"]["path"]) if config["taxonomy"]["enabled"] else None
        # Seconds spent per stage, for the benchmark's per-stage table.
        self.timings: dict[str, float] = defaultdict(float)

    def _lid_model(self):
        if self._lid is None:
            self._lid = models.load_fasttext(self.config["signals"]["langid"]["model"])
        return self._lid

    def score(self, batch: pa.RecordBatch, base_dir: str | None = None) -> pa.RecordBatch:
        """Signals, flags and severity for one canonical batch.

        `base_dir` is the directory of the batch's input file: relative media
        paths are checked against it.
        """
        n = batch.num_rows
        cfg = self.config["signals"]
        cols: dict[str, pa.Array] = {name: batch.column(name) for name in batch.schema.names}
        t = time.perf_counter()
        cols["conversation"] = conversation_text(batch)
        cols["n_media"] = pc.list_value_length(batch.column("media")).cast(pa.int32())
        for role in ("instruction", "response"):
            stats = textstats.basic_stats(batch.column(role))
            cols[f"{role}_chars"] = pa.array(stats["chars"], pa.int64())
            cols[f"{role}_words"] = pa.array(stats["words"], pa.int64())
            cols[f"{role}_non_alpha_frac"] = pa.array(stats["non_alpha_frac"], pa.float32())
        t = self._tick("text_stats", t)
        if cfg["repetition"]:
            rep = textstats.repetition_stats(batch.column("response"))
            for key, values in rep.items():
                cols[f"response_{key}"] = pa.array(values, pa.float32())
            t = self._tick("repetition", t)
        if cfg["langid"]["enabled"]:
            self._language(batch, cols)
            t = self._tick("langid", t)
        if cfg["code_checks"]:
            types = {f.name: f.type for f in self.schema}
            for name, values in code_checks.code_and_tool_stats(batch, base_dir).items():
                cols[name] = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, types[name])
            t = self._tick("code and tool checks", t)
        if self.taxonomy is not None:
            cols["topics"], cols["relevance"] = taxonomy.match_topics(cols[self.config["taxonomy"]["field"]], self.taxonomy)
            t = self._tick("topics", t)
        fired = rules.evaluate_rules(self.rules, cols, n)
        cols["flags"], cols["severity"] = rules.flag_columns(self.rules, fired)
        t = self._tick("rules", t)
        specs = classify.specs_from_config(self.config)
        if specs:
            # The cascade: rows already condemned by a rule skip the expensive classifiers.
            skip_sev = self.config["cascade"]["skip_severities"]
            skip = pc.is_in(cols["severity"], value_set=pa.array(skip_sev, pa.string())).to_numpy(zero_copy_only=False)
            for spec in specs:
                cols[spec.column], cols[spec.entropy_column] = classify.classify(batch, spec, skip)
            self._tick("classifiers", t)
        return pa.RecordBatch.from_arrays([cols[f.name] for f in self.schema], schema=self.schema)

    def _language(self, batch: pa.RecordBatch, cols: dict[str, pa.Array]) -> None:
        model = self._lid_model()
        max_chars = self.config["signals"]["langid"]["max_chars"]
        for role in ("instruction", "response"):
            texts = models.prepare_texts(batch.column(role).to_pylist(), max_chars)
            labels, probs = models.predict_top(model, texts)
            cols[f"lang_{role}"] = pa.array(labels, pa.string())
            cols[f"lang_{role}_score"] = pa.array(probs, pa.float32())
        # The row's language: the response's, unless the response is a few words
        # (or nothing) and the instruction says more: LID on "Ottawa." is noise.
        use_response = pc.and_(
            pc.not_equal(cols["lang_response"], ""),
            pc.or_(
                pc.greater_equal(cols["response_words"], 5),
                pc.greater_equal(cols["response_chars"], cols["instruction_chars"]),
            ),
        )
        cols["lang"] = pc.if_else(use_response, cols["lang_response"], cols["lang_instruction"])

    def _tick(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.timings[stage] += now - start
        return now


def fired_counts(scored: pa.RecordBatch) -> dict[str, int]:
    """How many rows each rule flagged in a scored batch."""
    flat = pc.list_flatten(scored.column("flags"))
    if len(flat) == 0:
        return {}
    vc = pc.value_counts(flat)
    return {v.as_py(): c.as_py() for v, c in zip(vc.field("values"), vc.field("counts"))}


def severity_of(rule_list: list[rules.Rule]) -> dict[str, str]:
    return {r.name: r.severity for r in rule_list}



