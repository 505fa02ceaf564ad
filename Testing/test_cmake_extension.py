"""The extension's CMake with Slicer 5.10's, CTK's, vtkAddon's and the CTK launcher's own macro files (vendored,
unchanged, in ``Testing/slicer_cmake``; only a Slicer build tree's variables and its external packages are faked,
see its README): configure, build, install and package a clean copy of the repository, then check the generated
extension description (``.s4ext``), the installed tree and the package."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]
VENDORED = REPO / "Testing" / "slicer_cmake"
SLICER_DIR = VENDORED / "build-tree"
MODULES = "lib/Slicer-5.10/qt-scripted-modules"
SCM_URL = "https://github.com/PancreasMultiTask/SlicerPancreasMultiTask.git"

pytestmark = pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("git") is None, reason="cmake and git are needed"
)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, timeout=600)


def checked(*args: str, cwd: Path | None = None) -> str:
    done = run(*args, cwd=cwd)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def git(*args: str, cwd: Path) -> str:
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]
    return checked("git", *identity, *args, cwd=cwd).strip()


def configure(source: Path, build: Path) -> subprocess.CompletedProcess:
    return run("cmake", "-S", str(source), "-B", str(build), f"-DSlicer_DIR={SLICER_DIR}", "-DBUILD_TESTING=ON")


def cmake_value(name: str) -> str:
    """A ``set(NAME "value")`` of the top-level CMakeLists.txt."""
    found = re.search(rf'^set\({name} "([^"]*)"\)', (REPO / "CMakeLists.txt").read_text(), re.M)
    assert found, name
    return found.group(1)


def s4ext(path: Path) -> dict[str, str]:
    """The key-value lines of a description file (the first word is the key, the rest of the line its value)."""
    pairs = (line.split(" ", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {key: (rest[0] if rest else "") for key, *rest in pairs}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A clean copy of the repository (git's tracked and non-ignored files) in a git repository with the project's
    origin, configured, built, installed and packaged."""
    root = tmp_path_factory.mktemp("extension")
    source, build, prefix = root / "src", root / "build", root / "install"
    listed = checked("git", "ls-files", "-co", "--exclude-standard", "-z", cwd=REPO).split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    git("init", "-q", cwd=source)
    git("add", "-A", cwd=source)
    git("commit", "-q", "-m", "extension under test", cwd=source)
    git("remote", "add", "origin", SCM_URL, cwd=source)
    done = configure(source, build)
    assert done.returncode == 0, done.stdout + done.stderr
    checked("cmake", "--build", str(build))
    checked("cmake", "--install", str(build), "--prefix", str(prefix))
    checked("cpack", "-G", "TGZ", cwd=build)
    return SimpleNamespace(
        source=source, build=build, prefix=prefix, revision=git("rev-parse", "HEAD", cwd=source), stderr=done.stderr
    )


def test_the_description_file_is_whole(built: SimpleNamespace) -> None:
    """What the Extensions Index and the Extensions Manager read: nothing cut, every URL naming a file we ship."""
    assert "CMake Warning" not in built.stderr and "CMake Error" not in built.stderr, built.stderr
    described = s4ext(built.build / "PancreasMultiTask.s4ext")
    assert described["description"] == cmake_value("EXTENSION_DESCRIPTION")
    assert described["description"].endswith("For research use only, not a medical device.")
    assert described["category"] == "Segmentation"
    assert described["contributors"] == "PancreasMultiTask maintainers (PancreasMultiTask project)"
    assert re.fullmatch(r"[^,()]+ \([^()]+\)(, [^,()]+ \([^()]+\))*", described["contributors"])
    assert described["depends"] == "PyTorch"
    assert described["homepage"] == cmake_value("EXTENSION_HOMEPAGE")
    assert (described["scm"], described["scmurl"]) == ("git", SCM_URL)
    assert built.revision.startswith(described["scmrevision"]) and len(described["scmrevision"]) >= 7
    raw = "https://raw.githubusercontent.com/PancreasMultiTask/SlicerPancreasMultiTask/main/"
    urls = [described["iconurl"], *described["screenshoturls"].split()]
    assert urls == [cmake_value("EXTENSION_ICONURL"), *cmake_value("EXTENSION_SCREENSHOTURLS").split()]
    for url in urls:
        assert url.startswith(raw) and url.endswith(".png")
        assert (REPO / url[len(raw) :]).is_file(), f"{url} names no file of the repository"
    assert (built.prefix / "share/Slicer-5.10/PancreasMultiTask.s4ext").read_text() == (
        built.build / "PancreasMultiTask.s4ext"
    ).read_text()


