"""Atomic publication of output folders (``impact simulate``, ``impact outcomes``, ``impact run``).

A command builds its whole output in a hidden staging folder beside the target and then
publishes it in one step, so that at every instant the target is either the whole old
result or the whole new one::

    staging = staging_dir(final)      # .NAME.staging-PID-XXXX beside final, same file system
    ... write everything into staging ...
    publish(staging, final)           # the swap; or discard(staging) on failure

The scheme
----------
* **Swap**: when ``final`` exists, the staging folder and ``final`` are exchanged by one
  ``renameat2(RENAME_EXCHANGE)`` system call (Linux >= 3.15; ext4, xfs, btrfs, tmpfs): no
  instant exists at which ``final`` is missing or mixed. The old result then sits at the
  staging path and is deleted. When ``final`` does not exist, one ``rename`` moves the
  staging folder in. On a file system without the exchange (``EINVAL``), the fallback is
  two renames (``final`` -> ``.NAME.old-TOKEN``, staging -> ``final``); a kill between
  them leaves ``final`` missing for an instant, and the next :func:`staging_dir` for the
  same target renames the complete old result back (documented in ``docs/disclosure.md``).
* **Leftovers**: each staging folder has a lock file ``.NAME.staging-TOKEN.lock`` on which
  its process holds an exclusive ``flock`` for as long as it lives (the kernel drops it when
  the process dies, SIGKILL included). :func:`staging_dir` removes the staging folders of
  the same target whose lock is free (their process is gone), and the leftovers of the
  earlier scheme (``.NAME.tmp-*``, ``.NAME.old-*``), never anything else.
* **Ownership**: :func:`publish` writes ``.impact-output.json`` (the command and every file it
  published) into the result. Replacing an existing ``final`` is refused when it holds files
  the toolkit did not write there (user files are never deleted), or when it is a folder
  the toolkit did not write at all; :func:`check_replaceable` says so before the work starts.

Test hook: ``IMPACT_PUBLISH_TRACE=FILE`` appends each phase of :func:`publish` to FILE and
``IMPACT_PUBLISH_PAUSE=SECONDS`` sleeps after each, so that a test can kill the process
inside the swap.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Callable

from impact.errors import ImpactError

__all__ = ["OutputError", "check_replaceable", "clean_leftovers", "discard", "publish", "staging_dir", "target",
           "verify_output"]

MARKER = ".impact-output.json"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_LOCKS: dict[Path, int] = {}  # staging folder -> file descriptor of its held lock


class OutputError(ImpactError):
    """An output folder cannot be written or replaced (names the path and the reason)."""


def target(final: str | Path) -> Path:
    """The folder a result is published to: ``final`` made absolute, a symlink followed.

    Raises
    ------
    OutputError
        ``final`` (or a parent) exists and is a file.
    """
    final = Path(final).absolute()
    if final.is_symlink():
        final = final.resolve()
    for p in (final, *final.parents):
        if p.exists() and not p.is_dir():
            raise OutputError(f"output path {final}: {p} is a file; expected a folder")
    return final


def _lock_path(parent: Path, name: str, token: str) -> Path:
    return parent / f".{name}.staging-{token}.lock"


def _trace(phase: str) -> None:
    trace = os.environ.get("IMPACT_PUBLISH_TRACE")
    if trace:
        with open(trace, "a") as fh:
            fh.write(f"{phase}\n")
            fh.flush()
        pause = float(os.environ.get("IMPACT_PUBLISH_PAUSE", "0") or 0)
        if pause > 0:
            time.sleep(pause)


def _remove(path: Path) -> None:
    """Delete a leftover folder (or file/link) of ours; never follows a symlink."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def _lock_is_free(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops the probe's lock too


def clean_leftovers(final: Path) -> list[Path]:
    """Remove what killed earlier runs for ``final`` left beside it; returns what was removed.

    A complete old result parked by the two-rename fallback (``.NAME.old-TOKEN``) is renamed
    back to ``final`` when ``final`` is missing.
    """
    parent, name = final.parent, final.name
    if not parent.is_dir():
        return []
    removed: list[Path] = []
    prefix = f".{name}.staging-"
    tokens = set()
    for p in parent.iterdir():
        n = p.name
        if n.startswith(prefix):
            tokens.add(n[len(prefix):].removesuffix(".lock"))
        elif n.startswith(f".{name}.old-"):
            tokens.add(n[len(f".{name}.old-"):])
    for token in sorted(tokens):
        lock = _lock_path(parent, name, token)
        if lock.exists() and not _lock_is_free(lock):
            continue  # a live process owns it
        staging, old = parent / f"{prefix}{token}", parent / f".{name}.old-{token}"
        if old.is_dir() and not old.is_symlink() and not final.exists():
            os.rename(old, final)  # the fallback swap was cut between its two renames
        for p in (staging, old, lock):
            if p.exists() or p.is_symlink():
                _remove(p)
                removed.append(p)
    for p in parent.glob(f".{name}.tmp-*"):  # the earlier scheme's temporary folders
        _remove(p)
        removed.append(p)
    return removed


def staging_dir(final: str | Path) -> Path:
    """A new, empty, hidden staging folder beside ``final`` (same file system), locked by this process.

    Leftovers of killed earlier runs for the same target are removed first.

    Raises
    ------
    OutputError
        ``final`` is a file, or its folder cannot be created or written.
    """
    final = target(final)
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(final)
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        lock = _lock_path(parent, final.name, token)
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # held until publish/discard or the process's death
        staging = parent / f".{final.name}.staging-{token}"
        os.mkdir(staging, 0o755)
    except OSError as e:
        raise OutputError(f"cannot write to {parent}: {os.strerror(e.errno) if e.errno else e}") from None
    _LOCKS[staging] = fd
    return staging


