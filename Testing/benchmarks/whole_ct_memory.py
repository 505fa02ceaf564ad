"""Peak memory of a whole CT on the CPU: how ``pancreas-mt predict``'s peak RSS grows with the number of slices.

For each N a synthetic 512 x 512 x N CT-like volume (an elliptic body of ~40 HU soft tissue with noise in
-1000 HU air, int16 NIfTI, 0.75 x 0.75 x 2.5 mm) is predicted in a child process with the bundled demo model
on the CPU, with ``--roi full`` and with the default ROI; the child's own peak RSS is its ``VmHWM`` (``ct_runs.py``).
The slope between the two largest N extrapolates to ``--extrapolate`` slices (default 300), against the
``--limit-gb`` bound (default 4). The reference is the same run's smallest N: each line prints its ratio.

    python Testing/benchmarks/whole_ct_memory.py [--slices 50 100] [--extrapolate 300] [--threads 2]
        [--roi full default] [-- extra pancreas-mt predict arguments]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ct_runs import SPACING_MM, body_slices, cpu_flags, predict, write_image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, nargs="+", default=[50, 100], help="slice counts N to measure")
    parser.add_argument("--size", type=int, default=512, help="in-plane size of each slice")
    parser.add_argument("--extrapolate", type=int, default=300, help="slice count to extrapolate the slope to")
    parser.add_argument("--limit-gb", type=float, default=4.0, help="the peak RSS bound to check the estimate against")
    parser.add_argument("--roi", nargs="+", default=["full", "default"], help="ROI settings: full, auto, default")
    parser.add_argument("--threads", type=int, default=None, help="OMP/torch threads of the child (default: all)")
    parser.add_argument("extra", nargs="*", help="more pancreas-mt predict arguments (after --)")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)

    print(f"CPU bfloat16 flags: {cpu_flags()}; cores: {os.cpu_count()}")
    print(f"volume: {args.size} x {args.size} x N, spacing {SPACING_MM} mm, int16; demo model on the CPU")
    with tempfile.TemporaryDirectory(prefix="pmt-wholect-") as home:
        os.environ.setdefault("PANCREAS_MT_HOME", home)
        root = Path(home)
        for roi in args.roi:
            flags = ["--device", "cpu", *([] if roi == "default" else ["--roi", roi]), *args.extra]
            peaks: dict[int, float] = {}
            for n in sorted(args.slices):
                image = write_image(body_slices(args.size, n), root / f"ct{n}.nii.gz")
                run = predict(image, root / f"out-{roi}-{n}", *flags)
                peaks[n] = run.peak_rss_mb
                reference = peaks[min(peaks)]
                print(
                    f"roi {roi}: N={n}: peak RSS {run.peak_rss_mb:.0f} MB ({run.peak_rss_mb / reference:.2f}x N="
                    f"{min(peaks)}), {run.seconds:.1f} s wall; roi_how: {run.result['provenance'].get('roi_how')}",
                    flush=True,
                )
            if len(peaks) >= 2:
                a, b = sorted(peaks)[-2:]
                slope = (peaks[b] - peaks[a]) / (b - a)
                estimate = peaks[b] + slope * (args.extrapolate - b)
                verdict = "within" if estimate <= args.limit_gb * 1024 else "OVER"
                print(
                    f"roi {roi}: slope {slope:.2f} MB/slice; extrapolated N={args.extrapolate}: {estimate:.0f} MB "
                    f"({verdict} {args.limit_gb:g} GB)"
                )


if __name__ == "__main__":
    main()
