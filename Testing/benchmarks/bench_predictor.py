"""Benchmark: the engine against nnU-Net's ``nnUNetPredictor`` on the same model folder and volume.

Workload (defaults): the paper's ResEnc M 2D plans (patch 128x192, 6 stages 32..512, blocks
1,3,4,6,6,6) with random weights, a 64x119x178 CT-like volume (the paper's median ROI), mirroring
TTA on. Each predictor runs in its own child process (so peak memory is its own), the engine's
argmax is compared with nnU-Net's, and the floor is the network's FLOPs divided by the best rate this
machine reaches, in the same run, on a large matrix multiply or a wide 3x3 convolution (float32 on
the CPU, float16 on CUDA). The last line is the speed ratio.

``--float32-reference`` also runs nnU-Net's predictor with its logit accumulator in float32 instead
of float16, to show how much of the label disagreement is nnU-Net's own rounding.

``--null-network`` measures what the engine costs besides the network: the same prediction path
(preprocessing, upload, tiling, mirroring, accumulation, export, subtype pooling) on a multi-task
model whose network is replaced, in this benchmark only, by a 1x1 convolution and a linear map of
the same output shapes. It is compared with the real network's time, measured in the same run on
``--network-slices`` slices and scaled by tile passes.

``--precision both`` runs the engine in float32 and in bfloat16 and prints both.

    python Testing/benchmarks/bench_predictor.py [--folds 1] [--no-tta] [--shape 64 119 178] [--threads N]
        [--device cpu|cuda] [--backend auto|torch|openvino|onnxruntime] [--float32-reference]
        [--precision auto|float32|bfloat16|both] [--null-network [--network-slices 2]]
        [--reference-slices N] [--reference-folds N]

On a machine with a GPU, the issue's check is ``--device cuda --folds 5 --shape 100 512 512``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

RESENC_M_2D = {
    "n_stages": 6,
    "features_per_stage": [32, 64, 128, 256, 512, 512],
    "conv_op": "torch.nn.modules.conv.Conv2d",
    "kernel_sizes": [[3, 3]] * 6,
    "strides": [[1, 1], [2, 2], [2, 2], [2, 2], [2, 2], [2, 2]],
    "n_blocks_per_stage": [1, 3, 4, 6, 6, 6],
    "n_conv_per_stage_decoder": [1, 1, 1, 1, 1],
    "conv_bias": True,
    "norm_op": "torch.nn.modules.instancenorm.InstanceNorm2d",
    "norm_op_kwargs": {"eps": 1e-05, "affine": True},
    "dropout_op": None,
    "dropout_op_kwargs": None,
    "nonlin": "torch.nn.LeakyReLU",
    "nonlin_kwargs": {"inplace": True},
}


def build_model(root: Path, folds: int, multitask: bool = False) -> Path:
    """nnU-Net-planned ResEnc plans for a small dataset, with the 2D configuration set to the paper's.

    ``multitask`` gives the multi-task network (the paper's classifier head) and ``subtypes``.
    """
    from model_factory import SUBTYPES, _write_model, make_dataset, multitask_plans, plan_dataset

    make_dataset(Path(os.environ["nnUNet_raw"]), 990, cases=2, name="Bench")
    plans = plan_dataset(990, "nnUNetPlannerResEncM")
    config = plans["configurations"]["2d"]
    config["patch_size"] = [128, 192]
    config["spacing"] = [0.73, 0.73]
    config["architecture"]["network_class_name"] = (
        "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"
    )
    config["architecture"]["arch_kwargs"] = dict(RESENC_M_2D)
    dataset = {
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, "pancreas": 1, "lesion": 2},
        "numTraining": 2,
        "file_ending": ".nii.gz",
    }
    trainer = "nnUNetTrainer"
    if multitask:
        plans, trainer = multitask_plans(plans), "nnUNetTrainerMultiTask"
        dataset["subtypes"] = SUBTYPES
    folder = root / f"{trainer}__{plans['plans_name']}__2d"
    return _write_model(folder, plans, dataset, tuple(range(folds)), trainer, init_scale=1.0)


def rss_mb(field: str = "VmHWM") -> float:
    """Peak (``VmHWM``) or current (``VmRSS``) resident memory of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Start peak tracking afresh (Linux: writing 5 to clear_refs resets VmHWM), so imports do not count."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


class TimedBackend:
    """A backend wrapper that counts tile passes and the seconds (wall and CPU) spent inside the network.

    CPU seconds (all threads of this process) are the steadier measure on a shared machine.
    """

    def __init__(self, inner: object, device: str) -> None:
        self.inner, self.device, self.seconds, self.cpu_seconds, self.passes = inner, device, 0.0, 0.0, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def select_fold(self, fold: str) -> None:
        self.inner.select_fold(fold)

    def __call__(self, batch: object) -> object:
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
        start, cpu = time.perf_counter(), time.process_time()
        out = self.inner(batch)
        if self.device == "cuda":
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.process_time() - cpu
        self.passes += len(batch)
        return out


def null_backend(predictor: object, device: str) -> object:
    """The predictor's own torch backend around a network of the same output shapes that costs nothing.

    A 1x1 convolution gives the segmentation logits and a linear map of each tile's mean the class
    logits; each fold gets its own random weights, so fold switching is exercised too.
    """
    import torch
    from PancreasMultiTaskLib.engine.backends import TorchBackend

    class NullNetwork(torch.nn.Module):
        def __init__(self, channels: int, subtypes: int) -> None:
            super().__init__()
            self.seg = torch.nn.Conv2d(1, channels, 1)
            self.cls = torch.nn.Linear(1, subtypes) if subtypes else None

        def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
            seg = self.seg(x)
            return seg if self.cls is None else (seg, self.cls(x.mean((2, 3))))

    model = predictor.model
    channels = model.label_manager.num_segmentation_heads
    weights = {}
    for i, fold in enumerate(model.folds):
        torch.manual_seed(i)
        weights[fold] = NullNetwork(channels, len(model.subtypes or ())).state_dict()
    network = NullNetwork(channels, len(model.subtypes or ()))
    return TorchBackend(network, weights, predictor.device)


def precision_option(precision: str) -> dict[str, str]:
    """The engine's ``precision`` option, left out when ``auto`` (the engine's default)."""
    return {} if precision == "auto" else {"precision": precision}


def worker(kind: str, model: Path, image_path: Path, out: Path, args: argparse.Namespace) -> None:
    """Run one predictor in this (child) process and write its labels and a JSON report into ``out``."""
    import numpy as np
    import SimpleITK as sitk
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    image = sitk.ReadImage(str(image_path))
    folds = tuple(p.name.split("_")[1] for p in sorted(model.glob("fold_*")))
    reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    before = rss_mb("VmRSS")
    start = time.perf_counter()
    if kind == "export":
        from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

        options = PredictionOptions(device=args.device, num_threads=args.threads, backend=args.backend)
        predictor = Predictor(model, options)
        report = {"load_s": time.perf_counter() - start, "backend": predictor.backend.name}
        (out / "export.json").write_text(json.dumps(report))
        return
    if kind in ("null", "network"):
        # The engine's own path; "null" swaps in the free network, "network" times the real one.
        from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

        options = PredictionOptions(
            device=args.device,
            use_mirroring=not args.no_tta,
            num_threads=args.threads,
            backend="torch" if kind == "null" else args.backend,
            folds=None if kind == "null" else ("0",),
            **precision_option(args.precision),
        )
        predictor = Predictor(model, options)
        if kind == "null":
            predictor.backend = null_backend(predictor, args.device)
        timed = predictor.backend = TimedBackend(predictor.backend, args.device)
        if kind == "network":
            image = image[:, :, : args.network_slices]
        ready, cpu = time.perf_counter(), time.process_time()
        prediction = predictor.predict(image)
        done = time.perf_counter()
        report = {
            "load_s": ready - start,
            "predict_s": done - ready,
            "predict_cpu_s": time.process_time() - cpu,
            "network_s": timed.seconds,
            "network_cpu_s": timed.cpu_seconds,
            "passes": timed.passes,
            "slices": image.GetSize()[2],
            "stages": prediction.timings,
            "backend": timed.inner.name,
        }
        (out / f"{kind}.json").write_text(json.dumps(report))
        return
    if kind.startswith("nnunet") or kind == "engine-subset":
        # nnU-Net's reference (and the engine beside it, for agreement) may run on a subset.
        image = image[:, :, : args.reference_slices or image.GetSize()[2]]
        folds = folds[: args.reference_folds or len(folds)]
    stages = {}
    if kind.startswith("nnunet"):
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

        if kind == "nnunet-float32":
            # nnU-Net allocates its sliding-window accumulators as ``torch.half``; in this child
            # process only, that name is made to mean float32, and nothing else of nnU-Net changes.
            torch.half = torch.float32
        predictor = nnUNetPredictor(
            device=device, use_mirroring=not args.no_tta, perform_everything_on_device=True, allow_tqdm=False
        )
        predictor.initialize_from_trained_model_folder(str(model), tuple(int(f) for f in folds))
        ready = time.perf_counter()
        seg = predictor.predict_single_npy_array(
            sitk.GetArrayFromImage(image)[None].astype(np.float32), {"spacing": list(image.GetSpacing())[::-1]}
        )
    else:
        from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

        options = PredictionOptions(
            device=args.device,
            use_mirroring=not args.no_tta,
            num_threads=args.threads,
            backend=args.backend,
            folds=folds,
            **precision_option(args.precision),
        )
        predictor = Predictor(model, options)
        ready = time.perf_counter()
        prediction = predictor.predict(image)
        seg = sitk.GetArrayFromImage(prediction.segmentation)
        stages = prediction.timings
    done = time.perf_counter()
    np.save(out / f"{kind}.npy", seg)
    report = {
        "load_s": ready - start,
        "predict_s": done - ready,
        "peak_mb": rss_mb() - before,
        "before_mb": before,
        "stages": stages,
        "slices": image.GetSize()[2],
        "folds": len(folds),
    }
    if device.type == "cuda":
        report["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    (out / f"{kind}.json").write_text(json.dumps(report))


def _best_seconds(run: Callable[[], object], device: str, repeats: int = 5) -> float:
    """The fastest of a few timed calls after one warm-up call."""
    import torch

    run()
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def peak_gflops(threads: int | None, device: str, bfloat16: bool = False) -> dict[str, float]:
    """This device's rate on a large matrix multiply and on a wide 3x3 convolution (the network's bulk).

    float32 on the CPU, float16 on CUDA (both predictors autocast there), or bfloat16 on the CPU with
    ``bfloat16`` (the engine's ``--precision bfloat16``). Both are measured because neither alone is the
    peak everywhere: on this project's 2-core AMD EPYC, PyTorch's float32 matmul reached about 220 GFLOP/s
    while its 3x3 convolutions reached about 530.
    """
    import torch

    if threads:
        torch.set_num_threads(threads)
    dtype = torch.bfloat16 if bfloat16 else torch.float16 if device == "cuda" else torch.float32
    n = 8192 if device == "cuda" else 2048
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    matmul = 2 * n**3 / _best_seconds(lambda: torch.mm(a, b), device) / 1e9
    batch, channels, height, width = (64 if device == "cuda" else 16), 256, 32, 48
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(device, dtype).eval()
    x = torch.randn(batch, channels, height, width, device=device, dtype=dtype)
    with torch.inference_mode():
        seconds = _best_seconds(lambda: conv(x), device)
    convolution = 2 * batch * channels**2 * 9 * height * width / seconds / 1e9
    return {"matmul": matmul, "3x3 convolution": convolution}


def tile_gflop(model: Path) -> float:
    import torch
    from PancreasMultiTaskLib.engine.model_folder import open_model_folder
    from torch.utils.flop_counter import FlopCounterMode

    network = open_model_folder(model, folds=["0"]).load_network("0")
    patch = tuple(open_model_folder(model, folds=["0"]).configuration_manager.patch_size)
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        network(torch.randn(1, 1, *patch))
    return counter.get_total_flops() / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=1)
    parser.add_argument("--no-tta", action="store_true")
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 119, 178), metavar=("Z", "Y", "X"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both (default: torch's)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="for both predictors")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "openvino", "onnxruntime"))
    parser.add_argument("--float32-reference", action="store_true", help="also nnU-Net with float32 accumulators")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "float32", "bfloat16", "both"),
        help="the engine's precision; both: float32 and bfloat16 in turn",
    )
    parser.add_argument("--null-network", action="store_true", help="measure the engine without its network")
    parser.add_argument(
        "--network-slices", type=int, default=2, help="with --null-network: slices (2 or more) to time the net on"
    )
    parser.add_argument(
        "--reference-slices", type=int, default=0, help="nnU-Net on the first N slices only, scaled by tile passes"
    )
    parser.add_argument(
        "--reference-folds", type=int, default=0, help="nnU-Net on the first N folds only, scaled by tile passes"
    )
    parser.add_argument("--worker", nargs=4, metavar=("KIND", "MODEL", "IMAGE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.network_slices < 2:
        parser.error("--network-slices must be 2 or more (the engine needs a 3D volume)")
    if args.worker:
        kind, model, image, out = args.worker
        worker(kind, Path(model), Path(image), Path(out), args)
        return

    with tempfile.TemporaryDirectory(prefix="pmt-bench-") as work:
        (null_network if args.null_network else compare)(Path(work), args)


def _prepare(work: Path, args: argparse.Namespace, multitask: bool = False) -> tuple[Path, Path]:
    """nnU-Net's folders inside ``work``, the model folder and the CT volume written there."""
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        os.environ[name] = str(work / name)
        (work / name).mkdir()
    import SimpleITK as sitk
    from model_factory import ct_volume

    model = build_model(work / "model", args.folds, multitask)
    image, _ = ct_volume(tuple(args.shape), spacing_xyz=(0.73, 0.73, 2.0), seed=1)
    image_path = work / "case_0000.nii.gz"
    sitk.WriteImage(image, str(image_path))
    os.environ.setdefault("PANCREAS_MT_HOME", str(work / "home"))
    return model, image_path


def _run_worker(kind: str, model: Path, image_path: Path, work: Path, args: argparse.Namespace, **extra: str) -> dict:
    """One worker in a fresh process; its JSON report."""
    command = [sys.executable, __file__, "--worker", kind, str(model), str(image_path), str(work)]
    command += ["--device", args.device, "--backend", args.backend, *(["--no-tta"] if args.no_tta else [])]
    command += ["--threads", str(args.threads)] if args.threads else []
    command += ["--network-slices", str(args.network_slices)]
    command += ["--reference-slices", str(args.reference_slices), "--reference-folds", str(args.reference_folds)]
    command += ["--precision", extra.get("precision", args.precision)]
    subprocess.run(command, check=True, env=os.environ.copy())
    return json.loads((work / f"{kind}.json").read_text())


def machine_line(threads: int, device: str, gpu: str = "") -> str:
    """The machine a run's figures come from: cores, the CPU's bfloat16 flags, torch, threads, device."""
    import torch
    from ct_runs import cpu_flags

    return (
        f"machine: {os.cpu_count()} cores{gpu}, CPU bfloat16 flags: {cpu_flags()}, torch {torch.__version__}, "
        f"threads {threads}, device {device}"
    )


def null_network(work: Path, args: argparse.Namespace) -> None:
    """What the engine spends outside the network, against the network's own time, in one run."""
    model, image_path = _prepare(work, args, multitask=True)
    precisions = ("float32", "bfloat16") if args.precision == "both" else (args.precision,)
    import torch

    threads = args.threads or torch.get_num_threads()
    z, y, x = args.shape
    print(machine_line(threads, args.device))
    print(
        f"workload: ResEnc M 2D multi-task, patch 128x192, volume {z}x{y}x{x}, folds {args.folds}, "
        f"TTA {not args.no_tta}"
    )
    null = _run_worker("null", model, image_path, work, args, precision=precisions[0])
    overhead = null["predict_s"] - null["network_s"]
    overhead_cpu = null["predict_cpu_s"] - null["network_cpu_s"]
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in null["stages"].items())
    print(f"null network: predict {null['predict_s']:.1f} s for {null['passes']} tile passes ({stages})")
    print(
        f"  of which the null network itself {null['network_s']:.2f} s; everything else {overhead:.1f} s wall, "
        f"{overhead_cpu:.1f} s CPU (all threads)"
    )
    for precision in precisions:
        net = _run_worker("network", model, image_path, work, args, precision=precision)
        scale = null["passes"] / net["passes"]
        estimate, estimate_cpu = net["network_s"] * scale, net["network_cpu_s"] * scale
        print(
            f"network ({net['backend']}, {precision}): {net['network_s']:.1f} s wall, {net['network_cpu_s']:.1f} s "
            f"CPU for {net['passes']} tile passes on {net['slices']} slice(s), 1 fold "
            f"({net['network_s'] / net['passes'] * 1e3:.1f} ms a pass); scaled by tile passes to {null['passes']}: "
            f"{estimate:.0f} s wall, {estimate_cpu:.0f} s CPU"
        )
        print(
            f"pipeline overhead / {precision} network time: {overhead / estimate * 100:.2f}% (wall), "
            f"{overhead_cpu / estimate_cpu * 100:.2f}% (CPU seconds)"
        )


def compare(work: Path, args: argparse.Namespace) -> None:
    """Both predictors on one model folder and volume, each in a fresh process; prints the ratios.

    With ``--reference-slices``/``--reference-folds`` nnU-Net runs on that subset and its time is
    scaled by tile passes; the engine then also runs on the subset, for the label agreement.
    """
    model, image_path = _prepare(work, args)
    subset = bool(args.reference_slices or args.reference_folds)
    engines = ["engine", "engine-bfloat16"] if args.precision == "both" else ["engine"]
    # On the CPU the engine exports each fold's graph once (cached); do that first and report it apart.
    reports = {}
    kinds = ["export", "nnunet", *engines] + (["engine-subset"] if subset else [])
    kinds += ["nnunet-float32"] if args.float32_reference else []
    for kind in kinds:
        single = "float32" if args.precision == "both" else args.precision
        precision = {"engine": single, "engine-subset": single, "engine-bfloat16": "bfloat16"}
        reports[kind] = _run_worker(kind, model, image_path, work, args, precision=precision.get(kind, args.precision))

    import numpy as np
    import torch

    labels = {kind: np.load(work / f"{kind}.npy") for kind in kinds[1:]}
    beside = "engine-subset" if subset else "engine"
    agreement = float((labels["nnunet"] == labels[beside]).mean())
    gflop = tile_gflop(model)
    rates = peak_gflops(args.threads, args.device)
    rate = max(rates.values())
    z, y, x = args.shape
    passes = (1 if args.no_tta else 4) * args.folds
    # Tiles per slice after resampling to the plans' spacing (0.73 mm here, so unchanged) and padding.
    from nnunetv2.inference.sliding_window_prediction import compute_steps_for_sliding_window

    steps = compute_steps_for_sliding_window((max(y, 128), max(x, 192)), (128, 192), 0.5)
    tiles = z * len(steps[0]) * len(steps[1]) * passes
    floor_s = tiles * gflop / rate
    threads = args.threads or torch.get_num_threads()
    gpu = f", {torch.cuda.get_device_name()}" if args.device == "cuda" else ""
    print(machine_line(threads, args.device, gpu))
    print(f"workload: ResEnc M 2D patch 128x192, volume {z}x{y}x{x}, folds {args.folds}, TTA {not args.no_tta}")
    print(f"network: {gflop:.1f} GFLOP per tile, {tiles} tile passes")
    measured = ", ".join(f"{name} {value:.0f}" for name, value in rates.items())
    print(
        f"floor rate: {rate:.0f} GFLOP/s, the best of {measured} ({'float16' if args.device == 'cuda' else 'float32'})"
    )
    export = reports.pop("export")
    print(
        f"engine backend: {export['backend']}; one-time graph export of {args.folds} fold(s): {export['load_s']:.1f} s"
    )
    nnunet = reports["nnunet"]
    scale = (z / nnunet["slices"]) * (args.folds / nnunet["folds"])
    if subset:
        print(
            f"nnU-Net reference on a subset: {nnunet['slices']} slice(s), {nnunet['folds']} fold(s), measured "
            f"{nnunet['predict_s']:.1f} s, scaled by tile passes (x{scale:.1f}) to {nnunet['predict_s'] * scale:.1f} s"
        )
        nnunet["predict_s"] *= scale
    for kind, r in reports.items():
        if kind == "engine-subset":
            continue
        print(
            f"{kind:>7}: predict {r['predict_s']:.1f} s ({tiles * gflop / r['predict_s']:.0f} GFLOP/s, "
            f"{r['predict_s'] / floor_s:.2f}x the floor of {floor_s:.1f} s, {floor_s / r['predict_s'] * 100:.1f}% "
            f"of the floor's rate), load {r['load_s']:.1f} s, peak RSS {r['peak_mb']:.0f} MB above the "
            f"{r['before_mb']:.0f} MB after imports"
            + (f", GPU peak {r['gpu_peak_mb']:.0f} MB" if "gpu_peak_mb" in r else "")
            + (" (subset)" if kind.startswith("nnunet") and subset else "")
        )
        if r["stages"]:
            print("         stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in r["stages"].items()))
    print(f"argmax agreement{' on the subset' if subset else ''}: {agreement * 100:.4f}% of voxels")
    if "engine-bfloat16" in labels:
        same = labels["engine"] == labels["engine-bfloat16"]
        print(f"argmax agreement engine float32 / bfloat16: {same.mean() * 100:.4f}% of voxels")
    if args.float32_reference:
        for a, b in (("engine", "nnunet-float32"), ("nnunet", "nnunet-float32")):
            same = labels[beside if a == "engine" else a] == labels[b]
            print(f"argmax agreement {a} / {b}: {same.mean() * 100:.4f}% ({(~same).sum()} voxels differ)")
    if not subset:
        memory = reports["engine"]["peak_mb"] / reports["nnunet"]["peak_mb"]
        print(f"memory ratio (engine / nnU-Net peak RSS above imports): {memory:.2f}")
        if args.device == "cuda":
            gpu_memory = reports["engine"]["gpu_peak_mb"] / reports["nnunet"]["gpu_peak_mb"]
            print(f"GPU memory ratio (engine / nnU-Net peak allocated): {gpu_memory:.2f}")
    for kind in engines[1:]:
        print(f"speed ratio (nnU-Net time / {kind} time): {nnunet['predict_s'] / reports[kind]['predict_s']:.2f}")
    if "engine-bfloat16" in reports and args.device == "cpu":
        # What the bfloat16 units allow at all: nnU-Net's time over the network at this CPU's best bfloat16 rate.
        bf16_rates = peak_gflops(args.threads, args.device, bfloat16=True)
        bf16_floor_s = tiles * gflop / max(bf16_rates.values())
        measured = ", ".join(f"{name} {value:.0f}" for name, value in bf16_rates.items())
        print(
            f"bfloat16 floor rate: {max(bf16_rates.values()):.0f} GFLOP/s, the best of {measured}; floor "
            f"{bf16_floor_s:.1f} s, so no bfloat16 engine here beats nnU-Net by more than "
            f"{nnunet['predict_s'] / bf16_floor_s:.2f}x"
        )
    speed = nnunet["predict_s"] / reports["engine"]["predict_s"]
    print(f"speed ratio (nnU-Net time{' scaled' if subset else ''} / engine time): {speed:.2f}")


if __name__ == "__main__":
    main()
