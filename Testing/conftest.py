"""Test set-up: nnU-Net's folders point at a temporary directory before nnunetv2 is imported."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

_NNUNET_ROOT = Path(tempfile.mkdtemp(prefix="pmt-nnunet-"))
for _name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
    os.environ[_name] = str(_NNUNET_ROOT / _name)
    (_NNUNET_ROOT / _name).mkdir(parents=True, exist_ok=True)
os.environ["PANCREAS_MT_HOME"] = str(_NNUNET_ROOT / "pancreas-mt-home")  # model and ONNX caches
os.environ.setdefault("nnUNet_n_proc_DA", "1")
os.environ.setdefault("nnUNet_def_n_proc", "1")
# Under pytest-xdist (``./dev test``), the workers share the cores rather than each starting a thread per core.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Testing"))
_DATASET_ROOTS = ("nnUNet_raw", "nnUNet_preprocessed")


import pytest  # noqa: E402


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's nnU-Net folders and model caches (hundreds of MB) when pytest ends."""
    shutil.rmtree(_NNUNET_ROOT, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest test files first (``suite_order``); each file's tests stay together and in their order."""
    from suite_order import start_rank

    items.sort(key=lambda item: start_rank(item.path.name))


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]) -> Path:
    """``build(folder)``'s model folder, built by the first of the session's xdist workers to ask, shared by all.

    pytest-xdist's recipe for a session fixture made once: a lock in the folder all workers' temporary folders
    share. The builder's nnU-Net raw and preprocessed datasets are kept beside the model and copied into each
    other worker's nnU-Net folders, so every worker sees what it would have built itself.
    """
    from PancreasMultiTaskLib.engine.filelock import locked

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    shared = root / "built-once" / name
    with locked(root / "built-once" / f"{name}.lock"):
        record = shared / "model.txt"
        if not record.is_file():
            shutil.rmtree(shared, ignore_errors=True)  # what a failed build left
            (shared / "model").mkdir(parents=True)
            before = {k: set(Path(os.environ[k]).iterdir()) for k in _DATASET_ROOTS}
            model = build(shared / "model")
            for key in _DATASET_ROOTS:
                for dataset in set(Path(os.environ[key]).iterdir()) - before[key]:
                    shutil.copytree(dataset, shared / key / dataset.name, symlinks=True)
            record.write_text(str(model.relative_to(shared)))
        else:
            for key in _DATASET_ROOTS:
                for dataset in (shared / key).glob("*") if (shared / key).is_dir() else ():
                    if not (Path(os.environ[key]) / dataset.name).exists():
                        shutil.copytree(dataset, Path(os.environ[key]) / dataset.name, symlinks=True)
    return shared / record.read_text()


@pytest.fixture(scope="session")
def plain_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain nnU-Net v2 2D segmentation model folder (nnU-Net's planner, random weights, 2 folds)."""
    from model_factory import make_plain_model

    return built_once(tmp_path_factory, "plain", lambda folder: make_plain_model(folder, dataset_id=901))


@pytest.fixture(scope="session")
def multitask_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small multi-task model folder (nnU-Net's ResEnc M planner, reduced features, random weights)."""
    from model_factory import make_tiny_multitask_model

    return built_once(tmp_path_factory, "multitask", lambda folder: make_tiny_multitask_model(folder, dataset_id=902))


@pytest.fixture(scope="session")
def view_model(multitask_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``multitask_model`` (56 x 72 patch) with a head that reads the central 32 x 32 view of each tile."""
    from model_factory import classifier_view_model

    return classifier_view_model(multitask_model, tmp_path_factory.mktemp("view"), (32, 32))
