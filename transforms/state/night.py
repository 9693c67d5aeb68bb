"""The end of a night: the whole corpus's outputs in RUN_DIR, run.json, then the state committed.

Runs as the scoring job's last step (so a Flex Template launch that nobody
waits for ends committed too) or, on a night that re-scores nothing, in
the driver. Order, each step safe to kill:

1. RUN_DIR is filled: per shard its records/, rejected/ and kept/ files
   (re-scored shards from tonight's version, reused ones from the version
   that scored them, keys rewritten where the shard's index moved);
   duplicates/ merged (state.assemble); summary/ from the shards'
   statistics; summary/drift.json against last night.
2. run.json (run_record.finish_run: every row accounted for).
3. The new version's own files (night/, stats/, refsig/), then state.json,
   then CURRENT flipped (store.commit). Until that flip the last complete
   night stays the baseline, and a rerun repeats tonight from it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.transforms.config import Config
from winnow.transforms.dedup import refbands
from winnow.transforms.dedup.components import partition_of
from winnow.transforms.dedup.params import DUPLICATES, DedupParams
from winnow.transforms.dedup.sidefiles import SIDE_FILE_OPTIONS
from winnow.transforms.io import files, parquet_out
from winnow.transforms.run_layout import RUN_ERROR, RUN_RECORD, top_level_entries
from winnow.transforms.schema import ROW_BITS
from winnow.transforms.signals.rules import Rule
from winnow.transforms.state import assemble, store
from winnow.transforms.state.drift import DRIFT_FILE, night_drift
from winnow.transforms.state.hooks import read_self_bleu, read_stats, self_bleu_path, stats_path, write_self_bleu, write_stats
from winnow.transforms.state.manifest import RESCORE, Decision, ShardDecision
from winnow.transforms.summary.dataset import DatasetSelfBleu, write_summary
from winnow.transforms.summary.run_record import finish_run

SUMMARY, DUPS = "summary", "duplicates"
ID_COLUMNS = ["key", "id", "content_hash"]


@dataclass
class NightSpec:
    """Everything the end of a night needs, decided by the driver before the job starts."""

    state_dir: str
    version: str  # tonight's
    output: str  # RUN_DIR
    config: Config
    rules: list[Rule]
    decision: Decision
    previous: dict[str, Any] | None  # last night's state
    fingerprints: dict[str, Any]
    base: dict[str, Any]  # run.json from the submitting side
    formats: dict[str, str] = field(default_factory=dict)
    rescored_run: bool = False  # a job ran for the re-scored shards (its run directory is run/ in tonight's version)
    # Last night's keys (ascending) of copies in re-scored shards that stay copies (dedup.earlier): carried
    # over from last night's duplicates/ like a reused shard's rows.
    frozen: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # Tonight's new rows (not there last night with the same id and content): every row of these shards
    # (tonight's indices), and these row keys (ascending) of changed shards. Drift's new_duplicate_share.
    new_shards: tuple[int, ...] = ()
    new_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # Filled by assemble_outputs: shard path -> (version, index) of the stats/ file holding its final statistics
    # (tonight's for those written tonight; a reused shard whose statistics did not change keeps its file).
    stats_at: dict[str, tuple[str, int]] = field(default_factory=dict)


def run_dir_of(state_dir: str, version: str) -> str:
    return files.join(store.version_dir(state_dir, version), "run")


def clear_outputs(output: str) -> None:
    """A rerun replaces what a killed run of the same night left in RUN_DIR."""
    for part in top_level_entries():
        path = files.join(output, part)
        if part in (RUN_RECORD, RUN_ERROR):
            if files.exists(path):
                files.delete(path)
        elif files.exists(path):
            files.delete_tree(path)


class _Parts:
    """The part files of each run directory's folder, listed once (a night copies ~100 shards' from two runs)."""

    def __init__(self) -> None:
        self._listed: dict[tuple[str, str], dict[int, list[str]]] = {}

    def of(self, run: str, folder: str, shard_index: int) -> list[str]:
        if (run, folder) not in self._listed:
            self._listed[(run, folder)] = files.match_by_index(files.join(run, folder, "part-*.parquet"), "part-")
        return self._listed[(run, folder)].get(shard_index, [])


def _copy_parts(parts: _Parts, src: str, dst: str, folder: str, old: int, new: int, key_column: str | None) -> None:
    """records/ or rejected/ files of one shard, renamed to tonight's index (keys rewritten if it moved)."""
    prefix = files.join(src, folder, f"part-{old:06d}-")
    for path in parts.of(src, folder, old):
        part = int(path[len(prefix) :].split(".", 1)[0])
        target = files.join(dst, folder, parquet_out.part_name(new, part))
        if old == new or key_column is None:
            files.copy(path, target)
            continue
        with files.open_read(path) as f:
            pfile = pq.ParquetFile(f)
            table = pfile.read()
        table = assemble.remap_column(table, key_column, {old: new})
        parquet_out.write_table(target, table)


