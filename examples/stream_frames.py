"""Decode frames yourself (here with PyAV) and stream them through the engine.

    python examples/stream_frames.py samples/talking_head.mp4
    python examples/stream_frames.py samples/talking_head.mp4 --restorer none   # no GPEN weights needed

``Engine.stream`` takes any iterable of ``gpen_video.Frame`` and yields one ``FrameResult`` per frame, in
order, while decoding, detection, restoration and pasting overlap in their own threads.
"""
from __future__ import annotations

import argparse
import itertools

import av

from gpen_video import Engine, Frame, build_settings


def frames(path):
    """Any iterable of gpen_video.Frame works: here, decoded with PyAV."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        for index, decoded in enumerate(container.decode(stream)):
            yield Frame(index=index, pts=decoded.pts, time_base=stream.time_base,
                        image=decoded.to_ndarray(format="rgb24"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("--restorer", choices=("gpen", "none"), default="gpen")
    parser.add_argument("--frames", type=int, default=None, help="stop after this many frames")
    args = parser.parse_args()

    engine = Engine(build_settings(None, {"restore": {"restorer": args.restorer}}))
    for result in engine.stream(itertools.islice(frames(args.source), args.frames)):
        height, width = result.enhanced.shape[:2]  # uint8 [H, W, 3] RGB
        tracks = sorted(face.track_id for face in result.faces)
        print(f"frame {result.frame.index}: {width}x{height}, tracks {tracks}")


if __name__ == "__main__":
    main()
