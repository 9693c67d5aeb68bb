"""The signal registry: every signal family, in the order they run and their columns appear.

The scorer, the records schema, the summary means, the plan, `score
--help` and config validation read this list. A new signal is one module
that defines a `Signal` (signals.base) plus one line here, or a call to
`register` from a plugin or a test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from winnow.transforms.schema import CANONICAL
from winnow.transforms.signals.answer_reuse import ANSWER_REUSE
from winnow.transforms.signals.base import Signal
from winnow.transforms.signals.classifiers import CLASSIFIERS
from winnow.transforms.signals.code_checks import CODE_CHECKS
from winnow.transforms.signals.completeness import COMPLETENESS
from winnow.transforms.signals.composite import COMPOSITE
from winnow.transforms.signals.endings import ENDINGS
from winnow.transforms.signals.gibberish import GIBBERISH
from winnow.transforms.signals.injection import INJECTION
from winnow.transforms.signals.language import LANGUAGE
from winnow.transforms.signals.overlap import CONTAMINATION, OVERLAP
from winnow.transforms.signals.relevance import ANSWER_RELEVANCE
from winnow.transforms.signals.safety import SAFETY
from winnow.transforms.signals.taxonomy import TOPICS
from winnow.transforms.signals.textstats import REPETITION, TEXT_STATS

if TYPE_CHECKING:
    from winnow.transforms.config import Config

SIGNALS: list[Signal] = [
    TEXT_STATS,
    REPETITION,
    LANGUAGE,
    CODE_CHECKS,
    OVERLAP,
    CONTAMINATION,
    SAFETY,
    GIBBERISH,
    INJECTION,
    ANSWER_RELEVANCE,
    ANSWER_REUSE,
    COMPLETENESS,
    ENDINGS,
    TOPICS,
    CLASSIFIERS,
    COMPOSITE,
]
# Columns the rules engine writes after the signals that run before it.
RULE_COLUMNS = ("flags", "severity")


def register(signal: Signal) -> None:
    """Add a signal (a plugin's, a test's) after the built-in ones of its phase."""
    if any(s.name == signal.name for s in SIGNALS):
        raise ValueError(f"a signal named {signal.name!r} is already registered")
    SIGNALS.append(signal)


def unregister(name: str) -> None:
    SIGNALS[:] = [s for s in SIGNALS if s.name != name]


def enabled(config: Config) -> list[Signal]:
    """The signals a config turns on, in run order: before the rules, then after them."""
    on = [s for s in SIGNALS if s.enabled(config)]
    return [s for s in on if s.phase == "before_rules"] + [s for s in on if s.phase == "after_rules"]


def signal_fields(config: Config) -> list[pa.Field]:
    """The signal columns a config produces, in output order (registry order)."""
    return [f for s in SIGNALS if s.enabled(config) for f in s.columns(config)]


def mean_columns() -> tuple[str, ...]:
    """Columns whose mean the summary reports (when a run has them)."""
    return tuple(c for s in SIGNALS for c in s.means)


def option_model(name: str) -> Any:
    """The type of the `signals.<name>` config section a registered signal brings, or None."""
    for s in SIGNALS:
        if s.name == name and s.options is not None:
            return s.options
    return None


def option_names() -> list[str]:
    return [s.name for s in SIGNALS if s.options is not None]


def reserved_columns() -> set[str]:
    """Names no classifier may take: canonical columns, rule columns, and signal columns that are always reserved."""
    return set(CANONICAL.names) | set(RULE_COLUMNS) | {c for s in SIGNALS for c in s.extra_reserved}


def describe() -> list[str]:
    """One line per signal for `score --help`: label, switch, cost, columns, what it measures."""
    return [f"{s.label} [{s.cost}; {s.switch}]: {s.summary}" for s in SIGNALS]
