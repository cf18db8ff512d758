"""media.output: the destination is checked before the work, then claimed by a publish that never replaces a
file it did not expect (issue 17, defects 2 and 3 at unit level)."""
from __future__ import annotations

import ctypes
import errno
import json
import os
import stat
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from gpen_video.errors import DestinationTaken, DestinationUnwritable, InputError
from gpen_video.media import output
from gpen_video.media.output import check_destination, check_folder_destination, commit, temp_path_for, write_json_atomic
from gpen_video.media.writer import VideoWriter
from tests.helpers.files import SPECIAL, SPELLINGS, file_type, special_file, spelled
from tests.helpers.paths import SAMPLE
from tests.helpers.streams import leftovers


def _finished(dest: Path, data: bytes = b"this run's result") -> Path:
    """A finished temporary file for ``dest``, as a writer leaves it before publishing."""
    temp = temp_path_for(dest)
    temp.write_bytes(data)
    return temp


def _fail_link(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.EPERM, "Operation not permitted")  # what vfat and similar answer


@pytest.fixture(params=["renameat2", "link", "copy"])
def publish_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each exclusive publish in turn, the ones before it made unavailable."""
    if request.param != "renameat2":
        monkeypatch.setattr(output, "_renameat2", lambda: None)
    if request.param == "copy":
        monkeypatch.setattr(output.os, "link", _fail_link)
    return request.param


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")
def test_linux_publishes_with_renameat2() -> None:
    assert output._renameat2() is not None


def test_publish_moves_the_finished_file(tmp_path: Path, publish_by: str) -> None:
    dest = tmp_path / "out.mp4"
    temp = _finished(dest)
    commit(temp, dest, overwrite=False)
    assert dest.read_bytes() == b"this run's result"
    assert leftovers(tmp_path, {"out.mp4"}) == []


def test_publish_never_replaces_a_file_that_appeared(tmp_path: Path, publish_by: str) -> None:
    dest = tmp_path / "out.mp4"
    temp = _finished(dest)
    dest.write_bytes(b"precious")
    with pytest.raises(DestinationTaken) as caught:
        commit(temp, dest, overwrite=False)
    kept = tmp_path / f"out.gpen-{os.getpid()}.mp4"
    assert caught.value.path == dest and caught.value.kept == kept
    assert str(dest) in str(caught.value) and str(kept) in str(caught.value)
    assert dest.read_bytes() == b"precious"
    assert kept.read_bytes() == b"this run's result"
    assert leftovers(tmp_path, {"out.mp4", kept.name}) == []


def test_publish_never_replaces_a_dangling_symlink(tmp_path: Path, publish_by: str) -> None:
    dest = tmp_path / "out.mp4"
    dest.symlink_to(tmp_path / "missing.mp4")
    with pytest.raises(DestinationTaken):
        commit(_finished(dest), dest, overwrite=False)
    assert dest.is_symlink() and os.readlink(dest) == str(tmp_path / "missing.mp4")
    assert not (tmp_path / "missing.mp4").exists()


def test_kept_copy_gets_another_name_when_its_own_is_taken(tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"precious")
    first_choice = tmp_path / f"out.gpen-{os.getpid()}.mp4"
    first_choice.write_bytes(b"an earlier kept copy")
    with pytest.raises(DestinationTaken) as caught:
        commit(_finished(dest), dest, overwrite=False)
    kept = caught.value.kept
    assert kept.parent == tmp_path and kept.name.startswith(f"out.gpen-{os.getpid()}-") and kept.suffix == ".mp4"
    assert kept.read_bytes() == b"this run's result"
    assert first_choice.read_bytes() == b"an earlier kept copy" and dest.read_bytes() == b"precious"


def test_renameat2_unsupported_by_the_file_system_falls_back_to_a_link(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuses_flag(*_args: object) -> int:
        ctypes.set_errno(errno.EINVAL)  # what a file system without RENAME_NOREPLACE answers
        return -1

    monkeypatch.setattr(output, "_renameat2", lambda: refuses_flag)
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"precious")
    with pytest.raises(DestinationTaken):
        commit(_finished(dest), dest, overwrite=False)
    assert dest.read_bytes() == b"precious"
    other = tmp_path / "other.mp4"
    commit(_finished(other), other, overwrite=False)
    assert other.read_bytes() == b"this run's result"


def test_overwrite_replaces(tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"old")
    commit(_finished(dest), dest, overwrite=True)
    assert dest.read_bytes() == b"this run's result"
    assert leftovers(tmp_path, {"out.mp4"}) == []


def test_json_files_are_rewritten_in_place(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("{}")
    write_json_atomic(path, {"frames": 3})
    assert json.loads(path.read_text()) == {"frames": 3}
    assert leftovers(tmp_path, {"report.json"}) == []


@pytest.mark.parametrize("spelling", ["file-url", "file-url-3-slashes", "file-relative", "dotdot", "symlink",
                                      "hardlink"])
def test_input_is_recognised_in_any_spelling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str) -> None:
    (tmp_path / "sub").mkdir()
    video = tmp_path / "v.mp4"
    video.write_bytes(b"input")
    monkeypatch.chdir(tmp_path / "sub")
    dest: Path = video
    source: str = {
        "file-url": f"file://{video}",
        "file-url-3-slashes": f"file:///{video}",
        "file-relative": "file:../v.mp4",
        "dotdot": "../sub/../v.mp4",
    }.get(spelling, str(video))
    if spelling == "symlink":
        dest = tmp_path / "sub" / "link.mp4"
        dest.symlink_to(video)
    elif spelling == "hardlink":
        dest = tmp_path / "sub" / "same.mp4"
        os.link(video, dest)
    with pytest.raises(InputError, match="over the input"):
        check_destination(dest, source=source, overwrite=True)
    assert video.read_bytes() == b"input"


def test_network_sources_and_cameras_are_no_local_file(tmp_path: Path) -> None:
    for source in ("http://example.com/v.mp4", "rtsp://camera/stream", 0, "/dev/video0"):
        assert check_destination(tmp_path / "out.mp4", source=source) == tmp_path / "out.mp4"


def test_dangling_symlink_counts_as_existing(tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    dest.symlink_to(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="already exists"):
        check_destination(dest)
    assert check_destination(dest, overwrite=True) == dest


@pytest.mark.parametrize("folder", ["/proc", "/sys", "read-only"])
def test_a_folder_that_refuses_new_files_is_found_before_any_work(tmp_path: Path, folder: str) -> None:
    if folder == "read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        folder = str(tmp_path / "ro")
        os.mkdir(folder, 0o555)
    dest = Path(folder) / "out.mp4"
    with pytest.raises(DestinationUnwritable) as caught:
        check_destination(dest)
    assert caught.value.path == dest and str(dest) in str(caught.value) and caught.value.reason


def test_the_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    check_destination(tmp_path / "out.mp4")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["out.png", "out.gif"])
def test_a_container_that_cannot_hold_the_video_is_an_input_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match=f"cannot write {name}: .* cannot hold libx264 video"):
        VideoWriter(tmp_path / name, width=64, height=48, time_base=Fraction(1, 25), fps=Fraction(25), source=SAMPLE)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", SPECIAL)
@pytest.mark.parametrize("spelling", ["same", "symlink"])
def test_a_device_fifo_or_socket_is_never_a_destination(tmp_path: Path, kind: str, spelling: str) -> None:
    special = special_file(tmp_path / "thing.json", kind)
    before = file_type(special)
    dest = spelled(special, spelling)
    with pytest.raises(InputError, match=f"{dest}: it is a (named pipe|device|socket)"):
        check_destination(dest, overwrite=True)
    assert file_type(special) == before


@pytest.mark.parametrize("kind", SPECIAL)
def test_publishing_never_replaces_a_special_file_that_appeared(tmp_path: Path, kind: str) -> None:
    dest = tmp_path / "report.json"
    temp = _finished(dest)
    special_file(dest, kind)
    with pytest.raises(InputError, match="it is a"):
        commit(temp, dest, overwrite=True)
    assert temp.read_bytes() == b"this run's result"  # left for the caller to discard, as after any failure
    output.discard(temp)
    with pytest.raises(InputError, match="it is a"):
        write_json_atomic(dest, {"frames": 1})
    assert file_type(dest) != stat.S_IFREG and leftovers(tmp_path, {"report.json"}) == []


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_no_input_of_the_run_is_a_destination(tmp_path: Path, spelling: str) -> None:
    weights = tmp_path / "ck.pth"
    weights.write_bytes(b"checkpoint")
    dest = spelled(weights, spelling)
    with pytest.raises(InputError, match=f"{weights.name}, which this run reads"):
        check_destination(dest, inputs=[weights], overwrite=True)
    assert weights.read_bytes() == b"checkpoint"


def test_a_folder_destination_holding_an_input_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "faces"
    (folder / "deep").mkdir(parents=True)
    video = folder / "deep" / "in.mp4"
    video.write_bytes(b"input")
    with pytest.raises(InputError, match="holds .*in.mp4, which this run reads"):
        check_folder_destination(folder, inputs=[video], overwrite=True)
    with pytest.raises(InputError, match="it is a named pipe"):
        check_folder_destination(special_file(tmp_path / "pipe", "fifo"), overwrite=True)
    assert check_folder_destination(folder, inputs=[tmp_path / "elsewhere.mp4"], overwrite=True) == folder
    assert video.read_bytes() == b"input"
