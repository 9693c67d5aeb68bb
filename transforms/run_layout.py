"""What a run directory holds: one list that the help text, the end-of-run table and --overwrite read.

Kept apart from the writers so the outputs a user is told about cannot
drift from the outputs a run makes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from winnow.transforms.config import Config

RUN_RECORD, RUN_ERROR = "run.json", "run.error.json"
WORK_DIR = "_work"  # intermediate files (scored parts, near-duplicate spills), removed at the end
# Written into a run directory later by other commands; --overwrite removes them with the run they describe.
EVALUATION = "evaluation.json"  # winnow evaluate
REPORT = "report.html"  # winnow report (and winnow score, unless output.report is off)
DERIVED = (EVALUATION, REPORT)


@dataclass(frozen=True)
class Output:
    path: str  # relative to the run directory
    what: str
    written: Callable[[Config], bool] = lambda config: True

    @property
    def top(self) -> str:
        """The top-level entry (file or folder) in the run directory."""
        return self.path.split("/", 1)[0]


OUTPUTS = (
    Output(
        "records/part-*.parquet",
        "one row per scored input row: id, shard, row, text, signal columns, flags, severity, keep, drop_reasons",
    ),
    Output("rejected/part-*.parquet", "rows that could not be read or mapped: shard, row, reason, raw"),
    Output(
        "kept/",
        "the rows the keep policy keeps, in their input format, one file per input file (or part), named after it",
        lambda config: config.output.kept,
    ),
    Output(
        "duplicates/part-*.parquet",
        "members of near-duplicate clusters: cluster_id, cluster_size, keep, kept_id",
        lambda config: config.dedup.enabled,
    ),
    Output("summary/shards.parquet", "statistics per input file (mergeable sketches)"),
    Output("summary/dataset.json", "the same merged over the dataset, with every rule's explanation"),
    Output("summary/examples.parquet", "a bounded sample of rows per rule, drop and rejection reason, and the largest clusters"),
    Output(
        "signatures/",
        "MinHash signatures and params.json, for later runs (dedup.export_signatures)",
        lambda config: config.dedup.enabled and config.dedup.export_signatures,
    ),
    Output(REPORT, "the offline HTML report (winnow report RUN_DIR writes it again)", lambda config: config.output.report),
    Output(RUN_RECORD, "written last: config and its hash, versions, inputs, totals; a run is complete only when it exists"),
)


def written(config: Config) -> list[Output]:
    """The outputs a run with this config writes."""
    return [o for o in OUTPUTS if o.written(config)]


def top_level_entries() -> list[str]:
    """Every name a run may leave in its directory (for --overwrite), in layout order."""
    names = [o.top for o in OUTPUTS] + [WORK_DIR, RUN_ERROR, *DERIVED]
    return list(dict.fromkeys(names))


def describe() -> list[str]:
    """One line per output for the help text."""
    return [f"{o.path}: {o.what}" for o in OUTPUTS]
