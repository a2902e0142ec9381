"""Writing files so that a crash, a full disk or Ctrl-C leaves the old file or the new one,
never half of either: write a temporary file beside the target, flush and fsync it, and
rename it over the target (a rename within one folder is atomic on POSIX and Windows).
Every writer of the package (checkpoints, pages, pictures, run records) goes through here."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_TEMP_AGE = 3600.0  # a temp file untouched this long (seconds) belongs to no running write


@contextlib.contextmanager
def replacing(path: str | os.PathLike, keep_suffix: bool = True) -> Iterator[str]:
    """Yield a temporary path beside `path` (`.NAME.PID-RANDOM.tmp`, plus `path`'s suffix with
    `keep_suffix`, for tools that go by it); the file written there is fsynced and renamed over
    `path` when the block ends, removed on an error. A symlink's target is replaced."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    _remove_stale_temps(path)
    # The writer's pid is in the temp file's name, so a later write can tell a temp file left
    # by a killed process from one another write is still making.
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


def write_text(path: str | os.PathLike, text: str, keep_suffix: bool = True) -> None:
    """Write `text` (UTF-8) to `path` atomically (`keep_suffix` as in `replacing`)."""
    with replacing(path, keep_suffix) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def _remove_stale_temps(path: Path) -> None:
    """Delete temp files of `path` whose writer is gone, or that are an hour old."""
    suffix = re.escape(path.suffix)
    name = re.compile(rf"\.{re.escape(path.name)}\.(?:(\d+)-)?[a-z0-9_]{{8}}\.tmp(?:{suffix})?")
    try:
        entries = os.listdir(path.parent)
    except OSError:
        return
    for entry in entries:
        m = name.fullmatch(entry)
        if m is None:
            continue
        tmp = path.parent / entry
        try:
            st = tmp.lstat()
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
            continue
        pid = m.group(1)
        if (pid is not None and not _running(int(pid))) or time.time() - st.st_mtime > _TEMP_AGE:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or cannot tell: leave its file alone
    return True


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
    """Why files cannot be created in the folder `folder` (tried with a temporary file), or None."""
    folder = os.fspath(folder) or "."
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".tapegrad-probe-")
    except OSError as err:
        return f"cannot write in {folder!r}: {err.strerror or err}"
    os.close(fd)
    os.unlink(probe)
    return None
