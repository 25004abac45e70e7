"""impact.publish: staging, the atomic swap, its fallback, leftovers and the refusal to delete user files."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from impact import publish as pub
from impact.publish import OutputError, check_replaceable, discard, publish, staging_dir, verify_output


def _write(folder: Path, version: str) -> None:
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "a.txt").write_text(version)
    (folder / "sub" / "b.txt").write_text(version * 2)


def _version(final: Path) -> str:
    assert verify_output(final) == []
    a, b = (final / "a.txt").read_text(), (final / "sub" / "b.txt").read_text()
    assert b == a * 2
    return a


def test_publish_new_then_replace(tmp_path):
    final = tmp_path / "out"
    s = staging_dir(final)
    assert s.parent == tmp_path and s.name.startswith(".out.staging-") and s.is_dir()
    _write(s, "A")
    publish(s, final, "test")
    assert _version(final) == "A" and not s.exists()
    s = staging_dir(final)
    _write(s, "B")
    publish(s, final, "test")
    assert _version(final) == "B"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging, no lock, no old copy


def test_fallback_without_exchange_and_recovery_after_a_kill_between_the_renames(tmp_path, monkeypatch):
    final = tmp_path / "out"
    s = staging_dir(final)
    _write(s, "A")
    publish(s, final, "test")

    def no_exchange(a, b):
        raise OSError(errno.EINVAL, "not supported")

    monkeypatch.setattr(pub, "_exchange", no_exchange)
    s = staging_dir(final)
    _write(s, "B")
    publish(s, final, "test")
    assert _version(final) == "B" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    # a process killed after moving the old result aside and before moving the new one in:
    code = f"""
import os, sys
sys.path.insert(0, {str(Path.cwd())!r})
from pathlib import Path
from impact import publish as pub
final = Path({str(final)!r})
s = pub.staging_dir(final)
(s / "a.txt").write_text("C"); (s / "sub").mkdir(); (s / "sub" / "b.txt").write_text("CC")
os.rename(final, final.parent / (".out.old-" + s.name.split(".staging-")[1]))
os.kill(os.getpid(), 9)
"""
    subprocess.run([sys.executable, "-c", code])
    assert not final.exists()  # the window of the fallback
    s = staging_dir(final)  # the next run puts the complete old result back and removes the leftovers
    assert _version(final) == "B"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", s.name, s.name + ".lock"])
    discard(s)


def test_leftovers_of_dead_runs_removed_live_ones_kept(tmp_path):
    final = tmp_path / "out"
    live = staging_dir(final)  # held by this process
    dead = tmp_path / ".out.staging-1-deadbeef"
    dead.mkdir()
    (tmp_path / ".out.staging-1-deadbeef.lock").write_text("")
    legacy = tmp_path / ".out.tmp-abc"
    legacy.mkdir()
    other = tmp_path / ".other.staging-1-deadbeef"
    other.mkdir()
    (tmp_path / "user.txt").write_text("keep")
    second = staging_dir(final)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert live.name in names and second.name in names and ".other.staging-1-deadbeef" in names
    assert dead.name not in names and legacy.name not in names and "user.txt" in names
    discard(live)
    discard(second)


def test_lock_is_held_while_the_staging_folder_lives(tmp_path):
    s = staging_dir(tmp_path / "out")
    fd = os.open(tmp_path / (s.name + ".lock"), os.O_RDWR)
    with pytest.raises(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)
    discard(s)
    assert list(tmp_path.iterdir()) == []


def test_symlinked_target_is_followed(tmp_path):
    real = tmp_path / "real"
    s = staging_dir(real)
    _write(s, "A")
    publish(s, real, "test")
    (tmp_path / "link").symlink_to(real)
    s = staging_dir(tmp_path / "link")
    assert s.parent == tmp_path and s.name.startswith(".real.staging-")
    _write(s, "B")
    publish(s, tmp_path / "link", "test")
    assert (tmp_path / "link").is_symlink() and _version(real) == "B"


def test_user_files_are_never_deleted(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="was not written by `impact test`"):
        check_replaceable(final, "test")
    s = staging_dir(final)
    _write(s, "A")
    with pytest.raises(OutputError, match="was not written by `impact test`"):
        publish(s, final, "test")
    assert (final / "notes.txt").read_text() == "mine" and not s.exists()
    (final / "notes.txt").unlink()
    s = staging_dir(final)  # an empty folder may be replaced
    _write(s, "A")
    publish(s, final, "test")
    (final / "sub" / "mine.csv").write_text("x")
    with pytest.raises(OutputError, match=r"holds files `impact test` did not write \(sub/mine.csv\)"):
        check_replaceable(final, "test")


def test_file_target_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is a file; expected a folder"):
        staging_dir(tmp_path / "f")
    with pytest.raises(OutputError, match="is a file; expected a folder"):
        staging_dir(tmp_path / "f" / "below")


def test_verify_output_detects_a_mixed_folder(tmp_path):
    final = tmp_path / "out"
    s = staging_dir(final)
    _write(s, "A")
    publish(s, final, "test")
    os.utime(final / "a.txt", ns=(1, 1))
    assert verify_output(final) == ["changed a.txt"]
    (final / "extra").write_text("x")
    (final / "sub" / "b.txt").unlink()
    assert verify_output(final) == ["changed a.txt", "missing sub/b.txt", "not published extra"]
