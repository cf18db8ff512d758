"""Image I/O: extensions, alpha/gray handling, EXIF orientation, atomic write rules."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gpen_video.errors import DestinationExists, InputError, MediaOpenError
from gpen_video.media.image import is_image_path, read_image, write_image


def test_is_image_path():
    assert is_image_path("a/b.PNG") and is_image_path("x.jpeg") and is_image_path("y.tiff")
    assert not is_image_path("clip.mp4") and not is_image_path("noext")


def test_real_rgba_photo_drops_alpha(data_dir):
    path = data_dir / "Solvay_conference_1927.png"
    image = read_image(path)
    rgba = np.asarray(Image.open(path))
    assert image.shape == (568, 1328, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, rgba[..., :3])


def test_gray_becomes_three_channels(tmp_path):
    gray = (np.arange(48 * 64) % 256).astype(np.uint8).reshape(48, 64)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    assert image.shape == (48, 64, 3)
    np.testing.assert_array_equal(image[..., 1], gray)


def test_file_urls_read_the_local_picture(tmp_path):
    gray = (np.arange(48 * 64) % 256).astype(np.uint8).reshape(48, 64)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    for url in (f"file:{tmp_path / 'g.png'}", f"file://{tmp_path / 'g.png'}"):
        np.testing.assert_array_equal(read_image(url)[..., 0], gray)


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:10, :10] = (255, 0, 0)
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "o.jpg", exif=exif, quality=95)
    image = read_image(tmp_path / "o.jpg")
    assert image.shape == (60, 40, 3)
    assert image[3, -3, 0] > 200 and image[3, 3, 0] < 60


def test_unreadable_images(tmp_path):
    (tmp_path / "x.png").write_text("not an image")
    for path in (tmp_path / "x.png", tmp_path / "missing.jpg"):
        with pytest.raises(MediaOpenError):
            read_image(path)


def test_write_image_rules(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    dest = write_image(tmp_path / "out.png", rgb)
    np.testing.assert_array_equal(read_image(dest), rgb)
    with pytest.raises(DestinationExists):
        write_image(dest, rgb)
    write_image(dest, rgb[::-1].copy(), overwrite=True)
    np.testing.assert_array_equal(read_image(dest), rgb[::-1])
    with pytest.raises(InputError):
        write_image(tmp_path / "in.png", rgb, source=tmp_path / "in.png", overwrite=True)
    with pytest.raises(InputError):
        write_image(tmp_path / "nope" / "a.png", rgb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