def _read_tables(pattern: str, schema: pa.Schema | None = None, columns: list[str] | None = None) -> pa.Table:
    tables = []
    for path in files.match(pattern):
        with files.open_read(path) as f:
            tables.append(pq.read_table(f, columns=columns))
    if not tables:
        return schema.empty_table() if schema is not None else pa.table({})
    return pa.concat_tables(tables)


def read_records(run: str, shard_index: int, columns: list[str]) -> pa.Table:
    """`columns` of one shard's records/ in a run directory (every part)."""
    return _read_tables(files.join(run, "records", f"part-{shard_index:06d}-*.parquet"), columns=columns)


def _write_duplicates(output: str, table: pa.Table, partitions: int) -> None:
    part = partition_of(table.column("cluster_id").to_numpy(), partitions) if table.num_rows else np.zeros(0, np.int64)
    for p in np.unique(part).tolist():
        chunk = table.filter(pa.array(part == p)).sort_by("key")
        parquet_out.write_table(files.join(output, DUPS, parquet_out.partition_name(int(p))), chunk)


def _copy_tree(src: str, dst: str) -> None:
    base = src.rstrip("/") + "/"
    for path in files.match(files.join(src, "**")):
        files.copy(path, files.join(dst, path[len(base) :]))


def _shard_sources(spec: NightSpec) -> list[tuple[Any, str, int, tuple[str, int]]]:
    """Per shard of tonight: (decision, run dir holding its files, its index there, (version, index) of its
    statistics)."""
    out = []
    for d in spec.decision.shards:
        if d.action == RESCORE:
            out.append((d, run_dir_of(spec.state_dir, spec.version), d.shard.index, (spec.version, d.shard.index)))
        else:
            assert spec.previous is not None and d.previous is not None
            # States written before stats_in kept every shard's statistics in each night's own stats/.
            at = (d.previous.get("stats_in", spec.previous["version"]), d.previous.get("stats_index", d.previous["index"]))
            out.append((d, run_dir_of(spec.state_dir, d.previous["scored_in"]), d.previous["scored_index"], at))
    return out


def _stats_dir(state_dir: str, version: str) -> str:
    return files.join(store.version_dir(state_dir, version), "stats")


def _what_changes(s: Any) -> tuple[Any, ...]:
    """What assembling a night can change in a shard's statistics: its near-duplicate counts and clusters, and
    the Self-BLEU memo (a state written before the memo gets it)."""
    clusters = (
        s.clusters.sizes.to_bytes(),
        sorted((c, e["size"], bool(e["kept"]), bool(e["member"])) for c, e in s.clusters.largest.items()),
    )
    return (s.dup_rows, s.dup_removed, s.dup_exact_removed, clusters, getattr(s, "self_bleu_memo", None))


def _reference_rows(spec: NightSpec) -> pa.Table:
    """id, key (tonight's), shard, row of every reference row: the reused shards' rows that are no copy."""
    tables = []
    for d, t in reused_refsigs(spec.state_dir, spec.decision, ["id", "row"]):
        keys = (np.int64(d.shard.index) << ROW_BITS) | t.column("row").to_numpy()
        tables.append(
            pa.table(
                {
                    "id": t.column("id"),
                    "key": pa.array(keys, pa.int64()),
                    "shard": pa.array([d.shard.name] * t.num_rows, pa.string()),
                    "row": t.column("row"),
                }
            )
        )
    if not tables:
        return pa.table(
            {
                "id": pa.array([], pa.string()),
                "key": pa.array([], pa.int64()),
                "shard": pa.array([], pa.string()),
                "row": pa.array([], pa.int64()),
            }
        )
    return pa.concat_tables(tables)


