"""Live mode: frames from a camera, a stream or a file, enhanced as they come and shown in a window,
sent to a virtual camera and/or recorded.

``loop``: the run loop (``run_live``). ``capture``: the reading thread and its latest-frame slot.
``display``: the window and its overlay. ``virtual_cam``: the virtual camera sink. ``controls`` and
``terminal_keys``: keys that toggle the pipeline while it runs. ``latency``: capture-to-output timing.
``result``: what a run did (``LiveResult``), importable without the engine or torch.

Nothing is imported here, so reading a live result does not load the run loop.
"""
