"""A folder written as a whole (a data set): built in a temporary sibling and renamed into place.

    with new_folder("data/shapes", force=False) as tmp:   # .shapes.partial-XXXX beside it
        write_everything(tmp)
    # here data/shapes holds the whole data set; before, it was as the user left it

Interrupted (SIGINT or SIGTERM), out of disk space or out of memory, the temporary folder is
removed and the target is left as it was: `Interrupted` (exit 130) or `ResourceError` (exit 1),
each one line naming the target (and, for a full disk, the file being written). With `force`
the target may hold other files: the new files replace those of the same names one by one, and
`stale` (glob patterns, e.g. a previous larger world's pictures) are removed first; nothing else
is touched.

`check_resources(need_bytes, disk_bytes, folder, what)` refuses, before anything is created, a
run whose estimated memory or disk exceeds what the machine has.
"""
from __future__ import annotations

import errno
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from vsa_np.errors import Interrupted, ResourceError, UserError

NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _in_chain(e: BaseException, kind, test=lambda e: True):
    """The first exception of type `kind` (passing `test`) in e and its causes/contexts."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, kind) and test(e):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def no_space(e: BaseException):
    """The 'no space left on device' OSError behind `e`, or None."""
    return _in_chain(e, OSError, lambda o: o.errno in NO_SPACE)


def _newest_file(folder: Path) -> Path | None:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return max(files, key=lambda p: p.stat().st_mtime_ns) if files else None


def _make_parents(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; return those created (to undo), outermost
    first."""
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir()
    return list(reversed(missing))


def _commit(tmp: Path, target: Path, stale) -> None:
    """Move the finished folder into place: a rename when the target is absent or empty, else
    (--force) file by file over the files of the same names."""
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        target.rmdir()
    if not os.path.lexists(target):
        os.rename(tmp, target)
        return
    files = sorted(p.relative_to(tmp) for p in tmp.rglob("*") if p.is_file())
    for rel in files:                       # checked first, so that nothing moves on a clash
        for part in (*reversed(rel.parents[:-1]), rel):
            dest = target / part
            if part != rel and os.path.lexists(dest) and not dest.is_dir():
                raise UserError(f"{dest}: is a file where the data set has a folder")
        if (target / rel).is_dir() and not (target / rel).is_symlink():
            raise UserError(f"{target / rel}: is a folder where the data set has a file")
    for pattern in stale:
        for old in target.glob(pattern):
            if old.is_file() or old.is_symlink():
                old.unlink()
    for rel in files:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / rel, target / rel)     # replaces a link itself, never what it names
    shutil.rmtree(tmp)


@contextmanager
def new_folder(target, stale=()):
    """Yield a fresh temporary folder beside `target`; when the block ends normally, move its
    contents into `target` (see the module docstring); otherwise remove it, leaving `target`
    as it was. Checks of the target (empty, --force) are the caller's, before this."""
    target = Path(target)
    created = _make_parents(target.parent)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.partial-"))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)              # mkdtemp's 0700 would outlive the rename
    state = {"signal": None, "committing": False}

    def on_signal(signum, frame):
        state["signal"] = signum
        if not state["committing"]:
            raise KeyboardInterrupt

    handlers = {}
    # a command's own process only: a multiprocessing worker must keep dying on SIGTERM (its
    # pool's terminate()), not go on waiting for work that will never come
    if threading.current_thread() is threading.main_thread() and \
            multiprocessing.parent_process() is None:
        handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            yield tmp
            state["committing"] = True
            _commit(tmp, target, stale)
        except BaseException as e:
            newest = _newest_file(tmp) if tmp.is_dir() else None
            shutil.rmtree(tmp, ignore_errors=True)
            for d in reversed(created):
                try:
                    d.rmdir()
                except OSError:
                    break
            as_was = f"{target} left as it was"
            if state["signal"] is not None or _in_chain(e, KeyboardInterrupt):
                raise Interrupted(f"interrupted; {as_was}") from None
            full = no_space(e)
            if full is not None or _in_chain(e, MemoryError):
                where = Path(full.filename) if full is not None and full.filename else newest
                name = target / where.relative_to(tmp) if where and where.is_relative_to(tmp) \
                    else (where or target)
                what = "no space left on device" if full is not None else "out of memory"
                raise ResourceError(f"{name}: {what} while writing it; {as_was}") from None
            raise
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    if state["signal"] is not None:          # arrived while the files were moved into place
        raise Interrupted(f"interrupted; {target} was written whole before it stopped")


def memory_available() -> int | None:
    """Bytes of memory this process may still use (MemAvailable, else free pages), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def disk_available(folder) -> int | None:
    """Free bytes on the file system that would hold `folder` (its nearest existing
    ancestor)."""
    p = Path(folder).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"


def check_resources(memory: float, disk: float, folder, what: str) -> None:
    """UserError, before anything is created, when `what` (the options, in words) needs more
    memory or disk (estimates in bytes) than this machine has."""
    for need, have, kind in ((memory, memory_available(), "memory"),
                             (disk, disk_available(folder), f"disk space in {folder}")):
        if have is not None and need > have:
            raise UserError(f"{what}: needs about {_size(need)} of {kind}, this machine has "
                            f"{_size(have)} free; choose fewer images or a smaller dimension")
