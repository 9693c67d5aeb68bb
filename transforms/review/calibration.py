"""Calibration: a run's rules and score columns measured against people's verdicts on a sample of it.

Pure functions over numpy arrays, Arrow tables and plain dicts (`winnow review
calibrate` in pipelines/review_calibrate.py reads the files and writes the outputs):

- `majority_verdicts`: one human verdict per row from labels.parquet (ties left out);
- `sample_weights`: each labelled row's Horvitz-Thompson weight 1 / inclusion
  probability, from the export's sample.parquet;
- `weighted_metrics` and `sweep`: precision, recall and F1 of "this row is bad"
  (the positive class is the human verdict `bad`: what a drop should catch),
  weighted so they estimate the whole corpus, with Wilson intervals;
- `calibrate`: every rule and score column, a recommended threshold per
  column and the rules whose precision is too low for a severity that drops;
- `config_overlay`: the run's config as a `winnow score --config` overlay,
  with the calibrated keep thresholds and severities.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pyarrow as pa

from winnow.transforms.config import OPEN_MAPPINGS
from winnow.transforms.evaluation import POSITIVE_WORDS, roc_auc
from winnow.transforms.review.labels import ReviewError

Z95 = NormalDist().inv_cdf(0.975)  # what statsmodels' proportion_confint uses for alpha 0.05
DEFAULT_TARGET_PRECISION = 0.8
DEFAULT_MIN_LABELS = 5  # a rule needs this many labelled firings before its severity is judged
HIGHER, LOWER = "higher_is_better", "lower_is_better"
# A drop rule that drops too many good rows becomes the first of these its keep policy does not drop.
RELAXED = ("warn", "info")
EXAMPLES = 5


# ---- the verdicts and their weights ---------------------------------------------------------------


@dataclass(frozen=True)
class Verdicts:
    """The majority verdict of every labelled row that has one (sorted by id), and the ties left out."""

    ids: list[str]
    bad: np.ndarray  # bool: the majority said bad
    annotations: np.ndarray  # int: verdicts given on the row
    ties: list[str]  # rows whose annotators split evenly

    @property
    def all_ids(self) -> list[str]:
        return sorted([*self.ids, *self.ties])


def majority_verdicts(labels: pa.Table, path: str = "labels.parquet") -> Verdicts:
    """The majority of each row's verdicts; a row whose annotators split evenly is a tie, left out."""
    missing = [c for c in ("id", "verdict") if c not in labels.column_names]
    if missing:
        raise ReviewError(f"{path}: no {' or '.join(missing)} column; it is written by `winnow review import`")
    if labels.num_rows == 0:
        raise ReviewError(f"{path}: holds no labels")
    votes: dict[str, Counter[str]] = {}
    for i, (row_id, verdict) in enumerate(zip(labels.column("id").to_pylist(), labels.column("verdict").to_pylist())):
        if row_id is None or verdict not in ("good", "bad"):
            what = "no id" if row_id is None else f"verdict {verdict!r} (expected good or bad)"
            raise ReviewError(f"{path}: row {i} (counting from 0) has {what}")
        votes.setdefault(str(row_id), Counter())[verdict] += 1
    ids, bad, annotations, ties = [], [], [], []
    for row_id in sorted(votes):
        c = votes[row_id]
        if c["bad"] == c["good"]:
            ties.append(row_id)
            continue
        ids.append(row_id)
        bad.append(c["bad"] > c["good"])
        annotations.append(c["bad"] + c["good"])
    return Verdicts(ids, np.array(bad, dtype=bool), np.array(annotations, dtype=np.int64), ties)


def check_same_run(export: Mapping[str, Any], run: Mapping[str, Any], export_path: str, run_path: str) -> None:
    """The sample must come from this very run: the export records the run's config hash and finish time."""
    lacking = [k for k in ("config_hash", "finished") if not export.get(k)]
    if lacking:
        raise ReviewError(f"{export_path}: no {' or '.join(lacking)}; it should record the run the sample was drawn from")
    theirs = {k: export.get(k) for k in ("config_hash", "finished")}
    ours = {k: run.get(k) for k in ("config_hash", "finished")}
    if theirs != ours:
        raise ReviewError(
            f"labels were drawn from another run ({export_path}: config_hash {theirs['config_hash']}, finished "
            f"{theirs['finished']}; {run_path}: config_hash {ours['config_hash']}, finished {ours['finished']}); "
            "calibrate against the run the sample was exported from"
        )