def _release(staging: Path) -> None:
    fd = _LOCKS.pop(staging, None)
    lock = _lock_path(staging.parent, *staging.name[1:].split(".staging-", 1))
    lock.unlink(missing_ok=True)
    if fd is not None:
        os.close(fd)


def discard(staging: str | Path) -> None:
    """Delete a staging folder and release its lock (a failed or abandoned run)."""
    staging = Path(staging)
    _remove(staging)
    _release(staging)


def _exchange(a: Path, b: Path) -> None:
    """Atomically exchange two paths (``renameat2(RENAME_EXCHANGE)``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        raise OSError(errno.ENOSYS, "renameat2 not available")
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(b))


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def _stats(folder: Path) -> dict[str, list[int]]:
    """Relative path -> [size, mtime in ns] of every file (recorded in the marker)."""
    out = {}
    for rel in _files(folder):
        st = (folder / rel).lstat()
        out[rel] = [st.st_size, st.st_mtime_ns]
    return out


def verify_output(final: str | Path) -> list[str]:
    """Differences between a published folder and its ``.impact-output.json`` (empty: intact).

    Names files that are missing, added, or whose size or modification time differ from what
    :func:`publish` recorded: a folder mixing two runs, or edited since, is caught.
    """
    final = Path(final)
    try:
        recorded = json.loads((final / MARKER).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [f"{MARKER}: {type(e).__name__}"]
    now = {k: v for k, v in _stats(final).items() if k != MARKER}
    problems = [f"missing {k}" for k in recorded if k not in now]
    problems += [f"not published {k}" for k in now if k not in recorded]
    problems += [f"changed {k}" for k in now if k in recorded and list(recorded[k]) != now[k]]
    return sorted(problems)


def _marker(final: Path) -> dict:
    try:
        m = json.loads((final / MARKER).read_text(encoding="utf-8"))
        return m if isinstance(m, dict) else {}
    except (ValueError, OSError, UnicodeDecodeError):
        return {}


def foreign_files(final: Path, legacy: Callable[[str], bool] | None = None, what: str | None = None
                  ) -> list[str] | None:
    """Files in ``final`` the toolkit did not write there (``None``: the folder is not ours at all).

    Ours: listed in its ``.impact-output.json`` by the same command (``what``; another command's
    output, e.g. registers given as the output of ``impact outcomes``, is not ours to replace), or
    named as the command names its files (``legacy(relative path)``; this also recognises folders
    written before the marker existed).
    """
    files = [f for f in _files(final) if f != MARKER]
    if (final / MARKER).is_file():
        marker = _marker(final)
        if what is not None and marker.get("command") != what:
            return None
        known = set(marker.get("files") or [])
        return [f for f in files if f not in known and not (legacy and legacy(f))]
    if not files:
        return []
    if legacy is None:
        return None
    extra = [f for f in files if not legacy(f)]
    return extra if len(extra) < len(files) else None


def check_replaceable(final: str | Path, what: str, legacy: Callable[[str], bool] | None = None) -> Path:
    """Refuse (before any work) to publish over a folder that holds files the toolkit did not write.

    Returns the resolved target (:func:`target`).

    Raises
    ------
    OutputError
        ``final`` is a file, is a folder the toolkit did not write, or holds other files.
    """
    final = target(final)
    if not final.exists():
        return final
    foreign = foreign_files(final, legacy, what)
    if foreign is None:
        other = _marker(final).get("command")
        by = f" (it holds the output of `impact {other}`)" if other and other != what else ""
        raise OutputError(f"{final} exists and was not written by `impact {what}`{by}; it would be replaced as a "
                          f"whole. Choose a new or empty output folder (or move this one away)")
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" (+{len(foreign) - 5} more)" if len(foreign) > 5 else "")
        raise OutputError(f"{final} holds files `impact {what}` did not write ({shown}); replacing the folder "
                          f"would delete them. Move them out or choose another output folder")
    return final


def publish(staging: str | Path, final: str | Path, what: str = "",
            legacy: Callable[[str], bool] | None = None) -> None:
    """Move a complete staging folder to ``final`` atomically (see the module text).

    Parameters
    ----------
    staging : a folder from :func:`staging_dir` for the same ``final``.
    final : the output folder.
    what : the command, recorded in ``.impact-output.json`` and named in messages.
    legacy : recogniser of the file names an older version of the command wrote (see
        :func:`check_replaceable`).

    Raises
    ------
    OutputError
        ``final`` holds files the toolkit did not write, or the swap fails (the staging
        folder is then discarded and ``final`` is unchanged).
    """
    staging, final = Path(staging), target(final)
    old = staging  # where the replaced result ends up (deleted at the end)
    if staging.parent != final.parent or not staging.name.startswith(f".{final.name}.staging-"):
        raise OutputError(f"{staging} is not a staging folder of {final}")
    try:
        check_replaceable(final, what, legacy)
        (staging / MARKER).write_text(json.dumps({"command": what, "files": _stats(staging)}, indent=1) + "\n",
                                      encoding="utf-8")
        _trace("staged")
        if final.exists():
            try:
                _exchange(staging, final)
            except OSError as e:
                if e.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
                    raise
                old = final.parent / f".{final.name}.old-{staging.name.split('.staging-', 1)[1]}"
                os.rename(final, old)
                _trace("moved-old-aside")
                os.rename(staging, final)
            _trace("swapped")
        else:
            os.rename(staging, final)
            _trace("moved-in")
    except OSError as e:
        discard(staging)
        raise OutputError(f"cannot publish {final}: {os.strerror(e.errno) if e.errno else e}") from None
    except BaseException:
        discard(staging)
        raise
    _remove(old)  # the old result (or nothing)
    _trace("old-removed")
    _release(staging)
    _fsync_dir(final.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
