"""The extension's CMake: configure, build and install against a stand-in Slicer CMake package
(``Testing/cmake_stub``, with the signatures and file checks of Slicer's own macros); the installed tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STUB = REPO / "Testing" / "cmake_stub"
MODULES = "lib/Slicer-5.10/qt-scripted-modules"

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")


def cmake(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["cmake", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def configure(source: Path, build: Path) -> subprocess.CompletedProcess:
    return cmake("-S", str(source), "-B", str(build), f"-DSlicer_DIR={STUB}", "-DBUILD_TESTING=ON")


def test_configure_build_install(tmp_path: Path) -> None:
    build, prefix = tmp_path / "build", tmp_path / "install"
    done = configure(REPO, build)
    assert done.returncode == 0, done.stdout + done.stderr
    done = cmake("--build", str(build))
    assert done.returncode == 0, done.stdout + done.stderr
    done = cmake("--install", str(build), "--prefix", str(prefix))
    assert done.returncode == 0, done.stdout + done.stderr

    installed = prefix / MODULES
    top_level_py = sorted(p.name for p in installed.glob("*.py"))
    assert top_level_py == ["PancreasMultiTask.py"], "Slicer loads every top-level .py as a module"
    lib = REPO / "PancreasMultiTask" / "PancreasMultiTaskLib"
    for source in lib.rglob("*.py"):  # engine/, cli/, slicer/ keep their folders
        relative = source.relative_to(lib)
        assert (installed / "PancreasMultiTaskLib" / relative).is_file(), relative
    for relative in (
        "Resources/UI/PancreasMultiTask.ui",
        "Resources/Icons/PancreasMultiTask.png",
        "Resources/requirements.txt",
        "Scripts/batch_predict.py",
        "Resources/SampleData/sample.json",
    ):
        assert (installed / relative).is_file(), relative
    for folder in ("DemoModel", "SampleData"):
        shipped = {p.name for p in (REPO / "Resources" / folder).iterdir() if p.is_file() and p.suffix != ".md"}
        shipped -= {"demo_config.json"}
        assert shipped <= {p.name for p in (installed / "Resources" / folder).iterdir()}, folder
    demo = next((installed / "Resources" / "DemoModel").glob("*.zip"))
    assert demo.read_bytes() == (REPO / "Resources" / "DemoModel" / demo.name).read_bytes()

    listed = subprocess.run(["ctest", "-N"], cwd=build, capture_output=True, text=True, timeout=120).stdout
    for test in (
        "py_PancreasMultiTask",
        "py_nomainwindow_batch_predict",
        "py_nomainwindow_qSlicerPancreasMultiTaskModuleGenericTest",
    ):
        assert test in listed, listed


def stand_in_extension(tmp_path: Path, resources: str) -> Path:
    """A one-module extension whose RESOURCES are ``resources``."""
    source = tmp_path / "ext"
    (source / "Mod" / "Resources" / "Folder").mkdir(parents=True)
    (source / "Mod" / "Mod.py").write_text("")
    (source / "Mod" / "Resources" / "Folder" / "a.txt").write_text("a")
    (source / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(Ext NONE)\nfind_package(Slicer REQUIRED)\n"
        "include(${Slicer_USE_FILE})\nadd_subdirectory(Mod)\n"
    )
    (source / "Mod" / "CMakeLists.txt").write_text(
        f"slicerMacroBuildScriptedModule(NAME Mod SCRIPTS Mod.py RESOURCES {resources})\n"
    )
    return source


@pytest.mark.parametrize(
    "resources, message",
    [("Resources/missing.txt", "nonexistent file"), ("Resources/Folder", "given directory")],
)
def test_stand_in_fails_like_slicer(tmp_path: Path, resources: str, message: str) -> None:
    done = configure(stand_in_extension(tmp_path, resources), tmp_path / "build")
    assert done.returncode != 0 and message in done.stderr, done.stderr
    done = configure(stand_in_extension(tmp_path / "ok", "Resources/Folder/a.txt"), tmp_path / "ok" / "build")
    assert done.returncode == 0, done.stderr
