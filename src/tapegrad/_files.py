"""Writing files so that a crash, a full disk or Ctrl-C leaves the old file or the new one,
never half of either: write a temporary file beside the target, flush and fsync it, and
rename it over the target (a rename within one folder is atomic on POSIX and Windows)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | os.PathLike, keep_suffix: bool = True) -> Iterator[str]:
    """Yield a temporary path beside `path`, named `.NAME.PID-RANDOM.tmp` (plus `path`'s
    suffix with `keep_suffix`, so tools that pick a format by the extension still work); when
    the block ends without an error, the file written there is fsynced and renamed over
    `path`. On an error it is removed and `path` is untouched. A symlink keeps its link: the
    file it points to is replaced."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    suffix = f".tmp{path.suffix}" if keep_suffix else ".tmp"
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}-", suffix=suffix
    )
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        try:  # keep an existing file's permissions; a new one gets the usual 0644
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with replacing(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def _fsync_directory(directory: Path) -> None:
    # Make the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_writable_folder(folder: str | os.PathLike) -> str | None:
    """Why files cannot be created in `folder` (an existing directory), or None when they can:
    tried by creating and removing a temporary file, so permissions, read-only mounts and
    ACLs all count."""
    folder = os.fspath(folder) or "."
    if not os.path.exists(folder):
        return f"the folder {folder!r} does not exist"
    if not os.path.isdir(folder):
        return f"{folder!r} is a file, not a folder"
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".tapegrad-probe-")
    except OSError as err:
        return f"cannot write in {folder!r}: {err.strerror or err}"
    os.close(fd)
    os.unlink(probe)
    return None
