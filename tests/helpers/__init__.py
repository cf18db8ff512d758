"""Shared test helpers and fakes, imported as ``from tests.helpers.<module> import ...``.

- ``paths``: the checkout, the real media (``tests/data``) and GPEN fixtures (``tests/fixtures``).
- ``real_media``: decoded frames of the real clips, and short re-encoded cuts of them.
- ``clips``: small synthetic clips written with PyAV (VFR, rotation, audio tracks, corruption…).
- ``streams``: reading a written file back: timestamps, packets, stream starts, leftovers.
- ``cli``: running ``python -m gpen_video`` and checking its one-line errors.
- ``files``: other spellings of a file (symlink, hard link, ``./``), and pipes, devices and sockets.
- ``fakes``: stand-in detectors and restorers, and a tiny random-weight GPEN checkpoint.
- ``servers``: local TCP/HTTP servers: one that never answers, one that streams a file once.
"""
