"""Still-image I/O for the engine's image mode (Pillow): upright RGB in, atomic write out."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from ..errors import InputError, InputMissing, MediaOpenError
from .output import check_destination, commit, discard, temp_path_for
from .source import NO_SUCH_FILE, file_problem, local_file

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
_SAVE_OPTIONS = {".jpg": {"quality": 95}, ".jpeg": {"quality": 95}, ".webp": {"quality": 95}}
_EXIF_SUFFIXES = frozenset({".jpg", ".jpeg", ".webp", ".tif", ".tiff"})
_EXIF_SOFTWARE, _EXIF_DESCRIPTION = 0x0131, 0x010E


def is_image_path(path: str | Path) -> bool:
    """True when the extension is one of png jpg jpeg bmp webp tif tiff (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: str | Path) -> np.ndarray:
    """Read an image (a path or a ``file:`` URL) as uint8 [H, W, 3] RGB, EXIF orientation applied,
    alpha dropped, gray expanded.

    Raises:
        MediaOpenError: the file is missing, not a regular file, not a readable image, or larger than
            Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS`` twice over).
    """
    path = local_file(path) or path
    if problem := file_problem(path):
        kind = InputMissing if problem == NO_SUCH_FILE else MediaOpenError
        raise kind(f"cannot read image {str(path)!r}: {problem}")
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit gray: keep the top 8 bits
                gray = (np.asarray(img, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except Image.DecompressionBombError as exc:
        raise MediaOpenError(f"cannot read image {str(path)!r}: too large ({exc})") from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise MediaOpenError(f"cannot read image {str(path)!r}: {exc}") from None


def _tag_options(suffix: str, tags: dict[str, str]) -> dict[str, object]:
    """Pillow save options carrying ``tags`` (``software``, ``comment``): PNG text chunks, or EXIF
    Software and ImageDescription for JPEG, WebP and TIFF; nothing for BMP, which has no place for them."""
    if suffix == ".png":
        info = PngImagePlugin.PngInfo()
        for key, value in tags.items():
            info.add_text(key.capitalize(), value)
        return {"pnginfo": info}
    if suffix in _EXIF_SUFFIXES:
        exif = Image.Exif()
        for key, tag in (("software", _EXIF_SOFTWARE), ("comment", _EXIF_DESCRIPTION)):
            if key in tags:
                exif[tag] = tags[key]
        return {"exif": exif}
    return {}


def write_image(dest: str | Path, rgb: np.ndarray, *, overwrite: bool = False, source: str | Path | None = None,
                tags: dict[str, str] | None = None, before_publish: Callable[[Path], None] | None = None) -> Path:
    """Write uint8 [H, W, 3] RGB to ``dest`` atomically (temp file + rename); returns the path.

    Same rules as the video writer: never over ``source``, never over an existing file without
    ``overwrite`` (one that appears while writing included: ``DestinationTaken``), the folder must
    exist and accept new files. ``tags`` (``software``, ``comment``) go into the file's metadata where
    the format has a place for them (``_tag_options``). ``before_publish`` is given the finished temporary
    file before it takes ``dest``'s name (as for ``VideoWriter.close``).
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 [H, W, 3], got {rgb.dtype} {rgb.shape}")
    path = check_destination(dest, source=source, overwrite=overwrite)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise InputError(f"cannot write image {path.name}: unknown extension {path.suffix!r}")
    temp = temp_path_for(path)
    try:
        fmt = Image.registered_extensions()[suffix]
        options = {**_SAVE_OPTIONS.get(suffix, {}), **_tag_options(suffix, tags or {})}
        Image.fromarray(rgb, "RGB").save(temp, format=fmt, **options)
        if before_publish is not None:
            before_publish(temp)
        commit(temp, path, overwrite=overwrite)
    except BaseException:
        discard(temp)
        raise
    return path
