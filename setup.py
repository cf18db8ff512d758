"""Package layout only; the metadata is in pyproject.toml.

``configs/`` stays the visible top-level folder users copy presets from, and the wheel carries it as
the data package ``gpen_video.configs``, so ``--config NAME`` works without a checkout. A package-dir
mapping cannot be combined with package discovery in pyproject.toml, hence this file.
"""
from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["gpen_video", "gpen_video.*"]), "gpen_video.configs"],
    package_dir={"gpen_video.configs": "configs"},
    package_data={"gpen_video": ["py.typed"], "gpen_video.configs": ["*.toml"]},
)