def sample_weights(sample: pa.Table, ids: Sequence[str], path: str = "sample.parquet") -> tuple[np.ndarray, list[str]]:
    """(1 / inclusion probability, stratum) of each of `ids`; every id must be a row of the sample."""
    missing = [c for c in ("id", "inclusion_probability") if c not in sample.column_names]
    if missing:
        raise ReviewError(f"{path}: no {' or '.join(missing)} column; it is written by `winnow review export`")
    sample_ids = [str(i) for i in sample.column("id").to_pylist()]
    probability = sample.column("inclusion_probability").to_pylist()
    strata = sample.column("stratum").to_pylist() if "stratum" in sample.column_names else [None] * len(sample_ids)
    at: dict[str, int] = {}
    for i, row_id in enumerate(sample_ids):
        if row_id in at:
            raise ReviewError(f"{path}: id {row_id!r} is on two rows ({at[row_id]} and {i}, counting from 0)")
        at[row_id] = i
    weights = np.empty(len(ids), dtype=np.float64)
    out_strata = []
    for j, row_id in enumerate(ids):
        k = at.get(row_id)
        if k is None:
            raise ReviewError(f"{path}: no row for id {row_id!r}, which labels.parquet labels; the labels are not of this sample")
        p = probability[k]
        if p is None or not isinstance(p, (int, float)) or not 0 < p <= 1:
            raise ReviewError(f"{path}: id {row_id!r} has inclusion_probability {p!r}; it must be in (0, 1]")
        weights[j] = 1.0 / p
        out_strata.append("" if strata[k] is None else str(strata[k]))
    return weights, out_strata


# ---- weighted precision, recall, F1 and their intervals -----------------------------------------------


