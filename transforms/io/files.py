"""Files, local or remote (gs://), through Beam's FileSystems: the one place that does it.

Everything else in winnow reads and writes run directories, side files,
spill files, models and configs through these helpers, so the rules for
remote paths (no temp name plus rename on an object store, "**" to see
nested prefixes) live in one module.
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import IO

from apache_beam.io.filesystems import CompressionTypes, FileSystems

# Beam's file sinks (WriteToParquet) write every bundle under <dir>/beam-temp-<prefix>-<uuid>/ and
# move the files into place when the write finishes; a run that dies leaves that folder behind.
BEAM_TEMP_PREFIX = "beam-temp-"


class UnwritableError(Exception):
    """An output location that cannot be created, written, read back or cleaned up."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"cannot write to {path}: {reason}")
        self.path = path
        self.reason = reason


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


def match_by_index(pattern: str, prefix: str) -> dict[int, list[str]]:
    """Paths matching a glob, sorted, grouped by the number after `prefix` in their file name (up to a "-"):
    per-shard files (`s000012-00000.npy`, `part-000012-00000.parquet`) found with one listing of their
    directory, not one glob per shard."""
    out: dict[int, list[str]] = {}
    for path in match(pattern):
        name = path.rstrip("/").rsplit("/", 1)[-1]
        out.setdefault(int(name[len(prefix) :].split("-", 1)[0]), []).append(path)
    return out


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


def copy(src: str, dst: str) -> None:
    """One file copied (server-side on gs://); local parent directories are created.

    Locally, a hard link where the filesystem allows one: winnow writes no file in place (every write goes to
    a temporary name moved into place), so the two names cannot diverge, and a night's copy of the reused
    shards' outputs from the state costs no I/O however large the corpus."""
    if is_remote(src) or is_remote(dst):
        FileSystems.copy([src], [dst])
        return
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    if os.path.lexists(dst):
        if os.path.exists(dst) and os.path.samefile(src, dst):
            return  # the same file (or a link to it) already: unlinking it first would lose it
        os.unlink(dst)
    try:
        os.link(src, dst)
    except OSError:  # another device, or a filesystem without hard links
        shutil.copyfile(src, dst)


def stat(path: str) -> dict[str, int | str]:
    """What tells that a file changed without reading it: size and mtime locally; on gs:// the
    object's generation, CRC32C and update time, which the metadata hold (no byte is read)."""
    if not is_remote(path):
        st = os.stat(path)
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    meta = FileSystems.match([path])[0].metadata_list[0]
    out: dict[str, int | str] = {"size": meta.size_in_bytes, "updated": int(meta.last_updated_in_seconds * 1e6)}
    out["crc32c"] = FileSystems.checksum(path)
    try:  # the generation changes with every write of the object, even of the same bytes
        fs = FileSystems.get_filesystem(path)
        out["generation"] = int(fs._gcsIO()._gcs_object(path).generation)  # type: ignore[attr-defined]
    except Exception:
        pass
    return out


def delete_tree(path: str) -> None:
    """Every file under `path` (locally, the directory itself too)."""
    if not is_remote(path):  # one walk, instead of a glob match and a delete per file
        if os.path.isdir(path):
            shutil.rmtree(path)
        return
    found = match(join(path, "**"))
    if found:
        FileSystems.delete(found)


def _reason(e: BaseException) -> str:
    """The cause of a failed file operation, without the path (the message names the location once)."""
    details = getattr(e, "exception_details", None)  # BeamIOError: {path: what went wrong there}
    if isinstance(details, dict) and details:
        e = next(iter(details.values()))
    if isinstance(e, OSError) and e.errno is not None:
        return f"[Errno {e.errno}] {e.strerror}"
    return str(e) or type(e).__name__


def _missing_dirs(path: str) -> list[str]:
    """The local directories that creating `path` would create, deepest first."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    return missing


def check_writable(directory: str) -> None:
    """Create `directory` if needed, write a small probe file in it, read it back and delete it.

    An output that is a file, read-only, immutable or full then fails before any
    data is read, with its cause, instead of minutes into the run under a
    traceback. Directories created here are removed again, so a dry run leaves
    nothing behind. Raises UnwritableError.
    """
    if not is_remote(directory) and os.path.exists(directory) and not os.path.isdir(directory):
        raise UnwritableError(directory, "it is a file, not a directory")
    created = [] if is_remote(directory) else _missing_dirs(directory)
    probe = join(directory, f".winnow-probe-{uuid.uuid4().hex[:12]}")
    data = b"winnow checks that it can write here before reading any data\n"
    try:
        if created:
            os.makedirs(directory)
        try:
            write_bytes(probe, data)
            back = read_bytes(probe)
        except Exception:
            _delete_if_there(probe)  # created, then the write failed (a full disk)
            raise
        delete(probe)
    except Exception as e:
        raise UnwritableError(directory, _reason(e)) from e
    finally:
        for d in created:
            try:
                os.rmdir(d)
            except OSError:
                pass  # not created after all, or no longer empty
    if back != data:
        raise UnwritableError(directory, "a probe file read back different bytes")


def _delete_if_there(path: str) -> None:
    try:
        if FileSystems.exists(path):
            delete(path)
    except Exception:
        pass  # the error that brought us here is the one to report


def _is_temp(relative: str) -> bool:
    """A file of an unfinished write: under a Beam temp folder, or written at temp_name()."""
    folders = relative.split("/")[:-1]
    return relative.endswith(".tmp") or any(f.startswith(BEAM_TEMP_PREFIX) for f in folders)


def delete_temp_files(directory: str) -> None:
    """What unfinished writes left under `directory` (Beam temp folders, *.tmp files); other files stay."""
    try:
        found = match(join(directory, "**"))
    except Exception:
        return  # nothing there
    base = directory.rstrip("/") + "/"
    temp = [p for p in found if _is_temp(p[len(base) :].replace(os.sep, "/"))]
    if temp:
        FileSystems.delete(temp)
    if not is_remote(directory) and os.path.isdir(directory):
        for root, dirs, _ in os.walk(directory, topdown=False):
            for d in dirs:
                path = os.path.join(root, d)
                if _is_temp(os.path.relpath(path, directory).replace(os.sep, "/") + "/") and not os.listdir(path):
                    os.rmdir(path)
