"""Media I/O on PyAV: readers (``reader``, ``open``), the writer (``writer``, ``encoders``), safe output
(``output``), pictures (``image``), and the signal policy (``signals``).

Import from the submodules: this package imports nothing itself, so that the command can install its
signal policy and check its destinations before PyAV and numpy load.
"""
