"""files.copy: locally a hard link where it can be, which holds only because no write is in place; files.match_by_index."""

from __future__ import annotations

import os

import pyarrow as pa

from winnow.transforms.io import files, parquet_out


def test_a_local_copy_is_a_link_that_a_later_write_of_either_name_does_not_reach(tmp_path):
    src = tmp_path / "state" / "records.bin"
    src.parent.mkdir()
    src.write_bytes(b"last night")
    dst = tmp_path / "run" / "deep" / "records.bin"
    files.copy(str(src), str(dst))
    assert dst.read_bytes() == b"last night" and os.path.samefile(src, dst)
    # Every winnow write moves a new file into place: the other name keeps its bytes.
    files.write_atomically(str(dst), b"tonight")
    assert (src.read_bytes(), dst.read_bytes()) == (b"last night", b"tonight")
    parquet_out.write_table(str(src), pa.table({"x": [1]}))
    assert dst.read_bytes() == b"tonight"
    # Copying over an existing file replaces it; copying a file onto itself (or its link) keeps it.
    files.copy(str(src), str(dst))
    assert dst.read_bytes() == src.read_bytes()
    files.copy(str(src), str(src))
    files.copy(str(src), str(dst))
    assert src.exists() and src.read_bytes() == dst.read_bytes() and os.path.samefile(src, dst)


def test_a_copy_falls_back_to_bytes_where_no_link_can_be_made(tmp_path, monkeypatch):
    src = tmp_path / "a.bin"
    src.write_bytes(b"data")

    def no_link(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    files.copy(str(src), str(tmp_path / "b.bin"))
    assert (tmp_path / "b.bin").read_bytes() == b"data" and not os.path.samefile(src, tmp_path / "b.bin")


def test_match_by_index_groups_one_listing_by_the_number_in_each_name(tmp_path):
    for name in ["part-000012-00001.parquet", "part-000003-00000.parquet", "part-000012-00000.parquet", "other.txt"]:
        (tmp_path / name).write_bytes(b"x")
    found = files.match_by_index(str(tmp_path / "part-*.parquet"), "part-")
    assert {i: [p.rsplit("/", 1)[1] for p in paths] for i, paths in found.items()} == {
        3: ["part-000003-00000.parquet"],
        12: ["part-000012-00000.parquet", "part-000012-00001.parquet"],
    }
