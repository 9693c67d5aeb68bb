"""`winnow score INPUT... --output RUN_DIR --state STATE_DIR`: a night that pays for what changed.

Before the job: the last complete night's state is read, every input shard
is compared with its manifest entry, and each shard is reused or re-scored,
with a reason (transforms.state.manifest). Reuse is widened where a change
reaches unchanged shards: answer_reuse counts (state.answers) and
near-duplicate clusters whose kept row changed or is removed
(state.assemble.clusters_to_redecide); those, unchanged, keep their stored
scores and are only decided again (state.replay). Then the job scores only
the re-scored shards, clustering them against the reused shards' signatures, and its
last step assembles the whole night and commits the state
(transforms.state.night). A night with nothing to re-score runs no job.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.pipelines import score
from winnow.transforms.config import Config, from_data
from winnow.transforms.curate import DUPLICATE_COLUMNS, carried_path
from winnow.transforms.dedup.earlier import EarlierRows
from winnow.transforms.dedup.params import DUPLICATES, REFERENCE_BASE, DedupParams, reference_files
from winnow.transforms.io import files, parquet_out
from winnow.transforms.io.formats import FieldMap
from winnow.transforms.report.data import read_shards
from winnow.transforms.run_layout import RUN_RECORD, top_level_entries
from winnow.transforms.schema import ROW_BITS
from winnow.transforms.signals import answer_reuse
from winnow.transforms.state import answers, assemble, store
from winnow.transforms.state.drift import DRIFT_FILE
from winnow.transforms.state.fingerprints import change as fingerprint_change
from winnow.transforms.state.fingerprints import fingerprints
from winnow.transforms.state.hooks import NightHooks, self_bleu_path
from winnow.transforms.state.manifest import RESCORE, Decision, ShardDecision, decide
from winnow.transforms.state.night import (
    ID_COLUMNS,
    NightSpec,
    finish_night,
    read_records,
    refsig_path,
    reused_refsigs,
    run_dir_of,
)
from winnow.transforms.state.replay import SCORED_STATS, StoredShard, scored_stats_path
from winnow.transforms.summary.run_record import RunError
from winnow.transforms.terminal import escape_control

# The night, then again with the shards whose copies' kept row did not stay kept (state.night), then
# with every shard (a full night, which cannot leave a copy behind).
MAX_ATTEMPTS = 3
DRIFT_EXIT = 3  # --fail-on-drift: the night is complete and committed, and a statistic moved past its threshold


@dataclass
class Night:
    state_dir: str
    previous: dict[str, Any] | None
    version: str
    decision: Decision
    fingerprints: dict[str, Any]
    reused_answers: dict[int, int] | None = None
    rows: dict[str, answers.ShardRows] = field(default_factory=dict)  # changed shard -> its rows by id
    last_rows: dict[str, pa.Table] = field(default_factory=dict)  # changed shard -> last night's key, id, hash
    # Last night's duplicates/ rows of the copies that stay copies in shards re-scored for some of their
    # clusters (assemble.frozen_copies): not clustered again tonight.
    frozen: pa.Table = field(default_factory=DUPLICATES.empty_table)


def expand_output(output: str, now: dt.datetime | None = None) -> str:
    """`{date}` in --output becomes the UTC date, so a scheduler's static command gets a run directory per night."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return output.replace("{date}", now.strftime("%Y-%m-%d"))


def check_output(output: str, state_dir: str, overwrite: bool) -> None:
    """RUN_DIR may hold a killed or earlier run of this state (replaced); another run needs --overwrite."""
    existing = [p for p in top_level_entries() if files.exists(files.join(output, p))]
    if not existing or overwrite:
        return
    record_path = files.join(output, RUN_RECORD)
    if not files.exists(record_path):
        return  # an unfinished run: a night killed before run.json
    record = json.loads(files.read_bytes(record_path))
    if (record.get("nightly") or {}).get("state") == state_dir:
        return
    raise RunError(
        f"output {output} already holds a run that is not a night of {state_dir} ({', '.join(existing)}); "
        f"choose a new --output or pass --overwrite to replace it"
    )


def _previous_duplicates(state_dir: str, previous: dict[str, Any]) -> pa.Table:
    night = files.join(store.version_dir(state_dir, previous["version"]), "night", "duplicates")
    tables = []
    for path in files.match(files.join(night, "*.parquet")):
        with files.open_read(path) as f:
            tables.append(pq.read_table(f))
    return pa.concat_tables(tables) if tables else DUPLICATES.empty_table()


