"""Writing output files safely: refuse targets that must not be overwritten, write a temporary file, rename.

Every file the package writes for a user (exports, figures, archives, reports) goes through
`atomic_output`, so a failure leaves nothing behind and an existing file is replaced whole or not at all.
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator

from .errors import NanogptDashError
from .store import DB_NAME

FILE_MODE = 0o644
_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class OutputError(NanogptDashError):
    """An output file cannot or must not be written where it was asked for."""


def check_output(path: str | Path, protected: Iterable[str | Path] = ()) -> Path:
    """The absolute target for `path`, or OutputError saying why nothing may be written there.

    Refused: a symbolic link, a directory, anything not a regular file, a missing folder, and any
    path inside a `protected` folder (a runs directory) or inside a run directory.
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputError(f"cannot check {path}: {e.strerror}") from e
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise OutputError(f"refusing to write {path}: it is a symbolic link (to {os.readlink(path)}); "
                              "give the path of a regular file")
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"refusing to write {path}: it is a directory; give a file name inside it")
        for test, kind in _KINDS:
            if test(st.st_mode):
                raise OutputError(f"refusing to write {path}: it is {kind}, not a regular file; give a file path")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: folder {parent} does not exist; create it or choose another path")
    return check_outside_runs(path, protected)


def check_outside_runs(path: str | Path, protected: Iterable[str | Path] = ()) -> Path:
    """The absolute `path` (its folder resolved), or OutputError if it lies in a protected folder or a run directory."""
    path = Path(path)
    target = path.absolute().parent.resolve() / path.name
    for root in protected:
        root = Path(root).resolve()
        if target == root or root in target.parents:
            raise OutputError(f"refusing to write {path}: it is inside the runs directory {root}, whose files belong "
                              "to the runs; choose a path outside it")
    for folder in [target, *target.parents]:
        if (folder / DB_NAME).exists():
            raise OutputError(f"refusing to write {path}: it is inside the run directory {folder}; "
                              "choose a path outside it")
    return target


@contextmanager
def atomic_output(path: str | Path, protected: Iterable[str | Path] = (), binary: bool = False) -> Iterator[IO]:
    """A file object whose contents replace `path` only when the block ends without an exception."""
    target = check_output(path, protected)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    except OSError as e:
        raise OutputError(f"cannot write into folder {target.parent}: {e.strerror}") from e
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": "", "encoding": "utf-8"})) as f:
            yield f
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            raise OutputError(f"cannot write {target}: {e.strerror or e}; nothing was written") from e
        raise


def write_bytes(path: str | Path, data: bytes, protected: Iterable[str | Path] = ()) -> Path:
    """Write `data` to `path` atomically (see atomic_output); returns the target."""
    target = check_output(path, protected)
    with atomic_output(target, protected, binary=True) as f:
        f.write(data)
    return target