def refsig_path(state_dir: str, version: str, shard_index: int) -> str:
    return files.join(store.version_dir(state_dir, version), "refsig", f"s{shard_index:06d}.parquet")


def reused_refsigs(state_dir: str, decision: Decision, columns: list[str]) -> Iterator[tuple[ShardDecision, pa.Table]]:
    """Each reused shard with `columns` of its reference rows (the rows of it that are no copy), from the
    night that scored it; a shard with no such file is left out."""
    for d in decision.reused():
        assert d.previous is not None
        path = refsig_path(state_dir, d.previous["scored_in"], d.previous["scored_index"])
        if not files.exists(path):
            continue
        with files.open_read(path) as f:
            yield d, pq.read_table(f, columns=columns)


def _write_refsigs(spec: NightSpec, duplicates: pa.Table) -> None:
    """Signatures of tonight's re-scored rows that are no copy, and their band entries: later nights cluster new
    rows against them."""
    run = run_dir_of(spec.state_dir, spec.version)
    dropped = pa.array(assemble.dropped_copies(duplicates), pa.int64())
    params = DedupParams.from_config(spec.config)
    for d in spec.decision.rescored():
        pattern = files.join(run, "signatures", f"s{d.shard.index:06d}-*.parquet")
        if not files.match(pattern):
            continue
        path = refsig_path(spec.state_dir, spec.version, d.shard.index)
        if d.replayed and _same_refsig(spec, d, pattern, dropped, path):
            continue
        table = _read_tables(pattern)
        table = table.filter(pc.invert(pc.is_in(table.column("key"), dropped))).sort_by("key")
        parquet_out.write_table(path, table, SIDE_FILE_OPTIONS)
        # Their band entries too: every later night that reuses the shard reads them instead of hashing again.
        entries, rows = refbands.reference_entries(table.select(refbands.BAND_COLUMNS), params)
        refbands.write_reference_bands(refbands.bands_path(path), entries, rows, params)


def _same_refsig(spec: NightSpec, d: ShardDecision, signatures: str, dropped: pa.Array, path: str) -> bool:
    """A re-decided shard (its signatures those of the night that scored it) at the same index, with the same
    rows no copy as then: that night's reference file and band entries are copied to `path`, not made again."""
    assert d.previous is not None
    if d.previous["scored_index"] != d.shard.index:
        return False
    old = refsig_path(spec.state_dir, d.previous["scored_in"], d.previous["scored_index"])
    if not files.exists(old) or not files.exists(refbands.bands_path(old)):
        return False
    now = _read_tables(signatures, columns=["key"]).column("key")
    now = pc.filter(now, pc.invert(pc.is_in(now, dropped))).to_numpy()
    if not np.array_equal(np.sort(now), np.sort(_read_tables(old, columns=["key"]).column("key").to_numpy())):
        return False
    files.copy(old, path)
    files.copy(refbands.bands_path(old), refbands.bands_path(path))
    return True


class OrphanedCopiesError(RuntimeError):
    """Copies in reused shards whose kept row is gone or no longer kept tonight: their shards must be re-scored."""

    def __init__(self, shards: list[str]):
        super().__init__(f"re-score {len(shards)} more shard(s): their near-duplicates' kept row changed tonight")
        self.shards = shards


def old_kept_rows(state_dir: str, previous: dict[str, Any], orphans: pa.Table) -> dict[int, tuple[str, str]]:
    """Last night's key -> (id, content hash) of each orphaned kept row, from the records of the night that scored it."""
    by_name = {rec["name"]: rec for rec in previous["shards"].values()}
    out: dict[int, tuple[str, str]] = {}
    keys = orphans.column("key").to_numpy()
    for name, group in _group(orphans.column("shard").to_pylist(), keys.tolist()).items():
        rec = by_name.get(name)
        if rec is None:
            continue
        run = run_dir_of(state_dir, rec["scored_in"])
        wanted = {k & ((1 << ROW_BITS) - 1): k for k in group}
        table = read_records(run, rec["scored_index"], ID_COLUMNS)
        if not table.num_rows:
            continue
        for row, i, h in zip(
            (table.column("key").to_numpy() & ((1 << ROW_BITS) - 1)).tolist(),
            table.column("id").to_pylist(),
            table.column("content_hash").to_pylist(),
            strict=True,
        ):
            if row in wanted:
                out[wanted[row]] = (i, h)
    return out