def _prepass(plan: score.Plan, night: Night) -> None:
    """Read the changed and new shards once before the job: their (answer, prompt) hashes and each row's id and
    content hash. Reused shards whose answers' distinct-prompt counts move tonight are re-scored too."""
    previous = night.previous
    assert previous is not None
    opts = answer_reuse.options(plan.config)
    inp = plan.config.input
    fm = FieldMap.from_config(plan.config)
    tonight: dict[str, np.ndarray] = {}
    for d in night.decision.rescored():
        tonight[d.shard.path], night.rows[d.shard.name] = answers.shard_entries(
            d.shard, fm, inp.batch_size, inp.max_row_bytes, plan.config.output.raw_max_chars, opts.min_words
        )
    if not opts.enabled:
        return
    shards = sorted(previous["shards"].items())
    where = [(files.join(store.version_dir(night.state_dir, r["scored_in"]), "answers"), r["scored_index"]) for _, r in shards]
    before = dict(zip((path for path, _ in shards), answers.read_entries_of(where), strict=True))
    for d in night.decision.reused():
        tonight[d.shard.path] = before[d.shard.path]
    reused = [d.shard.path for d in night.decision.reused()]
    counts, hit = answers.affected(before, tonight, reused, opts.min_prompts)
    for path in hit:
        night.decision.rescore(path, "answer_reuse: an answer it holds was given to another number of prompts tonight")
    night.reused_answers = counts


def _repeated_reference_ids(night: Night) -> bool:
    """Whether two earlier rows of the reference share an id (a new copy of one names its kept row by id)."""
    seen: set[str] = set()
    for _, table in reused_refsigs(night.state_dir, night.decision, ["id"]):
        ids = table.column("id").to_pylist()
        if len(set(ids)) != len(ids) or not seen.isdisjoint(ids):
            return True
        seen.update(ids)
    return False


def _last_rows(night: Night, d: ShardDecision) -> pa.Table:
    """Last night's key, id and content hash of a changed shard's rows, read once a night."""
    if d.shard.name not in night.last_rows:
        assert d.previous is not None
        run = run_dir_of(night.state_dir, d.previous["scored_in"])
        night.last_rows[d.shard.name] = read_records(run, d.previous["scored_index"], ID_COLUMNS)
    return night.last_rows[d.shard.name]


def _changed_rows(night: Night, previous_all: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Per row of last night's duplicates/: (gone tonight (its shard removed, or its id no longer in its changed
    shard) or its content changed; an earlier row tonight, which stays kept if it was: in a shard whose file did
    not change, or settled in a changed one (earlier_rows))."""
    assert night.previous is not None
    shard = previous_all.column("shard")
    present = pa.array(sorted(d.shard.name for d in night.decision.shards), pa.string())
    changed = ~pc.is_in(shard, value_set=present).to_numpy(zero_copy_only=False)
    same_file = [d.shard.name for d in night.decision.shards if d.shard.name not in night.rows and d.previous is not None]
    stays = pc.is_in(shard, value_set=pa.array(sorted(same_file), pa.string())).to_numpy(zero_copy_only=False)
    by_name = {d.shard.name: d for d in night.decision.shards}
    mask = (1 << ROW_BITS) - 1
    for name in sorted(night.rows):
        at = np.flatnonzero(pc.equal(shard, name).to_numpy(zero_copy_only=False))
        if not len(at):
            continue
        d = by_name[name]
        if d.previous is None:  # a new path under a name last night had: its rows there count as gone
            changed[at], stays[at] = True, False
            continue
        last = _last_rows(night, d)
        now, settles = night.rows[name], _rows_settle(night, d)
        was = dict(
            zip(
                (last.column("key").to_numpy() & mask).tolist(),
                zip(last.column("id").to_pylist(), last.column("content_hash").to_pylist(), strict=True),
                strict=True,
            )
        )
        for i, key in zip(at.tolist(), (previous_all.column("key").to_numpy()[at] & mask).tolist(), strict=True):
            before = was.get(key)
            changed[i] = before is None or now.get(before[0]) != before[1]
            stays[i] = not changed[i] and settles
    return changed, stays


def _same_ids(night: Night, d: ShardDecision) -> set[str]:
    """Ids of last night's rows of a changed shard that have the same content hash tonight."""
    last, now = _last_rows(night, d), night.rows[d.shard.name]
    return {
        i for i, h in zip(last.column("id").to_pylist(), last.column("content_hash").to_pylist(), strict=True) if now.get(i) == h
    }


