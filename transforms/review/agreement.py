"""How far annotators agree: Krippendorff's alpha and pairwise Cohen's kappa, per question.

`verdict` is nominal (good/bad), `rating` ordinal (1-5). Alpha uses every item
with two or more values and tolerates missing ones; kappa compares two
annotators on the items both labelled (unweighted, for the rating too).
Undefined statistics (no pairable values, or no variation) are null with the
reason, never NaN.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import Counter
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from winnow.transforms.review.labels import RATINGS, VERDICTS

Level = Literal["nominal", "ordinal"]
QUESTIONS: dict[str, tuple[Level, list[Any]]] = {
    "verdict": ("nominal", list(VERDICTS)),
    "rating": ("ordinal", list(RATINGS)),
}


def _labels_by_item(table: pa.Table, column: str) -> dict[str, dict[str, Any]]:
    """id -> {annotator: value}, missing values left out."""
    out: dict[str, dict[str, Any]] = {}
    for row_id, annotator, value in zip(
        table.column("id").to_pylist(), table.column("annotator").to_pylist(), table.column(column).to_pylist()
    ):
        if value is not None:
            out.setdefault(row_id, {})[annotator] = value
    return out


def _float(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


def krippendorff_alpha(by_item: dict[str, dict[str, Any]], level: Level, domain: list[Any]) -> dict[str, Any]:
    """Alpha over the annotator x item matrix; values are coded by their place in `domain` (its order for ordinal)."""
    multi = {i: v for i, v in by_item.items() if len(v) >= 2}
    pairable = sum(len(v) for v in multi.values())
    if not multi:
        return {"value": None, "level": level, "pairable_values": 0, "reason": "no item has two or more labels"}
    if len({x for v in multi.values() for x in v.values()}) < 2:
        return {"value": None, "level": level, "pairable_values": pairable, "reason": "every label is the same value"}
    annotators = sorted({a for v in multi.values() for a in v})
    items = sorted(multi)
    data = np.full((len(annotators), len(items)), np.nan)
    for j, item in enumerate(items):
        for annotator, value in multi[item].items():
            data[annotators.index(annotator), j] = domain.index(value)
    import krippendorff  # heavy imports load when labels are imported, not with every winnow command

    value = krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=list(range(len(domain))))
    return {"value": _float(value), "level": level, "pairable_values": pairable}


def cohen_kappas(by_item: dict[str, dict[str, Any]], domain: list[Any]) -> list[dict[str, Any]]:
    """Unweighted Cohen's kappa of every annotator pair on the items both labelled, with n and raw agreement."""
    from sklearn.metrics import cohen_kappa_score  # 2 s to import: only when labels are imported

    annotators = sorted({a for v in by_item.values() for a in v})
    out = []
    for a, b in itertools.combinations(annotators, 2):
        shared = sorted(i for i, v in by_item.items() if a in v and b in v)
        entry: dict[str, Any] = {"annotators": [a, b], "items": len(shared), "kappa": None, "observed_agreement": None}
        if shared:
            x = [by_item[i][a] for i in shared]
            y = [by_item[i][b] for i in shared]
            entry["observed_agreement"] = round(sum(p == q for p, q in zip(x, y)) / len(shared), 6)
            if len(set(x) | set(y)) < 2:
                entry["reason"] = "both gave one value only: chance agreement is 1, kappa undefined"
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    entry["kappa"] = _float(cohen_kappa_score(x, y, labels=domain))
                if entry["kappa"] is None:
                    entry["reason"] = "kappa undefined (chance agreement is 1)"
        else:
            entry["reason"] = "no item labelled by both"
        out.append(entry)
    return out


def disagreements(table: pa.Table) -> list[dict[str, Any]]:
    """Rows whose annotators gave different verdicts or ratings, with each annotator's."""
    verdicts = _labels_by_item(table, "verdict")
    ratings = _labels_by_item(table, "rating")
    out = []
    for row_id in sorted(set(verdicts) | set(ratings)):
        v, r = verdicts.get(row_id, {}), ratings.get(row_id, {})
        on = [q for q, labels in (("verdict", v), ("rating", r)) if len(set(labels.values())) > 1]
        if on:
            out.append({"id": row_id, "on": on, "verdict": dict(sorted(v.items())), "rating": dict(sorted(r.items()))})
    return out


def agreement_report(table: pa.Table, skipped: Counter[str]) -> dict[str, Any]:
    """agreement.json: counts, then per question alpha and pairwise kappa, then the disagreements."""
    ids = table.column("id").to_pylist()
    per_item = Counter(ids)
    report: dict[str, Any] = {
        "counts": {
            "annotations": table.num_rows,
            "items": len(per_item),
            "items_with_2_or_more_annotators": sum(1 for n in per_item.values() if n >= 2),
            "annotators": len(set(table.column("annotator").to_pylist())),
            "skipped": dict(sorted(skipped.items())),
        }
    }
    for question, (level, domain) in QUESTIONS.items():
        by_item = _labels_by_item(table, question)
        report[question] = {
            "annotations": sum(len(v) for v in by_item.values()),
            "items": len(by_item),
            "items_with_2_or_more_annotators": sum(1 for v in by_item.values() if len(v) >= 2),
            "krippendorff_alpha": krippendorff_alpha(by_item, level, domain),
            "cohen_kappa": cohen_kappas(by_item, domain),
        }
    report["disagreements"] = disagreements(table)
    return report
