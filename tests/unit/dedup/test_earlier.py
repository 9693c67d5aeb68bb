"""A night's settled rows: pairs of two earlier rows are not verified again, and earlier rows are kept first."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from winnow.transforms.dedup.earlier import EarlierRows
from winnow.transforms.dedup.keep import keep_order
from winnow.transforms.dedup.params import REFERENCE_BASE
from winnow.transforms.schema import ROW_BITS


def key(shard: int, row: int) -> int:
    return (shard << ROW_BITS) | row


REF = REFERENCE_BASE + 2


def test_settled_rows_are_those_of_the_listed_shards_less_last_nights_copies():
    earlier = EarlierRows((3, 5), np.array([key(3, 1)], np.int64))
    keys = np.array([key(3, 0), key(3, 1), key(5, 9), key(4, 0), key(REF, 7)], np.int64)
    assert earlier.settled(keys).tolist() == [True, False, True, False, False]
    assert earlier.earlier(keys).tolist() == [True, False, True, False, True]
    assert EarlierRows().settled(keys).tolist() == [False] * 5
    assert EarlierRows().earlier(keys).tolist() == [False, False, False, False, True]


def test_pairs_of_two_earlier_rows_are_dropped_and_pairs_with_a_new_row_or_a_copy_stay():
    earlier = EarlierRows((3,), np.array([key(3, 1)], np.int64))
    pairs = np.array(
        [
            [key(3, 0), key(REF, 0), 1],  # settled with reference: settled last night
            [key(3, 0), key(3, 2), 1],  # two settled rows
            [key(REF, 0), key(REF, 1), 1],  # inside the reference
            [key(3, 1), key(REF, 0), 1],  # last night's copy: verified again (it needs its kept row)
            [key(4, 0), key(REF, 0), 1],  # a new row
            [key(3, 0), key(4, 0), 1],
        ],
        np.int64,
    )
    kept = earlier.drop_settled_pairs(pairs)
    assert kept[:, :2].tolist() == [[key(3, 1), key(REF, 0)], [key(4, 0), key(REF, 0)], [key(3, 0), key(4, 0)]]
    # Without settled shards only pairs inside the reference go (as before nights existed).
    assert len(EarlierRows().drop_settled_pairs(pairs)) == 5
    assert EarlierRows().drop_settled_pairs(np.zeros((0, 3), np.int64)).shape == (0, 3)


def test_settled_rows_sort_after_reference_rows_and_before_new_rows_whatever_the_keep_rule():
    table = pa.table(
        {
            "component": [1, 1, 1, 1],
            "is_reference": [False, False, True, False],
            "settled": [False, True, False, False],
            "quality": [0.99, 0.2, 0.1, 0.5],
            "key": [key(4, 0), key(3, 0), key(REF, 0), key(4, 1)],
        }
    )
    order = table.sort_by(keep_order(("-quality",), settled=True)).column("key").to_pylist()
    assert order == [key(REF, 0), key(3, 0), key(4, 0), key(4, 1)]
    plain = table.sort_by(keep_order(("-quality",))).column("key").to_pylist()
    assert plain == [key(REF, 0), key(4, 0), key(4, 1), key(3, 0)]


def test_frozen_copies_lose_their_band_entries_and_every_other_row_keeps_them():
    frozen = np.array([key(3, 1), key(3, 4)], np.int64)
    earlier = EarlierRows((3,), np.array([key(3, 1), key(3, 2), key(3, 4)], np.int64), frozen)
    entries = np.array(
        [[7, key(3, 0), 0, 0], [7, key(3, 1), 0, 0], [8, key(3, 2), 0, 0], [8, key(3, 4), 0, 0], [9, key(REF, 1), 0, 0]],
        dtype=np.uint64,
    )
    kept = earlier.without_frozen(entries)
    assert kept[:, 1].astype(np.int64).tolist() == [key(3, 0), key(3, 2), key(REF, 1)]
    assert EarlierRows().without_frozen(entries) is entries


def test_rows_named_by_key_are_settled_too_and_copies_are_not():
    earlier = EarlierRows((3,), np.array([key(3, 1)], np.int64), rows=np.array([key(4, 2)], np.int64))
    keys = np.array([key(3, 0), key(3, 1), key(4, 1), key(4, 2)], np.int64)
    assert earlier.settled(keys).tolist() == [True, False, False, True]
    assert EarlierRows(rows=np.array([key(4, 2)], np.int64)).settled(keys).tolist() == [False, False, False, True]
    assert EarlierRows(rows=np.array([key(4, 2)], np.int64)).any and not EarlierRows().any