def _rows_settle(night: Night, d: ShardDecision) -> bool:
    """Whether a changed shard's unchanged rows can be told by id: ids unique on both nights."""
    last_ids = _last_rows(night, d).column("id").to_pylist()
    return bool(last_ids) and not night.rows[d.shard.name].ids_repeat and len(set(last_ids)) == len(last_ids)


def _widen_for_clusters(night: Night) -> None:
    """Re-score reused shards holding near-duplicates of rows changed or removed tonight, where the cluster
    may choose another kept row (assemble.clusters_to_redecide); the job's last step checks the rest
    (state.night)."""
    assert night.previous is not None
    previous_all = _previous_duplicates(night.state_dir, night.previous)
    if not previous_all.num_rows:
        return
    reused = {d.shard.name for d in night.decision.reused()}
    by_name = {d.shard.name: d.shard.path for d in night.decision.shards}
    changed, stays = _changed_rows(night, previous_all)
    widened, redecided = assemble.clusters_to_redecide(previous_all, changed, stays, reused)
    for shard, causes in sorted(widened.items()):
        why = ", ".join(sorted(causes)[:3]) + (f" and {len(causes) - 3} more" if len(causes) > 3 else "")
        night.decision.rescore(
            by_name[shard],
            f"holds near-duplicate copies in a cluster with rows changed or removed tonight ({why})",
            scores_stand=True,
        )
    # Their copies in the other clusters stay what they were, as in a reused shard.
    night.frozen = assemble.frozen_copies(previous_all, set(widened), redecided)


def _apply_hint(night: Night, names: list[str]) -> None:
    """Re-score the shards named (holding copies whose kept row did not stay kept), every copy of theirs
    clustered again."""
    by_name = {d.shard.name: d.shard.path for d in night.decision.shards}
    if night.frozen.num_rows and names:
        named = pc.is_in(night.frozen.column("shard"), value_set=pa.array(sorted(names), pa.string()))
        night.frozen = night.frozen.filter(pc.invert(named))
    for name in names:
        if name in by_name:
            night.decision.rescore(
                by_name[name], "holds near-duplicate copies of a row that is no longer kept tonight", scores_stand=True
            )
    if not night.decision.reused():
        night.decision.full, night.reused_answers = True, None


def _template_sources(night: Night) -> list[tuple[str, int]]:
    """Where the reused shards' frequent-shingle reports are: beside their answer hashes, in the version of
    the night that scored them."""
    out: list[tuple[str, int]] = []
    for d in night.decision.reused():
        assert d.previous is not None
        out.append(
            (files.join(store.version_dir(night.state_dir, d.previous["scored_in"]), "answers"), d.previous["scored_index"])
        )
    return out


def earlier_rows(night: Night) -> EarlierRows | None:
    """Rows of tonight's re-scored shards that were there, unchanged, and no copy last night: settled like the
    reference's (dedup.earlier). Every such row of a shard whose file did not change (re-scored for a cluster
    or an answer count), and in a changed shard each row whose id and content are last night's."""
    if night.previous is None or night.decision.full:
        return None
    rescored = [d for d in night.decision.rescored() if d.previous is not None]
    same = [d for d in rescored if d.entry.get("checksum") == d.previous.get("checksum")]  # type: ignore[union-attr]
    changed = [d for d in rescored if d.shard.name in night.rows and not night.rows[d.shard.name].ids_repeat]
    if not same and not changed:
        return None
    previous_all = _previous_duplicates(night.state_dir, night.previous)
    last_copies = previous_all.filter(pc.invert(pc.fill_null(previous_all.column("keep"), True)))
    index = {d.shard.name: d.shard.index for d in same}
    # Last night's copies in those shards, as tonight's row keys (shard index << ROW_BITS | row).
    copies = _tonight_keys(last_copies, index)
    frozen = _tonight_keys(night.frozen, index)
    unchanged = [_unchanged_rows(night, d, last_copies) for d in changed]
    return EarlierRows(
        tuple(sorted(index.values())),
        np.unique(copies),
        np.unique(frozen[np.isin(frozen, copies)]),
        np.unique(np.concatenate(unchanged)) if unchanged else np.zeros(0, np.int64),
    )


