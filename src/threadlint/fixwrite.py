"""Writing a fixed file back: only over the bytes that were linted, keeping
what the user has.

:func:`write_fix` replaces a file's content atomically (a temporary file next
to it, renamed over it) and only when the file still holds the bytes that
were linted. What the rename would lose is kept or the fix is refused:

- a symbolic link is kept: the file it points to is fixed (the temporary file
  is made next to that file);
- a file with several hard links is not fixed (a rename would split the
  links, and writing in place could not be atomic);
- a read-only file is not fixed;
- mode bits, owner and group (when running as root, or a group the user
  belongs to) and extended attributes are copied to the new file; when they
  cannot be, the file is not fixed.

Temporary files are named ``.threadlint-<pid>-<random>.tmp``, removed on any
error, and a later ``--fix`` that writes into the same directory removes those
left by a run that was killed (its process gone, the file older than a
minute).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import stat
import time
from typing import Optional, Set, Tuple

#: A temporary file of this module: ``.threadlint-<pid>-<token>.tmp``
#: (and ``.threadlint-<8 chars>.tmp``, the name earlier versions used).
TEMP_NAME = re.compile(r"^\.threadlint-(?:(?P<pid>\d+)-[0-9a-f]{16}|[a-z0-9_]{8})\.tmp$")
#: A temporary file younger than this is never taken for a stale one.
STALE_AFTER = 60.0


class FixNotWritten(Exception):
    """The fix was not written; the message says why (one line)."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def remove_stale_temps(directory: str) -> None:
    """Remove the temporary files a killed run left in ``directory``."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    now = time.time()
    for name in names:
        match = TEMP_NAME.match(name)
        if match is None:
            continue
        path = os.path.join(directory, name)
        try:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < STALE_AFTER:
                continue
            pid = match["pid"]
            if pid is not None and int(pid) != os.getpid() and _pid_alive(int(pid)):
                continue
            os.unlink(path)
        except (OSError, ValueError, OverflowError):
            continue


class Writer:
    """Writes fixes; cleans each directory of stale temporary files once."""

    def __init__(self) -> None:
        self._cleaned: Set[str] = set()

    def write(self, path: str, linted_digest: Optional[str], fixed: bytes) -> None:
        """Replace ``path``'s content with ``fixed`` if it still holds the
        bytes whose sha256 is ``linted_digest``. Raises FixNotWritten."""
        target = os.path.realpath(path)
        directory = os.path.dirname(target)
        if directory not in self._cleaned:
            self._cleaned.add(directory)
            remove_stale_temps(directory)
        write_fix(target, linted_digest, fixed)


def _read_current(target: str) -> Tuple[bytes, os.stat_result]:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(target, flags)
    except FileNotFoundError:
        raise FixNotWritten("deleted since it was read: not fixed") from None
    except OSError as exc:
        raise FixNotWritten(f"cannot read it again: {exc.strerror or exc}: not fixed") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FixNotWritten("no longer a regular file: not fixed")
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks), info
    finally:
        os.close(fd)


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns) == (b.st_dev, b.st_ino, b.st_size, b.st_mtime_ns)


def write_fix(target: str, linted_digest: Optional[str], fixed: bytes) -> None:
    """See :meth:`Writer.write`; ``target`` is a real path (no symlink)."""
    current, info = _read_current(target)
    if linted_digest is not None and digest(current) != linted_digest:
        if current == fixed:
            return  # already fixed (the same file named twice)
        raise FixNotWritten("changed since it was read: not fixed (run threadlint again)")
    if info.st_nlink > 1:
        raise FixNotWritten(f"has {info.st_nlink} hard links, which replacing it would split: "
                            "not fixed")
    if not info.st_mode & 0o222 or not os.access(target, os.W_OK):
        raise FixNotWritten("read-only: not fixed")
    directory = os.path.dirname(target)
    temp = os.path.join(directory, f".threadlint-{os.getpid()}-{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(temp, flags, 0o600)
    except OSError as exc:
        raise FixNotWritten(f"cannot write fix: {exc.strerror or exc}") from None
    try:
        try:
            _fill(fd, fixed, target, info)
        finally:
            os.close(fd)
        if not _same_file(info, os.stat(target)):
            raise FixNotWritten("changed since it was read: not fixed (run threadlint again)")
        os.replace(temp, target)
    except BaseException as exc:
        try:
            os.unlink(temp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise FixNotWritten(f"cannot write fix: {exc.strerror or exc}") from None
        raise


def _fill(fd: int, data: bytes, target: str, info: os.stat_result) -> None:
    """Write ``data`` to the temporary file and give it ``target``'s owner,
    group, mode and extended attributes."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    mine = os.fstat(fd)
    if (mine.st_uid, mine.st_gid) != (info.st_uid, info.st_gid):
        try:
            os.fchown(fd, info.st_uid if mine.st_uid != info.st_uid else -1,
                      info.st_gid if mine.st_gid != info.st_gid else -1)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EACCES):
                raise
            raise FixNotWritten(f"owned by {info.st_uid}:{info.st_gid}, which the fixed file "
                                "could not keep: not fixed") from None
    os.fchmod(fd, stat.S_IMODE(info.st_mode))  # after chown, which clears set-id bits
    _copy_xattrs(fd, target)
    os.fsync(fd)


def _copy_xattrs(fd: int, target: str) -> None:
    listxattr = getattr(os, "listxattr", None)
    if listxattr is None:
        return
    try:
        names = listxattr(target)
    except OSError:
        return  # not supported here
    for name in names:
        try:
            os.setxattr(fd, name, os.getxattr(target, name))
        except OSError as exc:
            raise FixNotWritten(f"cannot keep its extended attribute {name!r} "
                                f"({exc.strerror or exc}): not fixed") from None
