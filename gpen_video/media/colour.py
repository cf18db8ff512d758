"""Colour handling shared by the reader and the writer: declared matrix -> swscale colorspace.

FFmpeg enum values (AVColorSpace, AVColorTransferCharacteristic, AVColorRange) are used as plain ints
because that is what PyAV exposes on frames and codec contexts.
"""
from __future__ import annotations

# AVColorSpace -> the swscale matrix name PyAV's reformatter understands.
_MATRIX = {1: "itu709", 5: "itu601", 6: "itu601", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
# BT.709's value in AVColorSpace, AVColorPrimaries and AVColorTransferCharacteristic alike.
BT709 = 1
# AVColorTransferCharacteristic values of the two HDR transfers.
HDR_TRANSFERS = {16: "PQ (SMPTE 2084)", 18: "HLG (ARIB STD-B67)"}
# AVColorRange.
RANGE_MPEG, RANGE_JPEG = 1, 2


def source_matrix(colorspace: int, height: int) -> str:
    """The RGB<->YUV matrix a frame declares; undeclared follows players: BT.709 from 720 lines up."""
    if colorspace in _MATRIX:
        return _MATRIX[colorspace]
    return "itu709" if height >= 720 else "itu601"


def source_range(color_range: int, pix_fmt: str) -> str:
    """'jpeg' (full) or 'mpeg' (limited) range; yuvj* formats are full range even when untagged."""
    if color_range == RANGE_JPEG or pix_fmt.startswith("yuvj"):
        return "jpeg"
    return "mpeg"