def _unchanged_rows(night: Night, d: ShardDecision, last_copies: pa.Table) -> np.ndarray:
    """Tonight's keys of a changed shard's rows whose id and content hash are those of a row of last night's
    that was no copy (ids unique both nights)."""
    if not _rows_settle(night, d):
        return np.zeros(0, np.int64)
    copied = set(pc.filter(last_copies.column("id"), pc.equal(last_copies.column("shard"), d.shard.name)).to_pylist())
    rows = [night.rows[d.shard.name].rows[i] for i in sorted(_same_ids(night, d) - copied)]
    return (np.int64(d.shard.index) << ROW_BITS) | np.asarray(rows, dtype=np.int64)


def new_rows(night: Night) -> tuple[tuple[int, ...], np.ndarray]:
    """Tonight's new rows (NightSpec.new_shards, new_keys): every row of a new shard, and of a changed shard each
    row whose id was not there last night or whose content changed (every row when its ids repeat, either
    night, or when it was not read before the job: a full night)."""
    shards: list[int] = []
    keys = [np.zeros(0, np.int64)]
    for d in night.decision.rescored():
        if d.previous is not None and d.entry.get("checksum") == d.previous.get("checksum"):
            continue  # its file did not change: re-decided, or re-scored for an answer count
        if d.previous is None or d.shard.name not in night.rows or not _rows_settle(night, d):
            shards.append(d.shard.index)
            continue
        same = _same_ids(night, d)
        rows = [r for i, r in night.rows[d.shard.name].rows.items() if i not in same]
        keys.append((np.int64(d.shard.index) << ROW_BITS) | np.asarray(rows, dtype=np.int64))
    return tuple(shards), np.unique(np.concatenate(keys))


def _tonight_keys(table: pa.Table, index: dict[str, int]) -> np.ndarray:
    """Row keys of tonight (shard index << ROW_BITS | row) of a duplicates/ table's rows in the shards of `index`."""
    names = sorted(index)
    at = pc.index_in(table.column("shard"), value_set=pa.array(names, pa.string()))
    shard_index = np.array([index[n] for n in names], dtype=np.int64)[pc.drop_null(at).to_numpy()]
    rows = pc.filter(table.column("row"), pc.is_valid(at)).to_numpy().astype(np.int64)
    return (shard_index << ROW_BITS) | rows


def carried_duplicates(night: Night) -> pa.Table:
    """The frozen copies' duplicates/ rows with tonight's keys, for the keep stage (curate.carried_path)."""
    frozen = night.frozen
    index_map = {d.previous["index"]: d.shard.index for d in night.decision.shards if d.previous is not None}
    for column in ("key", "cluster_id"):
        frozen = assemble.remap_column(frozen, column, index_map)
    return frozen.select(DUPLICATE_COLUMNS)


def stored_scores(plan: score.Plan, night: Night) -> dict[int, StoredShard]:
    """Re-scored shards whose scores stand (re-scored for their clusters only), by tonight's index: where the
    night that scored them left their scores (state.replay). A shard the state lacks them for is scored."""
    if night.previous is None or night.decision.full or not plan.config.dedup.enabled:
        return {}
    out: dict[int, StoredShard] = {}
    for d in night.decision.rescored():
        d.replayed = False
        if not d.scores_stand or d.previous is None or d.entry.get("checksum") != d.previous.get("checksum"):
            continue
        version = store.version_dir(night.state_dir, d.previous["scored_in"])
        stored = StoredShard(
            run_dir_of(night.state_dir, d.previous["scored_in"]),
            d.previous["scored_index"],
            files.join(version, "answers"),
            scored_stats_path(version, d.previous["scored_index"]),
        )
        if files.exists(stored.stats_path):
            out[d.shard.index], d.replayed = stored, True
    return out


def settled_bands(night: Night, stored: dict[int, StoredShard], earlier: EarlierRows | None) -> dict[int, str]:
    """Re-decided shards (by tonight's index) whose reference file holds exactly their settled rows: its rows
    and last night's copies in the shard are disjoint and together every row the shard's signatures hold.
    Their settled rows' band entries are read from beside it, as the reference's are (state.replay)."""
    if earlier is None:
        return {}
    out: dict[int, str] = {}
    mask = (1 << ROW_BITS) - 1
    for d in night.decision.rescored():
        if d.shard.index not in stored or d.shard.index not in earlier.shards or d.previous is None:
            continue
        path = refsig_path(night.state_dir, d.previous["scored_in"], d.previous["scored_index"])
        if not files.exists(path):
            continue
        copies = earlier.copies[(earlier.copies >> ROW_BITS) == d.shard.index] & mask
        with files.open_read(path) as f:
            rows = pq.read_table(f, columns=["row"]).column("row").to_numpy()
        signed = 0
        pattern = files.join(stored[d.shard.index].run_dir, "signatures", f"s{d.previous['scored_index']:06d}-*.parquet")
        for side in files.match(pattern):
            with files.open_read(side) as f:
                signed += pq.ParquetFile(f).metadata.num_rows
        if len(rows) + len(copies) == signed and not np.isin(rows, copies).any():
            out[d.shard.index] = path
    return out