def effective_n(w: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2: the n of equal weights with the same variance."""
    w = np.asarray(w, dtype=np.float64)
    s2 = float((w * w).sum())
    return float(w.sum()) ** 2 / s2 if s2 > 0 else 0.0


def wilson(p: np.ndarray | float, n: np.ndarray | float, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion p over n trials (n may be fractional); NaN where n is 0.

    Equals statsmodels' proportion_confint(p * n, n, method="wilson").
    """
    p = np.asarray(p, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z2n = z * z / n
        denominator = 1 + z2n
        centre = (p + z2n / 2) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z2n / (4 * n)) / denominator
        ok = n > 0
        low = np.where(ok, centre - half, np.nan)
        high = np.where(ok, centre + half, np.nan)
    return low, high


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def _num(x: Any, digits: int = 6) -> float | None:
    x = float(x)
    return None if math.isnan(x) else round(x, digits)


def _interval(low: Any, high: Any) -> list[float] | None:
    lo, hi = _num(low), _num(high)
    return None if lo is None or hi is None else [lo, hi]


def weighted_metrics(predicted_bad: np.ndarray, bad: np.ndarray, w: np.ndarray) -> dict[str, Any]:
    """Precision, recall and F1 of `predicted_bad` against the human `bad`, each row counting w times.

    With w = 1 / inclusion probability these are Horvitz-Thompson (ratio) estimates of
    the corpus figures. The 95 % intervals are Wilson intervals of the weighted proportion
    at Kish's effective sample size of its denominator set (the predicted-bad rows for
    precision, the human-bad rows for recall): unequal weights carry less information
    than as many equal ones, and n_eff says how much. Undefined values (an empty
    denominator) are null. The unweighted counts are given too.
    """
    predicted_bad = np.asarray(predicted_bad, dtype=bool)
    bad = np.asarray(bad, dtype=bool)
    w = np.asarray(w, dtype=np.float64)
    tp_w, fp_w, fn_w = (float(w[m].sum()) for m in (predicted_bad & bad, predicted_bad & ~bad, ~predicted_bad & bad))
    precision = tp_w / (tp_w + fp_w) if tp_w + fp_w > 0 else math.nan
    recall = tp_w / (tp_w + fn_w) if tp_w + fn_w > 0 else math.nan
    f1 = 2 * tp_w / (2 * tp_w + fp_w + fn_w) if tp_w + fp_w + fn_w > 0 else math.nan
    n_precision, n_recall = effective_n(w[predicted_bad]), effective_n(w[bad])
    p_low, p_high = wilson(0.0 if math.isnan(precision) else precision, n_precision)
    r_low, r_high = wilson(0.0 if math.isnan(recall) else recall, n_recall)
    return {
        "precision": _num(precision),
        "precision_ci95": _interval(p_low, p_high),
        "recall": _num(recall),
        "recall_ci95": _interval(r_low, r_high),
        "f1": _num(f1),
        "n_eff": {"precision": _num(n_precision, 3), "recall": _num(n_recall, 3)},
        "flagged_share": _num(float(w[predicted_bad].sum()) / float(w.sum())) if len(w) else None,
        "counts": {
            "tp": int((predicted_bad & bad).sum()),
            "fp": int((predicted_bad & ~bad).sum()),
            "fn": int((~predicted_bad & bad).sum()),
            "tn": int((~predicted_bad & ~bad).sum()),
        },
    }


# ---- thresholds of a score column -----------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    """Every candidate threshold of one column (the distinct labelled values), in order of how many rows
    it flags (fewest first), with the weighted metrics of "flag the rows on the bad side of it"."""

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    precision_low: np.ndarray
    precision_high: np.ndarray
    recall_low: np.ndarray
    recall_high: np.ndarray
    flagged: np.ndarray  # rows flagged (unweighted)
    flagged_share: np.ndarray  # weighted share of the corpus flagged


def sweep(scores: np.ndarray, bad: np.ndarray, w: np.ndarray, direction: str = HIGHER) -> Sweep:
    """Metrics at every threshold t among the distinct scores: a row is flagged bad when its score is
    below t (higher is better) or above t (lower is better); cumulative sums make it one sort."""
    s = np.asarray(scores, dtype=np.float64)
    s = -s if direction == LOWER else s
    order = np.argsort(s, kind="stable")
    s, b, w = s[order], np.asarray(bad, dtype=bool)[order], np.asarray(w, dtype=np.float64)[order]
    values, starts = np.unique(s, return_index=True)  # rows before starts[j] score below values[j]

    def before(x: np.ndarray) -> np.ndarray:
        return np.concatenate(([0.0], np.cumsum(x)))[starts]

    flagged_w, flagged_w2 = before(w), before(w * w)
    tp_w = before(w * b)
    bad_w = float(w[b].sum())
    precision = _ratio(tp_w, flagged_w)
    recall = tp_w / bad_w if bad_w > 0 else np.full(len(values), np.nan)
    f1 = _ratio(2 * tp_w, flagged_w + bad_w)
    p_low, p_high = wilson(np.nan_to_num(precision), _ratio(flagged_w * flagged_w, flagged_w2))
    r_low, r_high = wilson(np.nan_to_num(recall), np.full(len(values), effective_n(w[b])))
    return Sweep(
        -values if direction == LOWER else values,
        precision,
        recall,
        f1,
        p_low,
        p_high,
        r_low,
        r_high,
        starts.astype(np.int64),
        flagged_w / float(w.sum()) if len(w) else flagged_w,
    )


def recommend(sw: Sweep, target: float) -> tuple[int | None, str]:
    """(index into the sweep, criterion): the highest recall whose precision's Wilson lower bound reaches
    `target` (ties: the threshold that flags fewer rows); else the best F1 (ties: the higher recall, then
    fewer rows flagged); (None, why) when no threshold flags a bad row."""
    n = len(sw.thresholds)
    meets = np.flatnonzero(~np.isnan(sw.precision_low) & (sw.precision_low >= target) & (sw.recall > 0))
    if len(meets):
        best = max(meets.tolist(), key=lambda i: (sw.recall[i], -i))
        return best, f"highest recall with precision lower bound >= {target:g}"
    usable = [i for i in range(n) if not np.isnan(sw.f1[i]) and sw.f1[i] > 0]
    if not usable:
        return None, "no threshold flags a row people labelled bad"
    best = max(usable, key=lambda i: (sw.f1[i], sw.recall[i], -i))
    return best, f"best F1 (no threshold reaches precision lower bound {target:g})"


def sweep_point(sw: Sweep, i: int) -> dict[str, Any]:
    return {
        "threshold": float(sw.thresholds[i]),
        "precision": _num(sw.precision[i]),
        "precision_ci95": _interval(sw.precision_low[i], sw.precision_high[i]),
        "recall": _num(sw.recall[i]),
        "recall_ci95": _interval(sw.recall_low[i], sw.recall_high[i]),
        "f1": _num(sw.f1[i]),
        "flagged": int(sw.flagged[i]),
        "flagged_share": _num(sw.flagged_share[i]),
    }


def known_directions(config: Mapping[str, Any]) -> dict[str, str]:
    """Score columns whose direction the run's config tells: composite, and every classifier whose
    positive label means good (evaluation.POSITIVE_WORDS); both are higher-is-better."""
    out = {"composite": HIGHER}
    for name, spec in (config.get("classifiers") or {}).items():
        positive = str((spec or {}).get("positive", "good")).lower()
        if positive in POSITIVE_WORDS:
            out[name] = HIGHER
    return out


def column_report(
    name: str, scores: np.ndarray, bad: np.ndarray, w: np.ndarray, target: float, direction: str | None = None
) -> dict[str, Any]:
    """One score column: its direction (given, or from the labels: the way good rows score higher),
    the metrics at every candidate threshold, and the recommended one. Null scores are left out."""
    scores = np.asarray(scores, dtype=np.float64)
    ok = ~np.isnan(scores)
    s, b, ww = scores[ok], np.asarray(bad, dtype=bool)[ok], np.asarray(w, dtype=np.float64)[ok]
    auc = roc_auc(s, ~b)  # P(a good row scores above a bad one), ties half
    source = "known"
    if direction is None:
        source = "labels"
        direction = LOWER if not math.isnan(auc) and auc < 0.5 else HIGHER
    out: dict[str, Any] = {
        "direction": direction,
        "direction_from": source,
        "flags_bad_when": "score < threshold" if direction == HIGHER else "score > threshold",
        "roc_auc_good_above_bad": _num(auc),
        "rows": int(ok.sum()),
        "null_rows": int((~ok).sum()),
        "bad_rows": int(b.sum()),
    }
    if not len(s):
        out.update(recommended=None, criterion="no labelled row has a score", curve=[])
        return out
    sw = sweep(s, b, ww, direction)
    best, criterion = recommend(sw, target)
    out["recommended"] = None if best is None else sweep_point(sw, best)
    out["criterion"] = criterion
    out["curve"] = [sweep_point(sw, i) for i in range(len(sw.thresholds))]
    return out


# ---- rules ----------------------------------------------------------------------------------------------------


def rule_report(
    fired: np.ndarray,
    bad: np.ndarray,
    w: np.ndarray,
    severity: str | None,
    drop_severities: Sequence[str],
    target: float,
    min_labels: int,
) -> dict[str, Any]:
    """One rule: its metrics, and whether its precision is too low for a severity that drops rows.

    A rule whose severity drops rows and whose precision's upper bound is below `target`
    drops more good rows than the target allows even at best: it should become the first
    of RELAXED its keep policy does not drop. Fewer than `min_labels` labelled firings:
    not enough labels to judge.
    """
    fired = np.asarray(fired, dtype=bool)
    out: dict[str, Any] = {"severity": severity, "labelled_firings": int(fired.sum()), **weighted_metrics(fired, bad, w)}
    drops = severity in drop_severities
    if int(fired.sum()) < min_labels:
        out["assessment"] = f"not enough labels (fired on {int(fired.sum())} labelled rows, {min_labels} needed)"
    elif severity is None:
        out["assessment"] = "not a rule of the run's rule packs (severity unknown): nothing to change"
    elif not drops:
        out["assessment"] = "does not drop rows: nothing to change"
    else:
        high = out["precision_ci95"][1] if out["precision_ci95"] else None
        relaxed = next((s for s in RELAXED if s not in drop_severities), None)
        if high is not None and high < target:
            if relaxed is None:
                out["assessment"] = f"precision upper bound {high:.3f} < {target:g}, but every severity drops rows here"
            else:
                out["assessment"] = f"precision upper bound {high:.3f} < {target:g}: make it {relaxed}"
                out["recommended_severity"] = relaxed
        else:
            out["assessment"] = "precision is consistent with the target: keep it"
    return out


def fired_matrix(flags: Sequence[Sequence[str] | None], rules: Sequence[str]) -> np.ndarray:
    """rows x rules: whether each rule fired on each row (from records' `flags`)."""
    index = {r: j for j, r in enumerate(rules)}
    out = np.zeros((len(flags), len(rules)), dtype=bool)
    for i, row in enumerate(flags):
        for name in row or ():
            if name in index:
                out[i, index[name]] = True
    return out


# ---- everything -----------------------------------------------------------------------------------------------


def calibrate(
    bad: np.ndarray,
    w: np.ndarray,
    flags: Sequence[Sequence[str] | None],
    scores: Mapping[str, np.ndarray],
    rules: Mapping[str, str | None],
    drop_severities: Sequence[str],
    directions: Mapping[str, str],
    target: float = DEFAULT_TARGET_PRECISION,
    min_labels: int = DEFAULT_MIN_LABELS,
) -> dict[str, Any]:
    """Every rule (`rules`: name -> its severity in the run, None when unknown; rules that fired
    but are not listed are added) and every score column against the verdicts `bad`, rows
    weighted by `w`. Returns {rules, columns, severity_changes}."""
    bad = np.asarray(bad, dtype=bool)
    names = dict(rules)
    for row in flags:
        for name in row or ():
            names.setdefault(name, None)
    ordered = sorted(names)
    fired = fired_matrix(flags, ordered)
    rule_out = {
        name: rule_report(fired[:, j], bad, w, names[name], drop_severities, target, min_labels) for j, name in enumerate(ordered)
    }
    columns = {name: column_report(name, s, bad, w, target, directions.get(name)) for name, s in scores.items()}
    changes = {
        name: {
            "from": r["severity"],
            "to": r["recommended_severity"],
            "precision": r["precision"],
            "precision_ci95": r["precision_ci95"],
            "labelled_firings": r["labelled_firings"],
        }
        for name, r in rule_out.items()
        if "recommended_severity" in r
    }
    return {"rules": rule_out, "columns": columns, "severity_changes": changes}


def default_apply(columns: Mapping[str, Any]) -> list[str]:
    """The column whose recommended threshold goes into keep.min by default: composite, else quality."""
    for name in ("composite", "quality"):
        if name in columns:
            return [name]
    return []


def keep_thresholds(columns: Mapping[str, Any], apply: Sequence[str]) -> tuple[dict[str, float], dict[str, str]]:
    """({column: threshold} for keep.min, {column: why not} for applied columns that cannot be used).

    keep.min drops rows below a threshold, so only higher-is-better columns with a recommendation fit.
    """
    thresholds: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for name in apply:
        c = columns[name]
        if c["direction"] != HIGHER:
            skipped[name] = "lower scores are better in this column; keep.min only drops rows below a threshold"
        elif c.get("recommended") is None:
            skipped[name] = f"no recommended threshold ({c['criterion']})"
        else:
            thresholds[name] = float(c["recommended"]["threshold"])
    return thresholds, skipped


# ---- the config overlay ---------------------------------------------------------------------------------------


def config_diff(config: Any, defaults: Any, path: tuple[str, ...] = ()) -> Any:
    """What of `config` differs from `defaults`, as a mapping `merge` puts back over them (None: nothing).

    Sections are compared key by key; free-form mappings (merged whole), lists and
    scalars are kept whole when they differ.
    """
    if isinstance(config, dict) and isinstance(defaults, dict) and path not in OPEN_MAPPINGS:
        out = {}
        for key, value in config.items():
            if key not in defaults:
                out[key] = value
                continue
            d = config_diff(value, defaults[key], (*path, str(key)))
            if d is not None:
                out[key] = d
        return out or None
    return None if config == defaults else config


def calibrated_config(
    run_config: Mapping[str, Any], keep_min: Mapping[str, float], severities: Mapping[str, str]
) -> dict[str, Any]:
    """The run's effective config with keep.min and rule_severity updated (plain data, a fresh copy)."""
    data = copy.deepcopy(dict(run_config))
    keep = dict(data.get("keep") or {})
    keep["min"] = {**(keep.get("min") or {}), **{k: float(v) for k, v in keep_min.items()}}
    data["keep"] = keep
    data["rule_severity"] = {**(data.get("rule_severity") or {}), **severities}
    return data


# ---- the printed table -----------------------------------------------------------------------------------------


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f" [{ci[0]:.2f},{ci[1]:.2f}]"


def table_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per rule and per score column: precision and recall (95 % CI), F1, and what to change."""
    names = [*report["rules"], *report["columns"]]
    width = max([len("rule / column"), *(len(n) for n in names)])
    lines = [f"{'rule / column':<{width}}  {'kind':<9} {'flagged':>7}  {'precision':<17} {'recall':<17} {'F1':>4}  action"]
    for name, r in report["rules"].items():
        action = r["assessment"]
        lines.append(
            f"{name:<{width}}  {(r['severity'] or '?'):<9} {r['labelled_firings']:>7}  "
            f"{_f(r['precision']) + _ci(r['precision_ci95']):<17} {_f(r['recall']) + _ci(r['recall_ci95']):<17} "
            f"{_f(r['f1']):>4}  {action}"
        )
    for name, c in report["columns"].items():
        rec = c.get("recommended")
        kind = "score(hi)" if c["direction"] == HIGHER else "score(lo)"
        if rec is None:
            lines.append(f"{name:<{width}}  {kind:<9} {'-':>7}  {'-':<17} {'-':<17} {'-':>4}  {c['criterion']}")
            continue
        op = "<" if c["direction"] == HIGHER else ">"
        lines.append(
            f"{name:<{width}}  {kind:<9} {rec['flagged']:>7}  "
            f"{_f(rec['precision']) + _ci(rec['precision_ci95']):<17} {_f(rec['recall']) + _ci(rec['recall_ci95']):<17} "
            f"{_f(rec['f1']):>4}  bad when {op} {rec['threshold']:.6g} ({c['criterion']})"
        )
    return lines
