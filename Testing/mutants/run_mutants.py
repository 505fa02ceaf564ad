"""Curated mutation check: apply each mutant of ``mutants.toml`` alone in a temporary copy of the tree
and run its related tests there; print killed / survived / no longer applies, and a total.

Exit status: 0 when every applicable mutant is killed, 1 when any survived or its tests could not run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[2]
MUTANTS = Path(__file__).with_name("mutants.toml")
#: What a test run needs from the tree; Resources (the demo model) is linked, not copied.
COPIED = ("PancreasMultiTask", "training", "Testing", "pyproject.toml")
LINKED = ("Resources",)


def load(path: Path) -> list[dict]:
    """The mutants, each checked for its fields."""
    mutants = tomllib.loads(path.read_text(encoding="utf-8"))["mutant"]
    for m in mutants:
        missing = {"name", "file", "original", "replacement", "tests"} - set(m)
        if missing:
            raise SystemExit(f"{path}: mutant {m.get('name', '?')!r} lacks {', '.join(sorted(missing))}")
    return mutants


def copy_tree(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)
    for name in LINKED:
        (target / name).symlink_to(REPO / name)


def run_one(mutant: dict, timeout: float) -> tuple[str, str]:
    """Status (killed, survived, no longer applies, error) and a detail line."""
    text = (REPO / mutant["file"]).read_text(encoding="utf-8")
    count = text.count(mutant["original"])
    if count != 1:
        return "no longer applies", f"snippet found {count} times in {mutant['file']}"
    mutated = text.replace(mutant["original"], mutant["replacement"])
    try:  # a snippet can match inside a more indented line: a mutant that does not compile kills nothing
        compile(mutated, mutant["file"], "exec")
    except SyntaxError as error:
        return "error", f"the mutated {mutant['file']} does not compile: {error.msg} (line {error.lineno})"
    with tempfile.TemporaryDirectory(prefix="pmt-mutant-") as tmp:
        clone = Path(tmp)
        copy_tree(clone)
        (clone / mutant["file"]).write_text(mutated, encoding="utf-8")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(clone / "PancreasMultiTask"), str(clone / "training")])
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("nnUNet_n_proc_DA", "1")
        env.setdefault("nnUNet_def_n_proc", "1")
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutant["tests"]]
        try:
            done = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "error", f"tests ran past {timeout:.0f} s"
    last = (done.stdout.strip().splitlines() or [""])[-1]
    if done.returncode == 0:
        return "survived", last
    if done.returncode == 1:  # pytest: tests ran and some failed
        return "killed", last
    return "error", f"pytest exit {done.returncode}: {last}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", "--match", help="run only mutants whose name contains this text")
    parser.add_argument("--list", action="store_true", help="list the mutants and whether each applies")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per mutant (default: %(default)s)")
    args = parser.parse_args(argv)
    # A terminated run still removes its temporary copy (TemporaryDirectory cleans up on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    mutants = [m for m in load(MUTANTS) if not args.match or args.match.lower() in m["name"].lower()]
    counts = {"killed": 0, "survived": 0, "no longer applies": 0, "error": 0}
    for i, mutant in enumerate(mutants, 1):
        started = time.perf_counter()
        if args.list:
            applies = (REPO / mutant["file"]).read_text(encoding="utf-8").count(mutant["original"]) == 1
            print(f"[{i}/{len(mutants)}] {'applies' if applies else 'no longer applies'}: {mutant['name']}")
            continue
        status, detail = run_one(mutant, args.timeout)
        counts[status] += 1
        print(
            f"[{i}/{len(mutants)}] {status}: {mutant['name']} ({mutant['file']}; {detail}; "
            f"{time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    if args.list:
        return 0
    line = f"{counts['killed']} killed, {counts['survived']} survived, {counts['no longer applies']} no longer apply"
    if counts["error"]:
        line += f", {counts['error']} could not run"
    print(line)
    return 1 if counts["survived"] or counts["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
