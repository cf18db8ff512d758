"""Temporal blending through the engine on real moving faces, with the two stand-in restorers: a
restorer's flicker cut by 6 dB without ghosting, blinks and mouth kept."""
from __future__ import annotations

import pytest

from gpen_video.config import Settings
from tests.helpers.flicker_check import Runner, flicker_check
from tests.helpers.real_media import video_frames


@pytest.fixture(scope="module")
def runner():
    return Runner()


def test_blending_cuts_a_restorers_flicker_by_6_db_on_a_moving_face_without_ghosting(runner):
    frames = list(video_frames("lp_d14_3s.mp4", 45))  # eyes that look aside, expressions, a head that moves
    check = flicker_check(runner, frames, Settings().faces.temporal, size=512)
    assert len(check.flat) >= 40  # the face was found
    assert check.gain >= 6.0, check.gain
    assert check.worse == 0, check.flat - check.blended
    assert check.stable.min() >= 42.0, check.stable.min()  # the steady restorer is left as it is


def test_blending_cuts_the_flicker_of_a_crowds_small_moving_faces(runner):
    # 4-8 small faces a frame, enlarged 2-6 times, with people passing behind them; tracks start inside the cut.
    frames = list(video_frames("crowd_1080p.mp4", 30))
    check = flicker_check(runner, frames, Settings().faces.temporal, size=512)
    assert len(check.flat) == 30
    assert check.gain >= 4.0, check.gain  # the two-band blender (no tone band) reached 3.3 dB
    assert check.worse == 0, check.flat - check.blended
    assert check.stable.min() >= 42.0, check.stable.min()
