"""Frame operations in torch, batched, on any device: the pieces of a device-resident frame path.

``colour``: decoder planes -> RGB and RGB -> YUV 4:2:0 planes for the encoder. ``warp``: alignment
crops and the masked paste-back. Each matches its numpy/OpenCV/swscale counterpart (tests compare
them on real frames), so a GPU run can keep frames on the device between decode and encode.
"""
