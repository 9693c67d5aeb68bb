"""Files, local or remote (gs://), through Beam's FileSystems: the one place that does it.

Everything else in winnow reads and writes run directories, side files,
spill files, models and configs through these helpers, so the rules for
remote paths (no temp name plus rename on an object store, "**" to see
nested prefixes) live in one module.
"""

from __future__ import annotations

import os
from typing import IO

from apache_beam.io.filesystems import CompressionTypes, FileSystems


def is_remote(path: str) -> bool:
    """A URL such as gs://bucket/x (anything with a scheme), not a local path."""
    return "://" in path


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


def local_dir(path: str) -> str | None:
    """The directory of a local file; None for remote files."""
    return None if is_remote(path) else os.path.dirname(os.path.abspath(path))


def match(pattern: str) -> list[str]:
    """Paths matching a glob, sorted."""
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def match_sizes(pattern: str) -> dict[str, int]:
    """Path -> size in bytes of every file matching a glob (raises on a bad pattern)."""
    return {m.path: m.size_in_bytes for m in FileSystems.match([pattern])[0].metadata_list}


def exists(path: str) -> bool:
    """A file, or a directory/prefix holding at least one file at any depth."""
    if FileSystems.exists(path):
        return True
    try:
        # "**": on gs:// "*" stops at "/", so a prefix holding only nested files (_work/bands/p00001/...) looked empty.
        return bool(match(join(path, "**")))
    except Exception:
        return False


def open_read(path: str) -> IO[bytes]:
    """A binary stream of the file's bytes as stored (no decompression by extension)."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_bytes(path: str) -> bytes:
    with open_read(path) as f:
        return f.read()


def create(path: str) -> IO[bytes]:
    """A binary stream that writes `path` as given (no compression by extension)."""
    return FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)


def write_bytes(path: str, data: bytes) -> None:
    with create(path) as f:
        f.write(data)


def temp_name(path: str) -> str:
    """Where a file is written before it is moved into place: itself on an object store,
    whose uploads are all-or-nothing already (a temp name plus rename would cost a copy
    and a delete per file on GCS); `path.tmp` locally."""
    return path if is_remote(path) else path + ".tmp"


def move_into_place(tmp: str, path: str) -> None:
    """Finish a write begun at temp_name(path)."""
    if tmp == path:
        return
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def write_atomically(path: str, data: bytes) -> None:
    """Readers see the whole file or none of it (a retried task rewrites the same name)."""
    tmp = temp_name(path)
    write_bytes(tmp, data)
    move_into_place(tmp, path)


def delete(path: str) -> None:
    FileSystems.delete([path])


def delete_tree(path: str) -> None:
    """Every file under `path`, then (locally) its empty directories."""
    found = match(join(path, "**"))
    if found:
        FileSystems.delete(found)
    if not is_remote(path) and os.path.isdir(path):
        for root, dirs, _ in os.walk(path, topdown=False):
            for d in dirs:
                os.rmdir(os.path.join(root, d))
        os.rmdir(path)
