import numpy as np
import pytest

from winnow.transforms.arrow_bytes import partition_order, partition_rows


@pytest.mark.parametrize("high", [1, 64, 1 << 16, 1 << 40])
def test_partition_order_is_a_stable_sort_by_partition_whatever_the_range(high: int) -> None:
    part = np.random.default_rng(high).integers(0, high, 5000).astype(np.int64)
    assert np.array_equal(partition_order(part), np.argsort(part, kind="stable"))


def test_partition_order_of_nothing_and_of_negative_numbers() -> None:
    assert partition_order(np.zeros(0, np.int64)).tolist() == []
    assert partition_order(np.array([3, -1, 3, 0], np.int64)).tolist() == [1, 3, 0, 2]


def test_partition_rows_keeps_row_order_within_a_partition() -> None:
    rows = partition_rows(np.array([2, 0, 2, 1, 0], np.int64))
    assert {p: r.tolist() for p, r in rows.items()} == {0: [1, 4], 1: [3], 2: [0, 2]}
