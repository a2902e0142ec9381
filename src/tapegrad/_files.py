"""Writing files so that a crash, a full disk or Ctrl-C leaves the old file or the new one,
never half of either: write a temporary file beside the target, flush and fsync it, and
rename it over the target (a rename within one folder is atomic on POSIX and Windows).
Every writer of the package (checkpoints, pages, pictures, run records) goes through here.

A run's folder (`RunFolder`) is held exclusively for the whole run and written through a private
staging folder inside it, so two runs never mix files and a symlink planted in it is replaced,
never followed."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # Windows: a lock file made with O_EXCL instead (see RunFolder)
    fcntl = None  # type: ignore[assignment]

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


# --- a run's own folder ------------------------------------------------------------------------

RUN_FILES = (
    "model.json", "history.json", "run.json", "report.html", "loss.png",
    "decision_boundary.png", "neuron.svg",
)  # fmt: skip
"""The files a run (`tapegrad train`, `tapegrad demo`, `TableFit.save`) writes in its folder."""
_STAGING = ".tapegrad-run-"  # a run's staging folder inside its run folder: .tapegrad-run-XXXX
_LOCK_FILE = ".tapegrad.lock"  # only where flock is missing (Windows)


class RunFolderError(ValueError):
    """A run folder that cannot be taken: in use by another run, not empty, or not a folder."""


class RunFolder:
    """A run's own folder, held from before training until its files are in place.

    Taken exclusively: made fresh, or refused (RunFolderError) when another run holds it (an
    OS lock, `flock` on the folder, which dies with its process, so a crash never leaves it
    taken), or when it holds anything but unless `force`. Files are written into `file(NAME)`,
    a private staging folder inside it, and `commit()` renames them into the folder: a rename
    replaces a symlink planted there rather than writing through it. With `force`, `commit()`
    first deletes the files the folder's last run wrote (`RUN_FILES` and those its run.json
    lists), so the old run's files never stay beside the new one's; other files are kept. A
    run that ends without `commit()` changes nothing, and a folder it made is removed again.

    Example:
      >>> with RunFolder("runs/a") as run:  # doctest: +SKIP
      ...     write_text(run.file("history.json"), "{}")
      ...     run.commit()
    """

    def __init__(self, path: str | os.PathLike, *, force: bool = False, what: str = "--out"):
        self.path = os.fspath(path) or "."
        self.what = what  # how messages name the folder
        self.committed = False
        self._lock: int | None = None
        self._made: list[str] = []
        self._replacing = False
        try:
            self._claim(force)
            self.staging = tempfile.mkdtemp(dir=self.path, prefix=_STAGING)
        except BaseException:
            self.close()
            raise

    @classmethod
    def new(cls, root: str | os.PathLike, name: str) -> RunFolder:
        """A fresh folder ROOT/NAME, or ROOT/NAME-2, NAME-3, ...: the first that can be made."""
        n = 1
        while True:
            path = os.path.join(os.fspath(root), name if n == 1 else f"{name}-{n}")
            if not os.path.lexists(path):
                try:
                    run = cls(path)
                except RunFolderError:
                    pass  # another run made it first: take the next
                else:
                    if run._made and run._made[-1] == os.path.abspath(path):
                        return run
                    run.close()
            n += 1

    def _claim(self, force: bool) -> None:
        path = self.path
        try:  # one look: another run may be making the folder right now
            if not stat.S_ISDIR(os.stat(path).st_mode):
                raise RunFolderError(f"{self.what} {path!r} is a file, not a folder")
        except FileNotFoundError:
            pass
        self._made = _make_folders(path)
        self._lock = _lock_folder(path, self.what)
        # Under the lock: staging folders left by a crashed run belong to no one.
        for entry in os.listdir(path):
            if entry.startswith(_STAGING):
                shutil.rmtree(os.path.join(path, entry), ignore_errors=True)
        entries = sorted(e for e in os.listdir(path) if e != _LOCK_FILE)
        if entries and not force:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise RunFolderError(
                f"{self.what} {path!r} is not empty ({shown}); pass --force to replace the run "
                "in it, or name a new folder"
            )
        self._replacing = bool(entries)

    def _lock_name(self) -> str:
        return os.path.join(self.path, _LOCK_FILE)

    def file(self, name: str) -> str:
        """Where to write the run's file `name` (in the staging folder, until `commit`)."""
        if os.path.basename(name) != name or name in ("", ".", ".."):
            raise ValueError(f"a run's file is a plain name, got {name!r}")
        return os.path.join(self.staging, name)

    def final(self, path: str) -> str:
        """The path a staged file will have once committed (any other path as it is)."""
        if os.path.dirname(path) == self.staging:
            return os.path.join(self.path, os.path.basename(path))
        return path

    def commit(self) -> None:
        """Put every staged file in the folder (run.json last), after deleting the last run's
        files when replacing one; the staging folder is removed."""
        staged = sorted(os.listdir(self.staging), key=lambda name: name == "run.json")
        for name in staged:  # refused before anything moves: a folder where a file goes
            target = os.path.join(self.path, name)
            if os.path.isdir(target) and not os.path.islink(target):
                raise RunFolderError(f"{self.what} {self.path!r}: {name!r} in it is a folder")
        if self._replacing:
            for name in sorted(set(RUN_FILES) | _listed_files(self.path)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.path, name))
        for name in staged:
            os.replace(os.path.join(self.staging, name), os.path.join(self.path, name))
        os.rmdir(self.staging)
        _fsync_directory(Path(self.path))
        self.committed = True

    def close(self) -> None:
        """Remove the staging folder (and the folder itself if this run made it and wrote
        nothing), then release the folder."""
        if self._lock is None:
            return  # never held: someone else's folder, leave it alone
        staging = getattr(self, "staging", None)
        if staging and os.path.isdir(staging):
            shutil.rmtree(staging, ignore_errors=True)
        if fcntl is None:
            with contextlib.suppress(OSError):
                os.unlink(self._lock_name())
        if not self.committed:
            for folder in reversed(self._made):  # deepest first; only while empty
                try:
                    os.rmdir(folder)
                except OSError:
                    break
        os.close(self._lock)
        self._lock = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunFolder({self.path!r}{', committed' if self.committed else ''})"


