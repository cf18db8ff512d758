"""Frame operations in torch, batched, on any device: the pieces of a device-resident frame path.

``colour``: decoder planes -> RGB and RGB -> YUV 4:2:0 planes for the encoder. ``warp``: alignment
crops and the masked paste-back. Each matches its numpy/OpenCV/swscale counterpart (tests compare
them on real frames). ``frames``: the engine's device frame path built on them, which keeps a frame
on the device from its upload to the encoder's planes.
"""
