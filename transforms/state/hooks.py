"""What a nightly run asks of the scoring job beyond a plain run (transforms.beam.scoring.ScoreCorpus)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from winnow.transforms.io import files
from winnow.transforms.summary.dataset import DatasetSelfBleu


@dataclass(frozen=True)
class NightHooks:
    # Shard index -> signature file of an earlier night's reference rows (instead of dedup.reference's).
    references: dict[int, str] = field(default_factory=dict)
    # {answer hash: distinct prompts} counted over tonight's whole corpus, not only the re-scored shards.
    reused_answers: dict[int, int] | None = None
    stats_dir: str = ""  # each shard's final statistics, pickled, for the nights that reuse it
    scored_stats_dir: str = ""  # each shard's statistics before keep decisions, for nights that re-decide it
    # Shard index -> state.replay.StoredShard: unchanged shards re-decided from their stored scores, not re-read.
    stored: dict[int, Any] = field(default_factory=dict)
    answers_dir: str = ""  # each part's (answer, prompt) hashes, for answer_reuse on later nights
    # Where the reused shards' parts' frequent-shingle reports are (dedup.templates): (directory, shard
    # index) pairs. Tonight's template shingles are counted over the whole corpus, as a full run counts
    # them, not over the re-scored rows alone. Paths, not the reports: a job step reads them, and the
    # reports (megabytes) stay out of the pickled pipeline.
    template_sources: tuple[tuple[str, int], ...] = ()
    finish: Any = None  # state.night.NightSpec: the job's last step assembles the night and commits the state
    earlier: Any = None  # dedup.earlier.EarlierRows: re-scored shards whose file did not change, less last night's copies
    # Shard index -> reference file of a re-decided shard whose rows there are exactly its settled rows: their
    # band entries are read from beside it under a new row's band key only, as the reference's are.
    settled_bands: dict[int, str] = field(default_factory=dict)
    self_bleu_path: str = ""  # the dataset's Self-BLEU memo (write_summary), for the nights after a full one


def stats_path(directory: str, shard_index: int) -> str:
    return files.join(directory, f"s{shard_index:06d}.pkl")


def write_stats(directory: str, stats: list[Any]) -> None:
    """Pickled: the state is this tool's own cache, read back by the same winnow (its code digest is checked)."""
    for s in stats:
        if s is not None:
            files.write_atomically(stats_path(directory, s.shard_index), pickle.dumps(s, protocol=pickle.HIGHEST_PROTOCOL))


def read_stats(directory: str, shard_index: int) -> Any:
    return pickle.loads(files.read_bytes(stats_path(directory, shard_index)))


def self_bleu_path(version_dir: str) -> str:
    return files.join(version_dir, "dataset_self_bleu.json")


def read_self_bleu(path: str) -> DatasetSelfBleu:
    """The memo a night left (none before the state kept it)."""
    return DatasetSelfBleu.from_json(json.loads(files.read_bytes(path)) if files.exists(path) else None)


def write_self_bleu(path: str, memo: DatasetSelfBleu) -> None:
    if memo.memo is not None:
        files.write_atomically(path, json.dumps(memo.as_json()).encode())


def template_path(directory: str, shard_index: int, part: int) -> str:
    return files.join(directory, f"t{shard_index:06d}-{part:05d}.pkl")


def write_template_report(directory: str, shard_index: int, part: int, report: Any) -> None:
    files.write_atomically(template_path(directory, shard_index, part), pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL))


def read_template_reports(sources: Iterable[tuple[str, int]]) -> list[Any]:
    """Every part's report of each (directory, shard index), with one listing per directory."""
    wanted: dict[str, set[int]] = {}
    for directory, shard_index in sources:
        wanted.setdefault(directory, set()).add(shard_index)
    out: list[Any] = []
    for directory, indexes in wanted.items():
        listed = files.match_by_index(files.join(directory, "t*.pkl"), "t")
        for index in sorted(indexes):
            out.extend(pickle.loads(files.read_bytes(path)) for path in listed.get(index, []))
    return out