def _make_folders(path: str) -> list[str]:
    """Make `path` and any missing folder on its way; the ones this call made, outermost first."""
    missing = []
    p = os.path.abspath(path)
    while not os.path.lexists(p):
        missing.append(p)
        p = os.path.dirname(p)
    made = []
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except FileExistsError:
            continue
        made.append(folder)
    return made


def _lock_folder(path: str, what: str) -> int:
    """A descriptor holding the run lock on `path`; a RunFolderError when another run has it."""
    busy = RunFolderError(
        f"{what} {path!r} is in use by another tapegrad run; wait for it to end or name another "
        "folder (--force does not take a folder from a running run)"
    )
    if fcntl is None:
        try:
            return os.open(os.path.join(path, _LOCK_FILE), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            raise busy from None
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        st, now = os.fstat(fd), os.stat(path)
    except BlockingIOError:
        os.close(fd)
        raise busy from None
    except BaseException:
        os.close(fd)
        raise
    if (st.st_dev, st.st_ino) != (now.st_dev, now.st_ino):  # removed and made anew meanwhile
        os.close(fd)
        raise busy
    return fd


def _listed_files(folder: str) -> set[str]:
    """The plain names of files in `folder` that its run.json lists (an old run's own files)."""
    try:
        with open(os.path.join(folder, "run.json"), encoding="utf-8") as fh:
            files = json.loads(fh.read(2**20)).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    names = set()
    for f in files if isinstance(files, list) else []:
        if isinstance(f, str) and os.path.dirname(os.path.abspath(f)) == os.path.abspath(folder):
            names.add(os.path.basename(f))
    return names - {"", ".", ".."}
