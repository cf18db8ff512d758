"""The face gallery (``--faces-out``): entries per enhanced track, exact times, pictures that decode, a safe write."""
from __future__ import annotations

from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from gpen_video.cli import main
from gpen_video.config import build_settings
from gpen_video.engine import Engine
from gpen_video.errors import DestinationExists
from gpen_video.faces.align import gpen_template
from gpen_video.review.gallery import FaceGallery, TrackRecord, contact_sheet
from gpen_video.job import enhance_image, enhance_video
from gpen_video.types import AlignedFace, Detection, Frame, FrameResult, PastedFace, TrackedFace
from tests.helpers.fakes import RecordingRestorer
from tests.helpers.gallery import gallery_tracks, page_images, seconds
from tests.helpers.real_media import cut_clip, solvay
from tests.helpers.streams import frame_times, temp_files


@pytest.fixture(scope="module")
def video_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The talking-head clip (0.4 s, 256 px) through a colour-inverting restorer, with a gallery and face records."""
    folder = tmp_path_factory.mktemp("video")
    clip = cut_clip(data_dir / "talking_head_844.mp4", folder / "clip.mp4", seconds=0.4)
    settings = build_settings(None, {"faces": {"temporal": 0.0}, "encode": {"preset": "ultrafast"}})
    engine = Engine(settings, restorer=RecordingRestorer(size=128, invert=True))
    result = enhance_video(clip, folder / "out.mp4", settings, engine=engine, faces_out=folder / "faces",
                           record_faces=True)
    return clip, folder, result


def test_video_gallery_has_one_entry_per_enhanced_track_at_its_exact_times(video_run) -> None:
    clip, folder, result = video_run
    enhanced = defaultdict(list)  # track id -> frames where it was pasted, from the run's own face records
    for record in result.face_records:
        for face in record["faces"]:
            if face["enhanced"]:
                enhanced[face["track_id"]].append(record["index"])
    tracks = gallery_tracks(folder / "faces")
    assert enhanced and [t["track_id"] for t in tracks] == sorted(enhanced)
    times = [float(t) for t in frame_times(clip)]  # the source's pts, decoded independently
    for track in tracks:
        frames = enhanced[track["track_id"]]
        assert (track["first_frame"], track["last_frame"], track["frames"]) == (frames[0], frames[-1], len(frames))
        assert (track["first_seconds"], track["last_seconds"]) == (times[frames[0]], times[frames[-1]])
        assert track["best_frame"] in frames and track["best_seconds"] == times[track["best_frame"]]
        assert seconds(track["best_pts"], track["time_base"]) == track["best_seconds"]
        x0, y0, x1, y1 = track["box"]
        assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1
        original = np.asarray(Image.open(folder / "faces" / track["original"]), np.int16)
        restored = np.asarray(Image.open(folder / "faces" / track["restored"]), np.int16)
        assert original.shape == restored.shape == (128, 128, 3)
        assert np.abs(restored - (255 - original)).max() <= 1  # the restorer inverts; nothing else touched it
    images = page_images(folder / "faces")  # every picture the contact sheet shows exists and decodes
    assert len(images) == 2 * len(tracks) and all(image.shape == (128, 128, 3) for image in images)
    assert result.gallery is not None and result.gallery.skipped_tracks == 0
    assert temp_files(folder) == []


def _pasted(track_id: int, index: int, side: float, alpha: float, crop: np.ndarray, score: float = 0.99) -> PastedFace:
    landmarks = gpen_template(side) + np.float32([10, 10])
    box = np.float32([10, 10, 10 + side, 10 + side])
    detection = Detection(box, score, landmarks)
    aligned = AlignedFace(index, track_id, crop, np.float32([[1, 0, 0], [0, 1, 0]]), box)
    return PastedFace(TrackedFace(track_id, detection, landmarks), aligned, 255 - crop, 255 - crop, alpha)


def test_best_moment_is_chosen_among_pasted_frames_only_and_memory_spills_to_disk(tmp_path: Path) -> None:
    sharp = np.ascontiguousarray(solvay()[100:164, 300:364])  # real faces, full detail
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    # track 7: biggest and sharpest while still at alpha 0 (not pasted); pasted later at 1 and 0.5.
    # track 9: never pasted, so it has no entry.
    moments = [[_pasted(7, 0, 250, 0.0, sharp), _pasted(9, 0, 200, 0.0, sharp)],
               [_pasted(7, 1, 100, 1.0, blurred)],
               [_pasted(7, 2, 160, 0.5, sharp)],
               [], []]
    gallery = FaceGallery(tmp_path / "faces", source="synthetic", evict_after=1)
    for index, faces in enumerate(moments):
        frame = Frame(index, index * 512, Fraction(1, 12800), np.zeros((300, 300, 3), np.uint8))
        gallery.observe(FrameResult(frame, frame.image, [f.aligned for f in faces]), faces)
    assert all(track.crops is None for track in gallery._tracks.values())  # unseen for 2 frames: on disk only
    summary = gallery.close()
    (entry,) = gallery_tracks(tmp_path / "faces")
    assert summary.skipped_tracks == 1 and entry["track_id"] == 7
    assert (entry["best_frame"], entry["alpha"], entry["frames"], entry["enhanced_frames"]) == (2, 0.5, 3, 2)
    assert (entry["first_seconds"], entry["last_seconds"], entry["best_seconds"]) == (0.0, 0.08, 0.08)
    restored = np.asarray(Image.open(tmp_path / "faces" / entry["restored"]), np.int16)
    assert np.abs(restored - 127.5).max() <= 1  # pasted at half strength: half inverted, half original
    assert len(page_images(tmp_path / "faces")) == 2


def test_contact_sheet_counts_frames_in_words() -> None:
    def track(frames: int) -> TrackRecord:
        return TrackRecord(track_id=frames, first_frame=4, last_frame=3 + frames, first_seconds=0.16,
                           last_seconds=0.12 + 0.04 * frames, frames=frames, enhanced_frames=frames, best_frame=4,
                           best_seconds=0.16, best_pts=2048, time_base="1/12800", box=[0, 0, 9, 9], confidence=0.9,
                           yaw=0.0, sharpness=50.0, moment_score=0.5, alpha=1.0)

    page = contact_sheet([track(1), track(3)], source="clip.mp4")
    assert "0:00.160 – 0:00.160 · 1 frame</p>" in page and "0:00.160 – 0:00.240 · 3 frames</p>" in page


def test_a_failed_run_leaves_no_gallery_and_a_full_folder_needs_overwrite(tmp_path: Path) -> None:
    dest = tmp_path / "faces"
    with pytest.raises(RuntimeError), FaceGallery(dest) as gallery:
        crop = np.ascontiguousarray(solvay()[100:164, 300:364])
        frame = Frame(0, 0, Fraction(1, 25), np.zeros((300, 300, 3), np.uint8))
        gallery.observe(FrameResult(frame, frame.image, []), [_pasted(1, 0, 120, 1.0, crop)])
        raise RuntimeError("the run failed")
    assert list(tmp_path.iterdir()) == []
    dest.mkdir()
    FaceGallery(dest).close()  # an empty folder is taken as it is
    with pytest.raises(DestinationExists):
        FaceGallery(dest)
    assert FaceGallery(dest, overwrite=True).close().tracks == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces"]


def test_picture_gallery_has_every_face_and_the_output_names_the_tool(tmp_path: Path) -> None:
    picture = tmp_path / "group.png"
    Image.fromarray(np.ascontiguousarray(solvay()[:300, :500])).save(picture)
    settings = build_settings(None, {"faces": {"temporal": 0.0}})
    engine = Engine(settings, restorer=RecordingRestorer(size=128, invert=True))
    result = enhance_image(picture, tmp_path / "out.png", settings, engine=engine, faces_out=tmp_path / "faces")
    tracks = gallery_tracks(tmp_path / "faces")
    assert len(tracks) == result.stats.faces >= 5
    assert all((t["frames"], t["best_frame"], t["best_seconds"]) == (1, 0, 0.0) for t in tracks)
    assert len(page_images(tmp_path / "faces")) == 2 * len(tracks)
    page = (tmp_path / "faces" / "index.html").read_text()  # a picture has no time range and no frames
    assert "0:00" not in page and "frame" not in page and page.count("score ") == len(tracks)
    info = Image.open(tmp_path / "out.png").info
    assert info["Software"] == "gpen-video 0.1.0" and "gpen-video" in info["Comment"]


def test_gallery_options_are_checked_before_any_work(data_dir: Path, tmp_path: Path) -> None:
    full = tmp_path / "faces"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    source = str(data_dir / "talking_head_844.mp4")
    assert main([source, str(tmp_path / "o.mp4"), "--restorer", "none", "--faces-out", str(full), "-q"]) == 2
    assert main([source, str(tmp_path / "o.mp4"), "--report-faces", "-q"]) == 2
    assert main([source, str(tmp_path / "o.mp4"), "--restorer", "none", "--faces-out", str(tmp_path / "o.mp4")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces"] and (full / "keep.txt").read_text() == "mine"
