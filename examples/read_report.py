"""Read the JSON report a run leaves behind.

    gpen-video samples/talking_head.mp4 out.mp4 --report report.json
    python examples/read_report.py report.json

The report holds what the summary table shows (frames, faces, tracks, time per stage), the quality
measures, the settings, the software versions and checksums, and every frame's faces and tracks.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    args = parser.parse_args()
    with open(args.report, encoding="utf-8") as handle:
        report = json.load(handle)

    print(f"{report['input']} -> {report['output']}: {report['frames']} frames, {report['faces']} faces, "
          f"{report['tracks']} tracks, {report['seconds']:.1f} s ({report['restorer']['backend']})")
    for stage, seconds in sorted(report["stage_seconds"].items(), key=lambda item: -item[1]):
        print(f"  {stage:<14} {seconds:8.2f} s busy")
    frames_per_track = Counter(track for frame in report["per_frame"] for track in frame["tracks"])
    for track, count in sorted(frames_per_track.items()):
        print(f"  track {track}: on {count} frames")
    print(f"input sha256 {report['provenance']['input']['sha256']}")


if __name__ == "__main__":
    main()