def _group(names: list[str], keys: list[int]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for n, k in zip(names, keys, strict=True):
        out.setdefault(n, []).append(k)
    return out


def _resolve_orphans(spec: NightSpec, previous_all: pa.Table, delta: pa.Table) -> tuple[dict[int, int], pa.Table]:
    """Last night's kept rows in shards re-scored tonight whose copies sit in reused shards: each must be
    tonight's row of the same shard, id and content, and not a copy tonight; returns last night's key ->
    tonight's key, and those rows (id, key, shard, row). Otherwise the copies' shards are re-scored:
    orphans.json names them and OrphanedCopiesError ends the job (the driver runs the night again with them)."""
    assert spec.previous is not None
    reused = {d.shard.name for d in spec.decision.reused()}
    orphans = assemble.orphaned(previous_all, reused, spec.frozen)
    empty = pa.table(
        {
            "id": pa.array([], pa.string()),
            "key": pa.array([], pa.int64()),
            "shard": pa.array([], pa.string()),
            "row": pa.array([], pa.int64()),
        }
    )
    if not orphans.num_rows:
        return {}, empty
    old = old_kept_rows(spec.state_dir, spec.previous, orphans)
    delta_run = run_dir_of(spec.state_dir, spec.version)
    dropped = set(assemble.dropped_copies(delta).tolist())
    rescored = {d.shard.name: d.shard.index for d in spec.decision.rescored()}
    tonight: dict[str, dict[tuple[str, str], int]] = {}
    for name in set(orphans.column("shard").to_pylist()) & set(rescored):
        table = read_records(delta_run, rescored[name], ID_COLUMNS)
        tonight[name] = (
            {
                (i, h): k
                for k, i, h in zip(
                    table.column("key").to_pylist(),
                    table.column("id").to_pylist(),
                    table.column("content_hash").to_pylist(),
                    strict=True,
                )
            }
            if table.num_rows
            else {}
        )
    resolved: dict[int, int] = {}
    rows = []
    unresolved: set[str] = set()
    for k, shard, members in zip(
        orphans.column("key").to_pylist(), orphans.column("shard").to_pylist(), orphans.column("members").to_pylist(), strict=True
    ):
        now = tonight.get(shard, {}).get(old[k]) if k in old else None
        if now is None or now in dropped:
            unresolved.update(members)
            continue
        resolved[k] = now
        rows.append((old[k][0], now, shard, now & ((1 << ROW_BITS) - 1)))
    if unresolved:
        store.write_hint(spec.state_dir, sorted(unresolved))  # the next attempt re-scores them (driver or scheduler)
        raise OrphanedCopiesError(sorted(unresolved))
    kept_rows = pa.table(
        {
            "id": pa.array([r[0] for r in rows], pa.string()),
            "key": pa.array([r[1] for r in rows], pa.int64()),
            "shard": pa.array([r[2] for r in rows], pa.string()),
            "row": pa.array([r[3] for r in rows], pa.int64()),
        }
    )
    return resolved, kept_rows


def _dedup_totals(delta_dataset: dict[str, Any] | None, duplicates: pa.Table) -> dict[str, int]:
    """The clustering's counters: tonight's work (pairs) from the job, clusters over the whole night."""
    keys = ("candidate_pairs", "accepted_pairs", "verified_pairs", "rejected_pairs", "split_off_rows", "unconverged_nodes")
    dd = (delta_dataset or {}).get("dedup", {})
    out = {k: int(dd.get(k, 0)) for k in keys}
    out["reference_rows"] = int(dd.get("reference_rows", 0))
    out["matched_reference"] = int(dd.get("matched_reference", 0))
    out["clusters"] = len(np.unique(duplicates.column("cluster_id").to_numpy())) if duplicates.num_rows else 0
    return out


def _last_self_bleu(spec: NightSpec) -> DatasetSelfBleu:
    """Last night's dataset Self-BLEU memo (write_summary uses it when tonight's sample has its digest)."""
    if spec.previous is None:
        return DatasetSelfBleu()
    return read_self_bleu(self_bleu_path(store.version_dir(spec.state_dir, spec.previous["version"])))


def assemble_outputs(spec: NightSpec) -> tuple[str | None, int, int]:
    """Fill RUN_DIR with the whole night's outputs (before run.json).

    Returns (the directory holding last night's summary/ or None, tonight's new rows, of which dropped as
    copies of an earlier night's row)."""
    out, config = spec.output, spec.config
    previous_night = files.join(store.version_dir(spec.state_dir, spec.previous["version"]), "night") if spec.previous else None
    clear_outputs(out)
    sources = _shard_sources(spec)
    stats = []
    as_read = []
    parts = _Parts()
    for d, run, old, (stats_version, stats_index) in sources:
        _copy_parts(parts, run, out, "records", old, d.shard.index, "key")
        _copy_parts(parts, run, out, "rejected", old, d.shard.index, None)
        # Statistics are kept under the index of the night that wrote them; files under that of the night that scored them.
        s = read_stats(_stats_dir(spec.state_dir, stats_version), stats_index)
        for f in s.kept_files if config.output.kept else []:
            files.copy(files.join(run, f.path), files.join(out, f.path))
        s.shard_index = d.shard.index
        stats.append(s)
        as_read.append(_what_changes(s))
    delta_run = run_dir_of(spec.state_dir, spec.version)
    delta_dataset = json.loads(files.read_bytes(files.join(delta_run, SUMMARY, "dataset.json"))) if spec.rescored_run else None
    unchanged = not spec.decision.rescored() and not spec.decision.removed and previous_night is not None
    unchanged = unchanged and all(d.previous is not None and d.previous["index"] == d.shard.index for d in spec.decision.shards)
    dup_table = DUPLICATES.empty_table()
    if spec.decision.full and delta_dataset is not None:
        # Every shard re-scored: the job's own summary and clusters are the night's (equal to a plain run's).
        _copy_tree(files.join(delta_run, SUMMARY), files.join(out, SUMMARY))
        if config.dedup.enabled:
            _copy_tree(files.join(delta_run, DUPS), files.join(out, DUPS))
            dup_table = _read_tables(files.join(delta_run, DUPS, "*.parquet"), DUPLICATES)
    elif unchanged:
        assert previous_night is not None
        _copy_tree(files.join(previous_night, SUMMARY), files.join(out, SUMMARY))
        write_self_bleu(self_bleu_path(store.version_dir(spec.state_dir, spec.version)), _last_self_bleu(spec))
        if config.dedup.enabled:
            _copy_tree(files.join(previous_night, DUPS), files.join(out, DUPS))
            dup_table = _read_tables(files.join(previous_night, DUPS, "*.parquet"), DUPLICATES)
    else:
        totals = None
        if config.dedup.enabled:
            assert previous_night is not None
            reused = {d.shard.name: d for d in spec.decision.reused()}
            previous_all = _read_tables(files.join(previous_night, DUPS, "*.parquet"), DUPLICATES)
            delta = (
                _read_tables(files.join(delta_run, DUPS, "*.parquet"), DUPLICATES)
                if spec.rescored_run
                else DUPLICATES.empty_table()
            )
            resolved, kept_rows = _resolve_orphans(spec, previous_all, delta)
            # Carried over: the reused shards' rows, and the frozen copies of re-scored ones.
            in_reused = pc.or_(
                pc.is_in(previous_all.column("shard"), pa.array(sorted(reused), pa.string())),
                pc.is_in(previous_all.column("key"), pa.array(spec.frozen, pa.int64())),
            )
            old_kept = assemble.kept_keys(previous_all)[in_reused.to_numpy(zero_copy_only=False)]
            old = previous_all.filter(in_reused)
            index_map = {d.previous["index"]: d.shard.index for d in spec.decision.shards if d.previous is not None}
            old = assemble.remap_column(old, "key", index_map)
            old_kept = np.array([resolved.get(k, -1) for k in old_kept.tolist()], dtype=np.int64)
            reused_kept = old_kept < 0
            old_kept[reused_kept] = assemble.remap_keys(
                assemble.kept_keys(previous_all)[in_reused.to_numpy(zero_copy_only=False)][reused_kept], index_map
            )
            dup_table = assemble.merge_duplicates(old, old_kept, delta, _reference_rows(spec), kept_rows)
            _write_duplicates(out, dup_table, config.dedup.partitions)
            counts = assemble.counts_per_shard(dup_table)
            clusters = assemble.rows_per_shard(dup_table.select(["shard", "row", "cluster_id", "cluster_size", "keep"]))
            for s in stats:
                s.set_duplicates(counts.get(s.shard, [0, 0, 0]))
                s.clusters.resize(clusters.get(s.shard, DUPLICATES.empty_table()))
            totals = _dedup_totals(delta_dataset, dup_table)
        ordered = sorted(stats, key=lambda s: s.shard_index)
        # Last night's dataset Self-BLEU, used if tonight's sample is the same (its digest); tonight's kept.
        memo = _last_self_bleu(spec)
        write_summary(ordered, out, spec.rules, config, dedup_totals=totals, self_bleu_memo=memo)
        write_self_bleu(self_bleu_path(store.version_dir(spec.state_dir, spec.version)), memo)
    # Tonight's statistics of the shards whose statistics changed here, for tomorrow; the others stay where they
    # are (the job wrote the re-scored shards' tonight; state.json says where), so none is written twice.
    written = []
    for s, (d, _, _, at), before in zip(stats, sources, as_read, strict=True):
        if _what_changes(s) != before:
            written.append(s)
            at = (spec.version, d.shard.index)
        spec.stats_at[d.shard.path] = at
    write_stats(_stats_dir(spec.state_dir, spec.version), written)
    if config.dedup.enabled:
        _write_refsigs(spec, dup_table)
    new_rows = len(spec.new_keys) + sum(s.rows_scored for s in stats if s.shard_index in spec.new_shards)
    return previous_night, new_rows, assemble.copies_of_earlier_rows(dup_table, spec.new_shards, spec.new_keys)


def new_state(spec: NightSpec) -> dict[str, Any]:
    """state.json of tonight: manifest, fingerprints, where every shard's results are."""
    shards = {}
    for d in spec.decision.shards:
        rescored = d.action == RESCORE
        assert rescored or d.previous is not None
        shards[d.shard.path] = {
            **d.entry,
            "index": d.shard.index,
            "format": spec.formats.get(d.shard.path, (d.previous or {}).get("format", "")),
            "scored_in": spec.version if rescored else d.previous["scored_in"],  # type: ignore[index]
            "scored_index": d.shard.index if rescored else d.previous["scored_index"],  # type: ignore[index]
            "stats_in": spec.stats_at.get(d.shard.path, (spec.version, d.shard.index))[0],
            "stats_index": spec.stats_at.get(d.shard.path, (spec.version, d.shard.index))[1],
        }
    return {
        "format": store.FORMAT,
        "version": spec.version,
        "baseline": spec.previous["version"] if spec.previous else None,
        "run_dir": spec.output,
        "fingerprints": spec.fingerprints,
        "shards": shards,
    }


def finish_night(spec: NightSpec, *_waited_for: Any) -> dict[str, Any]:
    """Assemble RUN_DIR, write run.json, commit the state; returns the run record."""
    store.crash_point("night_end_start")
    last, new_rows, matched = assemble_outputs(spec)
    tonight = store.version_dir(spec.state_dir, spec.version)
    previous_run = spec.previous["run_dir"] if spec.previous else None
    drift = night_drift(spec.output, last, spec.config, new_rows, matched, previous_run)
    files.write_atomically(files.join(spec.output, SUMMARY, DRIFT_FILE), json.dumps(drift, indent=2).encode())
    store.crash_point("after_assemble")
    base = {**spec.base, "nightly": {**spec.base.get("nightly", {}), "drift_breached": drift["breached"]}}
    record = finish_run(spec.output, base, spec.config)
    store.crash_point("after_run_record")
    _copy_tree(files.join(spec.output, SUMMARY), files.join(tonight, "night", SUMMARY))
    if spec.config.dedup.enabled:
        _copy_tree(files.join(spec.output, DUPS), files.join(tonight, "night", DUPS))
    state = new_state(spec)
    store.commit(spec.state_dir, state)
    store.crash_point("after_commit")
    store.collect_garbage(spec.state_dir, store.referenced_versions(state))
    return record


__all__ = ["NightSpec", "finish_night", "stats_path"]
