"""Speed on a whole CT on the CPU: ``--roi auto`` against ``--roi full``, and ``--fast`` against ``--roi auto`` alone.

The volume is a 512 x 512 x N whole-abdomen CT: the training package's ``abdomen`` phantom of N slices
(air outside the body, a table, organs, the gland somewhere along the N slices), held-out seed.
Each setting runs ``pancreas-mt predict`` (bundled demo model, ``--device cpu``) in a child process;
printed per setting: wall seconds, the child's own peak RSS (VmHWM), the ROI used and how it was found; then the
speed ratios against the reference of the same run, the gland and lesion Dice of each setting's labels
against the reference's and against the phantom's truth; last the CPU's bfloat16 flags.

    python Testing/benchmarks/whole_ct_speed.py [--slices 200] [--threads 2] [--seed 2] [--model PATH]
        [--settings "roi auto" ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from pancreas_mt_training.metrics import segmentation_metrics

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ct_runs import Run, cpu_flags, predict, write_image  # noqa: E402

#: (name, pancreas-mt predict arguments, the name of the run it is compared with).
SETTINGS = (
    ("roi full", ["--roi", "full"], None),
    ("roi auto", ["--roi", "auto"], "roi full"),
    ("roi auto --fast", ["--roi", "auto", "--fast"], "roi auto"),
)


def abdomen_volume(slices: int, seed: int) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float], str]:
    """A (slices, 512, 512) int16 whole-abdomen CT, its true labels, its (x, y, z) spacing, and what it is: the
    training package's ``abdomen`` phantom of ``slices`` slices (a normal gland or a lesion, as the seed draws)."""
    import SimpleITK as sitk
    from pancreas_mt_training.phantoms import generate_phantoms
    from pancreas_mt_training.phantoms_abdomen import AbdomenParams

    phantom = next(generate_phantoms(seed, 1, generator="abdomen", abdomen=AbdomenParams(slices=slices)))
    what = f"abdomen phantom, subtype {phantom.subtype}" if phantom.subtype >= 0 else "abdomen phantom, normal gland"
    image, truth = (sitk.GetArrayFromImage(i) for i in (phantom.image, phantom.label))
    return image, truth, phantom.image.GetSpacing(), what


def agreement(a: Run, b: Run, spacing_zyx: tuple[float, ...]) -> dict[str, dict[str, float]]:
    """The training package's metrics (Dice, NSD, ...) of ``a``'s labels against ``b``'s, on their union's box."""
    from scipy import ndimage

    box = ndimage.find_objects(((a.labels > 0) | (b.labels > 0)).astype(np.uint8))
    region = box[0] if box else tuple(slice(0, 1) for _ in a.labels.shape)
    return segmentation_metrics(a.labels[region], b.labels[region], spacing_zyx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=200, help="slices N of the 512 x 512 x N volume")
    parser.add_argument("--seed", type=int, default=2, help="phantom seed (2: the demo model's held-out seed)")
    parser.add_argument("--threads", type=int, default=None, help="OMP/torch threads of the child (default: all)")
    parser.add_argument(
        "--settings",
        nargs="+",
        choices=[name for name, _, _ in SETTINGS],
        default=[name for name, _, _ in SETTINGS],
        help="settings to run (default: all; a comparison is printed where both of its runs ran)",
    )
    parser.add_argument("--model", help="model folder, installed name or zip (default: the bundled demo model)")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)

    with tempfile.TemporaryDirectory(prefix="pmt-wholect-speed-") as home:
        os.environ.setdefault("PANCREAS_MT_HOME", home)
        volume, truth, spacing, what = abdomen_volume(args.slices, args.seed)
        image = write_image(volume, Path(home) / "abdomen.nii.gz", spacing)
        print(f"volume: {' x '.join(map(str, volume.shape[::-1]))} voxels of {spacing} mm: {what}")
        runs: dict[str, Run] = {}
        for name, flags, _ in (setting for setting in SETTINGS if setting[0] in args.settings):
            model = ["--model", args.model] if args.model else []
            run = runs[name] = predict(image, Path(home) / name.replace(" ", "_"), "--device", "cpu", *model, *flags)
            provenance = run.result["provenance"]
            print(
                f"{name}: {run.seconds:.1f} s wall, peak RSS {run.peak_rss_mb:.0f} MB; folds {provenance['folds']}, "
                f"TTA {provenance['tta']}, fast {provenance.get('fast')}; ROI {provenance['roi']}: "
                f"{provenance['roi_how']}",
                flush=True,
            )
        for name, _, reference in SETTINGS:
            if name not in runs or reference not in runs:
                continue
            a, b = runs[name], runs[reference]
            metrics = agreement(a, b, spacing[::-1])
            print(
                f"{name} vs {reference}: {b.seconds / a.seconds:.2f}x faster; Dice gland "
                f"{metrics['pancreas']['dice']:.4f}, lesion {metrics['lesion']['dice']:.4f}"
            )
        for name in runs:
            scores = segmentation_metrics(runs[name].labels, truth, spacing[::-1])
            print(
                f"{name} against the truth: Dice gland {scores['pancreas']['dice']:.4f}, lesion "
                f"{scores['lesion']['dice']:.4f}"
            )
    print(f"CPU bfloat16 flags: {cpu_flags()}; cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