def references(plan: score.Plan, night: Night) -> dict[int, str]:
    """The reused shards' reference signatures, numbered after dedup.reference's own."""
    first = REFERENCE_BASE + len(reference_files(DedupParams.from_config(plan.config)))
    paths = [
        refsig_path(night.state_dir, d.previous["scored_in"], d.previous["scored_index"])
        for d in night.decision.reused()
        if d.previous
    ]
    return {first + i: p for i, p in enumerate(p for p in paths if files.exists(p))}


def prepare(plan: score.Plan, state_dir: str) -> Night:
    """Read the state, decide per shard, detect the formats of the shards to re-score (the others' are known)."""
    files.check_writable(state_dir)
    previous = store.load(state_dir)
    fp = fingerprints(plan.config)
    why = fingerprint_change(previous["fingerprints"] if previous else None, fp)
    decision = decide(plan.shards, previous["shards"] if previous else None, why)
    night = Night(state_dir, previous, store.new_version(), decision, fp)
    if not decision.full:
        _prepass(plan, night)
        if plan.config.dedup.enabled:
            _widen_for_clusters(night)
            _apply_hint(night, store.read_hint(state_dir))  # named by an attempt at tonight that failed
        if plan.config.dedup.enabled and decision.reused() and _repeated_reference_ids(night):
            for d in decision.reused():
                decision.rescore(
                    d.shard.path, "ids repeat among earlier rows: a new copy could not name its kept row", scores_stand=True
                )
        if not decision.reused():  # nothing left to reuse: a plain full night
            decision.full = True
    if decision.full:
        night.reused_answers = None  # the job counts them itself, over every shard
    fm = FieldMap.from_config(plan.config)
    for d in decision.shards:
        if d.action == RESCORE and not (d.scores_stand and d.previous is not None):
            plan.formats[d.shard.path] = score.detect_file_format(d.shard.path, fm)
        elif d.previous is not None:
            plan.formats[d.shard.path] = d.previous.get("format", "")
    return night


def print_decision(night: Night, out: TextIO | None = None) -> None:
    out = out or sys.stderr
    d = night.decision
    baseline = night.previous["version"] if night.previous else "none (first night)"
    print(
        escape_control(
            f"  nightly: state {night.state_dir}, last night {baseline}: {len(d.reused())} shard(s) reused, "
            f"{len(d.rescored())} re-scored, {len(d.removed)} removed"
        ),
        file=out,
    )
    reasons: dict[str, int] = {}
    for s in d.rescored():
        reasons[s.reason] = reasons.get(s.reason, 0) + 1
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:8]:
        print(escape_control(f"    re-scored {n}: {reason}"), file=out)
    stand = [s for s in d.rescored() if s.scores_stand]
    if stand:
        print(f"    of those, {len(stand)} unchanged: scores taken from the state where it has them", file=out)


def _delta_config(config: Config) -> Config:
    """The job's config: the user's, with signatures kept (they become the reference of later nights)."""
    if not config.dedup.enabled:
        return config
    data = config.as_dict()
    data["dedup"]["export_signatures"] = True
    return from_data(data)


