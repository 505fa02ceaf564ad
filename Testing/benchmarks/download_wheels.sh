#!/usr/bin/env bash
# Wheels the GPU check needs on a machine that has Python 3.12 and torch but none of our other
# dependencies (and no network): downloaded here, carried there (run's `carry`), installed by
# Testing/benchmarks/gpu_check.sh. They go into build/gpu-wheels/ (git-ignored through build/):
# never commit them.
#
#   Testing/benchmarks/download_wheels.sh [DEST]
#
# Binary packages are fetched for CPython 3.12 manylinux x86_64; pure-Python ones are taken as
# wheels (acvl-utils' wheel is built from its sdist), with the small pure-Python packages blosc2 and
# nnU-Net import at start-up. Versions are this project's (the shared venv's), so the GPU runs the
# code tested here. Two modules are imported but never called by the benchmark, and stand-ins keep
# the folder within run's 64 MiB carry limit (SimpleITK alone is 52 MB): cc3d (acvl-utils'
# morphology module) is an empty package, nibabel (nnU-Net's NIfTI reader, unused: the benchmark's
# files are read by SimpleITK) a package whose three imported functions raise if called.
# numpy, scipy, scikit-image, pandas, pillow, tifffile, imagecodecs and imageio must be on the GPU
# machine already; gpu_check.sh names whatever is missing before it starts.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:-$repo/build/gpu-wheels}
python=${PYTHON:-$repo/.venv/bin/python}
mkdir -p "$dest"

binary=(
  "simpleitk==2.5.7" "blosc2==4.14.1" "ndindex==1.10.1" "numexpr==2.14.2" "msgpack==1.2.4"
)
pure=(
  "nnunetv2==2.8.1" "dynamic-network-architectures==0.4.4" "batchgenerators==0.25.5" "batchgeneratorsv2==0.3.6"
  "tqdm" "threadpoolctl" "rich" "markdown-it-py" "mdurl" "pygments" "click" "httpx" "httpcore" "h11" "anyio"
  "sniffio" "certifi" "idna" "pytest" "pluggy" "iniconfig"
)
"$python" -m pip download --no-deps --python-version 3.12 --only-binary=:all: \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  -d "$dest" "${binary[@]}"
"$python" -m pip download --no-deps --python-version 3.12 --only-binary=:all: -d "$dest" "${pure[@]}"
"$python" -m pip wheel --no-deps -w "$dest" "acvl-utils==0.2.6"

mkdir -p "$dest/stubs/cc3d" "$dest/stubs/nibabel"
printf '"""Empty stand-in: acvl-utils imports cc3d at module level; inference never calls it."""\n' \
  >"$dest/stubs/cc3d/__init__.py"
printf '"""Stand-in: nnU-Net imports nibabel for its NIfTI reader, which the GPU benchmark never uses."""\n' \
  >"$dest/stubs/nibabel/__init__.py"
cat >"$dest/stubs/nibabel/orientations.py" <<'STUB'
"""Stand-in for the three functions nnU-Net's NibabelIO imports; calling one is an error."""


def _missing(*args, **kwargs):
    raise RuntimeError("nibabel is not installed on this machine (a stand-in from download_wheels.sh)")


io_orientation = axcodes2ornt = ornt_transform = _missing
STUB
du -sh "$dest"
ls "$dest"
