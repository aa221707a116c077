"""Atomic outputs: every command that writes does so through this module.

A file is written to a temporary file in the destination's own folder and renamed over the
destination only when complete; a directory is built in a staging folder beside the destination
and swapped into place. So the destination always holds either its complete old content or the
complete new content, and a run killed at any moment leaves at most a temporary file or staging
folder behind, named after the destination and the process id of its writer
(``.NAME.PID.RANDOM.fdx-tmp``); the next run on the same destination removes those whose writer
is no longer running.

Directories are swapped with Linux's ``renameat2(RENAME_EXCHANGE)``, which exchanges two paths
in one step. Where that call is missing (another kernel or C library) the old directory is first
renamed aside (``.NAME.PID.RANDOM.fdx-old``) and the new one renamed into place; if a run is
killed between the two renames, the next run on the destination moves the old directory back
before doing anything else.

A directory is only ever replaced when it is empty or when it is a previous output of the same
command, recognised by its marker file, and holds nothing but the files that command writes:
what the command did not write is never deleted.

Tests kill a writing command at a named point by setting the environment variable
``FASCICULATION_DX_KILL_AT`` to the point's name (see :func:`checkpoint`); it has no effect
otherwise.

This module sits at the top of the package beside :mod:`fasciculation_dx.errors` rather than in
a wing because every wing that writes (the priors writer, calibration, scoring, reports, the
command line) uses it; it imports only the errors.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import os
import shutil
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import OutputError, OutputExistsError

__all__ = [
    "KILL_ENV",
    "TEMP_SUFFIX",
    "checkpoint",
    "atomic_file",
    "atomic_directory",
    "check_file_target",
    "check_directory_target",
    "clean_stale",
    "temporary_path",
]

KILL_ENV = "FASCICULATION_DX_KILL_AT"
"""Environment variable naming the checkpoint at which a test kills the process (SIGKILL)."""

TEMP_SUFFIX = ".fdx-tmp"
OLD_SUFFIX = ".fdx-old"

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def checkpoint(name: str) -> None:
    """Kill this process with SIGKILL if ``FASCICULATION_DX_KILL_AT`` equals ``name`` (a test hook).

    Parameters
    ----------
    name
        The checkpoint, e.g. ``"score:chunk"``; documented where it is placed.
    """
    if os.environ.get(KILL_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temp_name(target: Path, suffix: str) -> Path:
    return target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{suffix}"


def temporary_path(target: str | os.PathLike) -> Path:
    """Return a new temporary name beside ``target`` that :func:`clean_stale` recognises.

    Parameters
    ----------
    target
        The destination the temporary file or folder is for.

    Returns
    -------
    pathlib.Path
        ``.NAME.PID.RANDOM.fdx-tmp`` in ``target``'s folder (not created).
    """
    return _temp_name(Path(target), TEMP_SUFFIX)


def _leftovers(target: Path, suffix: str) -> list[Path]:
    """Temporary files or folders of ``target`` whose writer is no longer running."""
    out = []
    prefix = f".{target.name}."
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return out
    for path in entries:
        name = path.name
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        middle = name[len(prefix) : -len(suffix)].split(".")
        if len(middle) != 2 or not middle[0].isdigit():
            continue
        if not _alive(int(middle[0])):
            out.append(path)
    return out


def clean_stale(target: str | os.PathLike) -> list[Path]:
    """Remove the temporary files and staging folders left by killed writers of ``target``.

    An old directory moved aside by a run that was killed before the new one was in place is
    moved back first, so the destination is never left missing.

    Parameters
    ----------
    target
        The destination file or directory.

    Returns
    -------
    list of pathlib.Path
        What was removed (or restored).
    """
    target = Path(target)
    done: list[Path] = []
    for old in _leftovers(target, OLD_SUFFIX):
        if not target.exists() and not target.is_symlink():
            with contextlib.suppress(OSError):
                os.replace(old, target)
                done.append(old)
                continue
        with contextlib.suppress(OSError):
            shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
            done.append(old)
    for tmp in _leftovers(target, TEMP_SUFFIX):
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp) if tmp.is_dir() and not tmp.is_symlink() else tmp.unlink()
            done.append(tmp)
    return done


def _reason(err: OSError) -> str:
    return err.strerror or str(err)


def check_file_target(target: str | os.PathLike, *, overwrite: bool, option: str = "--overwrite") -> Path:
    """Check that ``target`` can be written as a file, before any work is done.

    Parameters
    ----------
    target
        The output file.
    overwrite
        Whether an existing file may be replaced.
    option
        The option that allows replacing it, named in the message.

    Returns
    -------
    pathlib.Path
        ``target`` as a path.

    Raises
    ------
    OutputExistsError
        If ``target`` exists and ``overwrite`` is false, or is a directory.
    OutputError
        If its folder does not exist or cannot be written.
    """
    target = Path(target)
    if target.is_dir():
        raise OutputExistsError(f"the output '{target}' is a directory; give a file name")
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise OutputExistsError(f"'{target}' already exists; choose another file name or pass {option} to replace it")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"the output's folder '{folder}' does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into the folder '{folder}': permission denied")
    return target


@contextlib.contextmanager
def atomic_file(
    target: str | os.PathLike,
    *,
    overwrite: bool,
    option: str = "--overwrite",
    checked: bool = False,
) -> Iterator[Path]:
    """Write a file atomically: yield a temporary path, rename it over ``target`` on success.

    Parameters
    ----------
    target
        The output file.
    overwrite
        Whether an existing file may be replaced.
    option
        The option that allows replacing, named in the error message.
    checked
        ``target`` was already checked with :func:`check_file_target` (it is checked again
        only for what may have changed: the folder's existence).

    Yields
    ------
    pathlib.Path
        A new, empty temporary file in ``target``'s folder, to be written by the caller.

    Raises
    ------
    OutputExistsError, OutputError
        As :func:`check_file_target`; ``OutputError`` also when writing or renaming fails.
    """
    target = Path(target)
    if not checked:
        check_file_target(target, overwrite=overwrite, option=option)
    clean_stale(target)
    tmp = _temp_name(target, TEMP_SUFFIX)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise OutputError(f"cannot write '{target}': {_reason(err)}") from None
    os.close(fd)
    try:
        yield tmp
        checkpoint("atomic:before-rename")
        if target.is_dir():
            raise OutputExistsError(f"the output '{target}' is a directory; give a file name")
        if not overwrite and (target.exists() or target.is_symlink()):
            raise OutputExistsError(f"'{target}' appeared while it was being written; pass {option} to replace it")
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as err:
        if isinstance(err, (OutputExistsError, OutputError)):
            raise
        raise OutputError(f"cannot write '{target}': {_reason(err)}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _libc_exchange() -> Callable[[Path, Path], None] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return None
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int

    def exchange(a: Path, b: Path) -> None:
        if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), str(a))

    return exchange


_EXCHANGE = _libc_exchange() if hasattr(os, "uname") and os.uname().sysname == "Linux" else None


def _swap_in(staging: Path, target: Path) -> None:
    """Put ``staging`` at ``target`` (replacing it); remove the old directory afterwards."""
    if not target.exists():
        os.replace(staging, target)
        return
    if _EXCHANGE is not None:
        try:
            _EXCHANGE(staging, target)
        except OSError as err:
            if err.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
        else:
            checkpoint("atomic:after-exchange")
            shutil.rmtree(staging)  # now the old directory
            return
    aside = _temp_name(target, OLD_SUFFIX)
    os.replace(target, aside)
    checkpoint("atomic:between-renames")
    os.replace(staging, target)
    shutil.rmtree(aside)


def _foreign(target: Path, allowed: Callable[[Path], bool]) -> list[Path]:
    """Paths under ``target`` that its command does not write."""
    return [p for p in sorted(target.rglob("*")) if not allowed(p.relative_to(target))]


@contextlib.contextmanager
def atomic_directory(
    target: str | os.PathLike,
    *,
    overwrite: bool,
    marker: str,
    allowed: Callable[[Path], bool],
    what: str,
    option: str = "--overwrite",
    protected: tuple[Path, ...] = (),
) -> Iterator[Path]:
    """Build a directory in a staging folder and swap it into place on success.

    Parameters
    ----------
    target
        The output directory.
    overwrite
        Whether an existing, non-empty directory may be replaced.
    marker
        A file (relative to the directory) that every output of this command holds; a non-empty
        directory without it is never replaced.
    allowed
        Tells, for a path relative to ``target``, whether the command writes it; a directory
        holding anything else is never replaced.
    what
        What the directory is, for messages (e.g. ``"calibrated priors"``).
    option
        The option that allows replacing, named in the message.
    protected
        Directories that may be neither the target, inside it, nor hold it (e.g. the shipped
        priors).

    Yields
    ------
    pathlib.Path
        An empty staging folder beside ``target``.

    Raises
    ------
    OutputExistsError
        If ``target`` is a file, a protected directory (or inside or around one), non-empty without
        ``overwrite``, or holds anything its command did not write.
    OutputError
        If the folder cannot be written.
    """
    target = Path(target)
    check = functools.partial(
        check_directory_target,
        target,
        overwrite=overwrite,
        marker=marker,
        allowed=allowed,
        what=what,
        option=option,
        protected=protected,
    )
    check()
    parent = target.parent if str(target.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the folder '{parent}': {_reason(err)}") from None
    clean_stale(target)
    staging = _temp_name(target, TEMP_SUFFIX)
    try:
        staging.mkdir()
    except OSError as err:
        raise OutputError(f"cannot write into the folder '{parent}': {_reason(err)}") from None
    try:
        yield staging
        checkpoint("atomic:before-swap")
        check()  # again: the directory may have changed while the output was being built
        os.chmod(staging, 0o777 & ~_umask())
        _swap_in(staging, target)
    except OSError as err:
        if isinstance(err, (OutputExistsError, OutputError)):
            raise
        raise OutputError(f"cannot write '{target}': {_reason(err)}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def check_directory_target(
    target: str | os.PathLike,
    *,
    overwrite: bool,
    marker: str,
    allowed: Callable[[Path], bool],
    what: str,
    option: str = "--overwrite",
    protected: tuple[Path, ...] = (),
) -> Path:
    """Check that ``target`` may be written by :func:`atomic_directory` (same parameters).

    Returns
    -------
    pathlib.Path
        ``target`` as a path.
    """
    target = Path(target)
    resolved = target.resolve()
    for guard in protected:
        guard = guard.resolve()
        if resolved == guard or guard in resolved.parents:
            raise OutputExistsError(f"refusing to write {what} into {guard} or a folder inside it; choose a new folder")
        if resolved in guard.parents:
            raise OutputExistsError(f"refusing to replace {target}: it holds {guard}; choose a new folder")
    if target.exists() and not target.is_dir():
        raise OutputExistsError(f"'{target}' exists and is not a directory; choose a new folder")
    if target.is_symlink():
        raise OutputExistsError(f"'{target}' is a symbolic link; give the folder itself or a new folder")
    if target.is_dir():
        try:
            empty = not any(target.iterdir())
        except OSError as err:
            raise OutputError(f"cannot read the folder '{target}': {_reason(err)}") from None
        if not empty:
            if not overwrite:
                raise OutputExistsError(
                    f"'{target}' already exists and is not empty; choose a new folder or pass {option}"
                )
            reason = None
            if not (target / marker).is_file():
                reason = f"it has no {marker}, so it is not {what} written by this command"
            elif foreign := _foreign(target, allowed):
                shown = ", ".join(str(p.relative_to(target)) for p in foreign[:5])
                more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
                reason = f"it holds files this command did not write ({shown}{more})"
            if reason is not None:
                raise OutputExistsError(
                    f"refusing to replace '{target}': {reason}. Nothing was deleted; choose a new folder"
                )
    # the folder is staged beside the target: checked here, before any long work
    parent = target.parent if str(target.parent) else Path(".")
    if parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into the folder '{parent}': permission denied or read-only")
    return target
