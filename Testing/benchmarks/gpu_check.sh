#!/usr/bin/env bash
# Issue 12's GPU check in one go, on a machine with Python 3.12 and a CUDA build of torch but none of
# our other dependencies and no network. Prepare here with Testing/benchmarks/download_wheels.sh,
# then, from the repository root on the GPU machine (the device tool:
# command "bash Testing/benchmarks/gpu_check.sh", carry ["build/gpu-wheels"], timeout_s 540):
#
#   1. installs build/gpu-wheels into a virtual environment that also sees the system's torch, and
#      names every missing import at once (then stops, within seconds);
#   2. bench_predictor.py --device cuda --folds 5 --shape 100 512 512 (nnU-Net's reference on a
#      stated subset, 10 slices and 1 fold, scaled by tile passes; the engine on the whole);
#   3. bench_predictor.py --device cuda --folds 1 --no-tta --shape 100 512 512 (both in full);
#   4. the CUDA test of Testing/test_device_pipeline.py;
#   5. the null-network run on CUDA (the pipeline's cost without the network), if time is left.
#
# Everything is tee-d into $OUT/gpu_check.log (build/gpu-out/ when $OUT is not set). Steps 2 and 3
# are the issue's figures and take about 3 minutes on an H100/H200 together, model building included.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
out=${OUT:-$repo/build/gpu-out}
wheels=${WHEELS:-$repo/build/gpu-wheels}
mkdir -p "$out"
exec > >(tee -a "$out/gpu_check.log") 2>&1
started=$SECONDS
step() { echo; echo "=== [$((SECONDS - started)) s] $*"; }

step "environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
env=${TMPDIR:-/tmp}/pmt-gpu-env
python3 -m venv --system-site-packages "$env" || exit 2
py=$env/bin/python
"$py" -m pip install --quiet --no-index --no-deps "$wheels"/*.whl || exit 2
stubs=$env/stubs
mkdir -p "$stubs"
for module in cc3d nibabel; do  # stand-ins only where the real package is absent
  "$py" -c "import $module" 2>/dev/null || cp -r "$wheels/stubs/$module" "$stubs/"
done
export PYTHONPATH=$repo/PancreasMultiTask:$repo/training:$stubs
export nnUNet_n_proc_DA=2 nnUNet_def_n_proc=2
"$py" - <<'PROBE' || exit 3
import importlib
import sys

modules = [
    "numpy", "scipy", "skimage", "pandas", "PIL", "tifffile", "imagecodecs", "imageio", "SimpleITK", "blosc2",
    "dynamic_network_architectures", "acvl_utils.cropping_and_padding.padding", "batchgenerators",
    "nnunetv2.inference.predict_from_raw_data", "nnunetv2.experiment_planning.plan_and_preprocess_api",
    "PancreasMultiTaskLib.engine.predictor", "pytest",
]
missing = []
for name in modules:
    try:
        importlib.import_module(name)
    except Exception as error:  # every failure at once, so one rerun can fix them all
        missing.append(f"{name}: {type(error).__name__}: {error}")
import torch

print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print(f"device: {torch.cuda.get_device_name()}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
if missing or not torch.cuda.is_available():
    print("cannot run the GPU check:", *missing, sep="\n  ")
    sys.exit(3)
PROBE

step "5 folds, mirroring, 100x512x512 (nnU-Net on 10 slices x 1 fold, scaled by tile passes)"
timeout 240 "$py" Testing/benchmarks/bench_predictor.py --device cuda --folds 5 --shape 100 512 512 \
  --reference-slices 10 --reference-folds 1

step "1 fold, no mirroring, 100x512x512 (both in full)"
timeout 150 "$py" Testing/benchmarks/bench_predictor.py --device cuda --folds 1 --no-tta --shape 100 512 512

step "CUDA test of the device pipeline"
timeout 90 "$py" -m pytest -q -x -p no:cacheprovider Testing/test_device_pipeline.py -k cuda

step "null network on CUDA: 5 folds, mirroring, 100x512x512"
timeout 90 "$py" Testing/benchmarks/bench_predictor.py --device cuda --folds 5 --shape 100 512 512 --null-network

step "done"
