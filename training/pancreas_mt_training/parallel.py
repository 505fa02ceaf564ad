"""Work over many cases in worker processes, as nnU-Net's own preprocessing does: spawned, in order, results back.

The phantom sets, crops and conversions of ``demo-model`` are hundreds of whole fields handled one at a time; on a
machine with many cores (a GPU machine lent for minutes) one process would take most of its time.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def env_jobs() -> int | None:
    """``nnUNet_def_n_proc`` as a number of processes; ``None`` when unset, a one-line error when not a number
    (nnU-Net reads it when first imported, and stops there with a traceback)."""
    value = os.environ.get("nnUNet_def_n_proc")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"nnUNet_def_n_proc must be a whole number of processes, got {value!r}") from None


def default_jobs() -> int:
    """nnU-Net's default worker count (``nnUNet_def_n_proc`` as set now, else nnU-Net's 8), at most the cores."""
    jobs = env_jobs()
    if jobs is None:
        from nnunetv2.configuration import default_num_processes

        jobs = default_num_processes
    return max(1, min(jobs, os.cpu_count() or 1))


def map_in_processes(function: Callable[[Item], Result], items: Iterable[Item], jobs: int = 1) -> list[Result]:
    """``[function(item) for item in items]``, in ``jobs`` spawned processes when more than one (``function`` and
    the items must pickle: module-level functions, ``functools.partial`` of them). The first error is raised."""
    items = list(items)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if jobs == 1 or len(items) < 2:
        return [function(item) for item in items]
    with ProcessPoolExecutor(min(jobs, len(items)), mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(function, items))
