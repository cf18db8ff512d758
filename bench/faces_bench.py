"""Face-pipeline measurements on the real media in tests/data: detection counts and speed, pass-through PSNR,
landmark jitter/lag, temporal flicker, tracking id switches. Run: python3 bench/faces_bench.py"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpen_video.faces.align import align_face, gpen_template  # noqa: E402
from gpen_video.faces.analyzer import FaceAnalyzer, build_tracker  # noqa: E402
from gpen_video.faces.detect import RetinaFaceOnnx  # noqa: E402
from gpen_video.faces.paste import paste_faces  # noqa: E402
from gpen_video.faces.smooth import LandmarkSmoother  # noqa: E402
from gpen_video.faces.temporal import TemporalBlender, face_region  # noqa: E402
from gpen_video.faces.track import SceneCutDetector  # noqa: E402
from gpen_video.review.bench_measures import id_switches, jitter, lag
from gpen_video.review.metrics import flicker, psnr  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def frames(name: str, count: int) -> list[np.ndarray]:
    out = []
    with av.open(str(DATA / name)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= count:
                break
            out.append(f.to_ndarray(format="rgb24"))
    return out


def main() -> None:
    solvay = np.ascontiguousarray(cv2.imread(str(DATA / "Solvay_conference_1927.png"))[..., ::-1])
    crowd = frames("crowd_1080p.mp4", 105)
    head = frames("talking_head_844.mp4", 125)

    print("== detection (embedded RetinaFace mobile0.25, onnxruntime CPU) ==")
    for ds in (640, 1024, 0):
        n = len(RetinaFaceOnnx(det_size=ds).detect([solvay])[0])
        print(f"Solvay det_size={ds}: {n}/29 faces")
    for ds in (320, 640, 960, 1920):
        det = RetinaFaceOnnx(det_size=ds)
        det.detect(crowd[:2])
        t = time.perf_counter()
        res = det.detect(crowd)
        ms = (time.perf_counter() - t) * 1000 / len(crowd)
        t = time.perf_counter()
        for f in crowd[:16]:
            det.detect([f])
        ms1 = (time.perf_counter() - t) * 1000 / 16
        found = sum(len(r) > 0 for r in res)
        print(f"crowd 1080p det_size={ds}: faces in {found}/{len(crowd)} frames, mean {np.mean([len(r) for r in res]):.1f}"
              f" faces/frame, {ms:.0f} ms/frame batched, {ms1:.0f} ms/frame one by one")

    print("== pass-through fidelity (512 crops) ==")
    det = RetinaFaceOnnx(det_size=640)
    for name, im, d in [("Solvay", solvay, RetinaFaceOnnx(det_size=0)), ("crowd", crowd[2], det), ("talking head", head[2], det)]:
        dets = d.detect([im])[0]
        t = time.perf_counter()
        out = paste_faces(im, [align_face(im, x.landmarks, 512) for x in dets])
        ms = (time.perf_counter() - t) * 1000
        mask = np.zeros(im.shape[:2], bool)
        for x in dets:
            x0, y0, x1, y1 = np.round(x.box).astype(int)
            mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
        print(f"{name}: {len(dets)} faces, PSNR over faces {psnr(out, im, mask):.2f} dB, align+paste {ms:.0f} ms")

    print("== landmark smoothing (synthetic, strength 1) ==")
    rng = np.random.default_rng(0)
    base = np.array([[0, 0], [40, 0], [20, 22], [6, 45], [34, 45]], float) + 200
    for v, sigma in [((0, 0), 1.0), ((1, 0.5), 1.0), ((4, -2), 1.5), ((8, 0), 1.0)]:
        truth = base[None] + np.arange(200)[:, None, None] * np.array(v, float)[None, None]
        noisy = truth + rng.normal(0, sigma, truth.shape)
        s = LandmarkSmoother(1.0)
        out = np.stack([s.update(0, x, t) for t, x in enumerate(noisy)])[20:]
        cut = 1 - jitter(out - truth[20:]) / jitter(noisy[20:] - truth[20:])
        lg = lag(out, truth[20:]) if v != (0, 0) else 0.0
        print(f"velocity {v} px/frame, noise {sigma} px: jitter cut {cut:.0%}, lag {lg:.2f} frames")

    print("== temporal blending (strength 0.7, noisy pass-through restorer on talking-head crops) ==")
    dets = det.detect(head[:40])
    crops = [align_face(f, d[0].landmarks, 256)[0] for f, d in zip(head[:40], dets)]
    inner = face_region(gpen_template(256), 256) > 0.5
    for label, seq in [("still", [crops[0]] * 40), ("talking", crops), ("panning 3px/f", [np.roll(crops[0], 3 * k, 1) for k in range(40)])]:
        restored = [np.clip(c + rng.normal(0, 6, c.shape) + rng.uniform(-8, 8), 0, 255).astype(np.uint8) for c in seq]
        b = TemporalBlender(0.7)
        blended = [b.blend(0, c, r) for c, r in zip(seq, restored)]
        err = lambda fs: np.mean([np.abs(f.astype(float) - g)[inner].mean() for f, g in zip(fs[1:], seq[1:])])  # noqa: E731
        print(f"{label}: flicker {flicker(restored, inner):.2f} -> {flicker(blended, inner):.2f}"
              f" ({1 - flicker(blended, inner) / flicker(restored, inner):.0%} cut), error vs truth"
              f" {err(restored):.2f} -> {err(blended):.2f}")

    print("== tracking ==")
    for name, clip in [("talking head", head), ("crowd", crowd)]:
        for every in (1, 3, 5):
            t = time.perf_counter()
            res = FaceAnalyzer(det, tracker=build_tracker(every), cuts=SceneCutDetector(), detect_every=every).process(clip)
            ms = (time.perf_counter() - t) * 1000 / len(clip)
            ids = {f.track_id for r in res for f in r.faces}
            line = f"{name} detect_every={every}: {len(ids)} tracks, {ms:.0f} ms/frame analysis"
            if name == "talking head":
                line += f", id switches {id_switches([[f.track_id for f in r.faces] for r in res])}"
            else:
                ref = FaceAnalyzer(det, tracker=build_tracker(1), cuts=SceneCutDetector()).process(clip) if every != 1 else res
                per_frame = []
                for a, b in zip(ref, res):
                    m = {}
                    for f in a.faces:
                        if b.faces:
                            d = [np.linalg.norm(g.landmarks - f.landmarks, axis=1).mean() for g in b.faces]
                            k = int(np.argmin(d))
                            if d[k] < 0.3 * (f.detection.box[2] - f.detection.box[0]):
                                m[f.track_id] = b.faces[k].track_id
                    per_frame.append(m)
                line += f", id switches vs detect_every=1: {id_switches(per_frame)}"
            print(line)


if __name__ == "__main__":
    main()
