from fractions import Fraction

from gpen_video.media.info import VideoInfo, output_size


def _info(width: int, height: int) -> VideoInfo:
    return VideoInfo(width=width, height=height, fps=Fraction(25), time_base=Fraction(1, 25), start_time=0.0,
                     duration=1.0, frame_count=25, sample_aspect_ratio=None, rotation=0, is_live=False, codec="h264",
                     has_audio=False)


def test_output_size_follows_the_scale_and_the_side_by_side_view() -> None:
    assert output_size(_info(320, 240), 1) == (320, 240)
    assert output_size(_info(321, 241), 2) == (642, 482)
    assert output_size(_info(320, 240), 2, side_by_side=True) == (1280, 480)