def run(plan: score.Plan, night: Night, beam_args: list[str], started: dt.datetime) -> dict[str, Any] | None:
    """Score tonight's re-scored shards and end the night (in the job's last step); the run record, or None
    for a template launch (the job ends the night when it runs).

    When the job finds copies in reused shards whose kept row did not stay kept tonight (rare: a re-scored
    kept row became a copy itself), it names their shards and fails; the night then runs again with them.
    """
    for attempt in range(MAX_ATTEMPTS):
        store.collect_garbage(night.state_dir, store.referenced_versions(night.previous))  # what killed nights left
        try:
            if _run_once(plan, night, beam_args, started) is None:
                return None  # a template launch: the job scores, assembles and commits when it runs
            break
        except Exception:
            reused = {d.shard.name for d in night.decision.reused()}
            frozen = set(night.frozen.column("shard").to_pylist())
            shards = [n for n in store.read_hint(night.state_dir) if n in reused | frozen]
            if attempt + 1 == MAX_ATTEMPTS or not shards:
                raise
            if attempt + 2 == MAX_ATTEMPTS:  # the last attempt: every shard, which cannot leave a copy behind
                shards = sorted(reused)
            print(
                escape_control(f"winnow: re-scoring {len(shards)} more shard(s) whose copies' kept row changed"), file=sys.stderr
            )
            _apply_hint(night, shards)
            night.version = store.new_version()
    record: dict[str, Any] = json.loads(files.read_bytes(files.join(plan.output, RUN_RECORD)))
    record["dataset"] = json.loads(files.read_bytes(files.join(plan.output, "summary", "dataset.json")))
    record["shards"] = read_shards(plan.output)
    record["drift"] = json.loads(files.read_bytes(files.join(plan.output, "summary", DRIFT_FILE)))
    return record


def _run_once(plan: score.Plan, night: Night, beam_args: list[str], started: dt.datetime) -> dict[str, Any] | None:
    stored = stored_scores(plan, night)
    earlier = earlier_rows(night) if plan.config.dedup.enabled else None
    if earlier is None or not len(earlier.frozen):
        night.frozen = DUPLICATES.empty_table()
    base = score.run_base(plan, plan.runner, started)
    base["nightly"] = {
        "state": night.state_dir,
        "baseline": night.previous["version"] if night.previous else None,
        "version": night.version,
        "fingerprints": night.fingerprints,
        **night.decision.as_json(),
    }
    spec = NightSpec(
        night.state_dir,
        night.version,
        plan.output,
        plan.config,
        plan.rules,
        night.decision,
        night.previous,
        night.fingerprints,
        base,
        dict(plan.formats),
        rescored_run=bool(night.decision.rescored()),
        frozen=np.sort(night.frozen.column("key").to_numpy()),
    )
    spec.new_shards, spec.new_keys = new_rows(night)
    rescored = [d.shard for d in night.decision.rescored()]
    if not rescored:
        return finish_night(spec)
    vdir = store.version_dir(night.state_dir, night.version)
    if night.frozen.num_rows:
        parquet_out.write_table(carried_path(run_dir_of(night.state_dir, night.version)), carried_duplicates(night))
    delta = score.Plan(
        plan.inputs, run_dir_of(night.state_dir, night.version), _delta_config(plan.config), plan.rules, rescored, []
    )
    delta.formats, delta.runner, delta.stored = dict(plan.formats), plan.runner, frozenset(stored)
    hooks = NightHooks(
        references=references(plan, night) if plan.config.dedup.enabled and not night.decision.full else {},
        settled_bands=settled_bands(night, stored, earlier),
        reused_answers=night.reused_answers,
        template_sources=tuple(_template_sources(night)) if not night.decision.full else (),
        earlier=earlier,
        stats_dir=files.join(vdir, "stats"),
        scored_stats_dir=files.join(vdir, SCORED_STATS),
        self_bleu_path=self_bleu_path(vdir),
        stored=stored,
        answers_dir=files.join(vdir, "answers"),
        finish=spec,
    )
    return score.run(delta, beam_args, started, nightly=hooks)


def print_night(record: dict[str, Any], out: TextIO | None = None) -> None:
    """The nightly lines of the end-of-run table: what was reused, and what drifted."""
    out = out or sys.stdout
    n = record.get("nightly") or {}
    print(
        f"nightly: {len(n.get('reused', [])):,} shard(s) reused, {len(n.get('rescored', [])):,} re-scored, "
        f"{len(n.get('removed', [])):,} removed (run.json lists each with its reason)",
        file=out,
    )
    drift = record.get("drift") or {}
    if drift.get("previous") is None and not drift.get("moves"):
        print("drift: first night, nothing to compare with", file=out)
        return
    share = drift.get("new_duplicate_share")
    line = f"drift: {drift.get('moved', 0):,} statistic(s) moved past their thresholds against the last night"
    if share is not None:
        line += f"; {share:.1%} of tonight's {drift['new_rows']:,} new rows repeat an earlier night's row"
    print(escape_control(line), file=out)
    for m in [m for m in drift.get("moves", []) if m["moved"]][:8]:
        print(escape_control(f"  {m['source']}: {m['kind']} {m['stat']} moved by {m['size']:+.3f}"), file=out)