def test_the_package(built: SimpleNamespace) -> None:
    """cpack's archive, named as the extension server expects, holds the module and its description."""
    packages = list(built.build.glob("30209-linux-amd64-PancreasMultiTask-git*.tar.gz"))
    assert len(packages) == 1, sorted(p.name for p in built.build.iterdir())
    with tarfile.open(packages[0]) as archive:
        names = archive.getnames()
    assert any(n.endswith(f"{MODULES}/PancreasMultiTask.py") for n in names)
    assert any(n.endswith("share/Slicer-5.10/PancreasMultiTask.s4ext") for n in names)
    assert any(n.endswith(f"{MODULES}/Resources/DemoModel/PancreasPhantomsDemo.zip") for n in names)
    cpack_config = (built.build / "CPackConfig.cmake").read_text()
    summary = re.search(r'set\(CPACK_PACKAGE_DESCRIPTION_SUMMARY "([^"]*)"\)', cpack_config)
    assert summary and summary.group(1) == cmake_value("EXTENSION_DESCRIPTION")
    assert f'set(CPACK_RESOURCE_FILE_LICENSE "{built.source / "LICENSE"}")' in cpack_config


def test_the_installed_tree(built: SimpleNamespace) -> None:
    installed = built.prefix / MODULES
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
    assert (built.build / "SlicerWithPancreasMultiTask").is_file(), "the launcher a developer starts Slicer with"


def test_the_tests_ctest_would_run(built: SimpleNamespace) -> None:
    listed = checked("ctest", "-N", cwd=built.build)
    for test in (
        "py_PancreasMultiTask",
        "py_nomainwindow_batch_predict",
        "py_nomainwindow_qSlicerPancreasMultiTaskModuleGenericTest",
    ):
        assert test in listed, listed
    shown = json.loads(run("ctest", "--show-only=json-v1", cwd=built.build).stdout)
    command = next(t["command"] for t in shown["tests"] if t["name"] == "py_nomainwindow_batch_predict")
    image = Path(command[command.index("--input") + 1])
    sample = json.loads((REPO / "Resources" / "SampleData" / "sample.json").read_text())
    assert image.name == sample["image"] and image.is_file(), command  # the sample sample.json names


def stand_in_extension(root: Path, resources: str, description: str = "A stand-in.") -> Path:
    """A one-module extension whose RESOURCES are ``resources``, packaged as ours is."""
    source = root / "ext"
    (source / "Mod" / "Resources" / "Folder").mkdir(parents=True)
    (source / "Mod" / "Mod.py").write_text("")
    (source / "Mod" / "Resources" / "Folder" / "a.txt").write_text("a")
    (source / "LICENSE").write_text("licence")
    (source / "README.md").write_text("readme")
    (source / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20.6...3.22.6)\nproject(StandIn)\n"
        f'set(EXTENSION_DESCRIPTION "{description}")\nset(EXTENSION_DEPENDS "NA")\n'
        'set(EXTENSION_LICENSE_FILE "${CMAKE_CURRENT_SOURCE_DIR}/LICENSE")\n'
        'set(EXTENSION_README_FILE "${CMAKE_CURRENT_SOURCE_DIR}/README.md")\n'
        "find_package(Slicer REQUIRED)\ninclude(${Slicer_USE_FILE})\nadd_subdirectory(Mod)\n"
        "include(${Slicer_EXTENSION_GENERATE_CONFIG})\ninclude(${Slicer_EXTENSION_CPACK})\n"
    )
    (source / "Mod" / "CMakeLists.txt").write_text(
        f"slicerMacroBuildScriptedModule(NAME Mod SCRIPTS Mod.py RESOURCES {resources})\n"
    )
    return source


def test_slicers_packaging_cuts_a_description_at_a_semicolon(tmp_path: Path) -> None:
    """Why ours has none: SlicerExtensionCPack.cmake passes EXTENSION_DESCRIPTION unquoted."""
    source = stand_in_extension(tmp_path, "Resources/Folder/a.txt", "Kept part; lost part. For research use only.")
    done = configure(source, tmp_path / "build")
    assert done.returncode == 0, done.stdout + done.stderr
    assert s4ext(tmp_path / "build" / "StandIn.s4ext")["description"] == "Kept part"
    assert ";" not in cmake_value("EXTENSION_DESCRIPTION")


def test_a_missing_resource_fails_the_configure_step(tmp_path: Path) -> None:
    done = configure(stand_in_extension(tmp_path, "Resources/missing.txt"), tmp_path / "build")
    message = " ".join(done.stderr.split())
    assert done.returncode != 0 and "given nonexistent file or directory 'Resources/missing.txt'" in message


def test_a_folder_given_as_a_resource_ships_empty(tmp_path: Path) -> None:
    """Slicer's macro takes an existing folder, and the build and install make it an empty folder: its files are
    lost without a word. So every resource of ours is listed file by file (checked below)."""
    build = tmp_path / "build"
    done = configure(stand_in_extension(tmp_path, "Resources/Folder"), build)
    assert done.returncode == 0, done.stderr
    checked("cmake", "--build", str(build))
    copied = build / MODULES / "Resources" / "Folder"
    assert copied.is_dir() and not any(copied.iterdir())
    cmake = (REPO / "PancreasMultiTask" / "CMakeLists.txt").read_text()
    resources = cmake.split("set(MODULE_PYTHON_RESOURCES")[1].split(")")[0].split()
    assert resources and all(
        (REPO / "PancreasMultiTask" / r.replace("${MODULE_NAME}", "PancreasMultiTask")).is_file() for r in resources
    )
