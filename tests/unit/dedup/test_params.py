"""DedupParams from the config."""

from __future__ import annotations

from datasketch.lsh import _optimal_param

from winnow.transforms.config import load_config
from winnow.transforms.dedup.params import DedupParams

CONFIG = load_config()


def test_dedup_params_use_optimal_bands_unless_set():
    p = DedupParams.from_config(CONFIG)
    d = CONFIG.dedup
    assert (p.bands, p.rows) == _optimal_param(d.threshold, d.num_perm, 0.5, 0.5)
    assert p.verify_threshold == d.verify_threshold and p.keep == ("-quality", "-response_chars", "id")
    assert p.part_threshold == d.part_threshold
    q = DedupParams.from_config(
        load_config(overrides={"dedup": {"bands": 16, "rows": 8, "verify_threshold": None, "text": "response"}})
    )
    assert (q.bands, q.rows, q.verify_threshold, q.parts, q.width) == (16, 8, d.threshold, 1, d.num_perm)
