"""Provenance: the report's sha256s equal sha256sum's, its per-face records, the output's metadata tag."""
from __future__ import annotations

import subprocess
from pathlib import Path

import av
import pytest

from gpen_video import __version__
from gpen_video.config import build_settings
from gpen_video.engine import Engine
from gpen_video.job import enhance_video
from gpen_video.review.report import build_report
from tests.helpers.fakes import RecordingRestorer, save_tiny_gpen
from tests.helpers.real_media import cut_clip


def sha256sum(path: Path) -> str:
    return subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]


@pytest.fixture(scope="module")
def run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A 0.2 s clip, settings naming a tiny checkpoint (the engine gets a stand-in restorer), face records on."""
    folder = tmp_path_factory.mktemp("provenance")
    clip = cut_clip(data_dir / "talking_head_844.mp4", folder / "clip.mp4", seconds=0.2)
    weights = save_tiny_gpen(folder / "tiny-gpen.pth")
    settings = build_settings(None, {"restore": {"weights": str(weights)}, "encode": {"preset": "ultrafast"}})
    engine = Engine(settings, restorer=RecordingRestorer(size=128))
    result = enhance_video(clip, folder / "out.mp4", settings, engine=engine, record_faces=True, keep_frames=True)
    return clip, weights, folder, build_report(result)


def test_report_names_input_and_weights_by_sha256_with_settings_and_versions(run) -> None:
    clip, weights, _, report = run
    provenance = report["provenance"]
    assert provenance["input"]["sha256"] == sha256sum(clip) and provenance["input"]["bytes"] == clip.stat().st_size
    assert provenance["weights"] == {"model": "tiny-gpen.pth", "path": str(weights), "sha256": sha256sum(weights)}
    assert report["settings"]["restore"]["weights"] == str(weights) and set(report["settings"]) >= {"faces", "encode"}
    assert report["job"] == {"start": None, "end": None, "compare": False, "faces_out": None}
    versions = report["versions"]
    assert versions["gpen-video"] == __version__ and {"torch", "av", "onnxruntime"} <= versions.keys()
    assert versions["ffmpeg_libraries"]["libavformat"] == ".".join(map(str, av.library_versions["libavformat"]))


def test_per_face_records_cover_every_frame(run) -> None:
    _, _, _, report = run
    records = report["face_records"]
    assert [r["index"] for r in records] == list(range(report["frames"]))
    assert sum(len(r["faces"]) for r in records) == report["faces"] > 0
    face = records[0]["faces"][0]
    assert set(face) == {"track_id", "box", "score", "yaw", "alpha", "enhanced", "verified_hits"}
    assert 0.5 <= face["score"] <= 1 and 0 <= face["yaw"] < 45 and face["enhanced"] is True and len(face["box"]) == 4
    assert face["verified_hits"] == 1  # enhanced from its first frame: its first hit was verified


def test_output_tag_names_tool_version_and_model_and_survives_a_remux(run) -> None:
    _, _, folder, report = run
    with av.open(str(folder / "out.mp4")) as source:
        comment = source.metadata["comment"]
        assert comment == report["provenance"]["output_tags"]["comment"]
        assert f"gpen-video {__version__}" in comment and "tiny-gpen.pth" in comment
        with av.open(str(folder / "remuxed.mkv"), "w") as remuxed:  # a stream copy, as `ffmpeg -c copy` does
            remuxed.metadata.update(source.metadata)
            video = remuxed.add_stream_from_template(source.streams.video[0])
            for packet in source.demux(source.streams.video[0]):
                if packet.size:
                    packet.stream = video
                    remuxed.mux(packet)
    with av.open(str(folder / "remuxed.mkv")) as remuxed:
        assert remuxed.metadata["COMMENT"] == comment
