"""Enlarging whole frames for ``upscale`` runs: the ``Upsampler`` interface (``base``), Lanczos (``lanczos``),
spandrel networks (``spandrel_sr``), tiling (``tiling``), the choice among them (``build``) and their settings
(``settings``).

The engine detects and restores faces on the input frame, enlarges the background with an upsampler
from here, and warps each restored face straight into the enlarged frame. Import from the submodules:
this package imports nothing itself, so that reading the settings does not load OpenCV.
"""
