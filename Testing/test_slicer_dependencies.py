"""The dependency installer's guard (``slicer/dependencies.py``): a protected package named in any line, of
requirements.txt or of any package's own dependencies, is never installed and never dropped silently; torch is
checked by version against nnunetv2's requirement; the macOS workarounds of SlicerNNUnet and SlicerTotalSegmentator.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import slicer
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from PancreasMultiTaskLib.slicer import dependencies
from PancreasMultiTaskLib.slicer.dependencies import Host
from test_slicer_module import MODULE_DIR
from test_slicer_module import module as module

REQUIREMENTS = MODULE_DIR / "Resources" / "requirements.txt"
PROTECTED = {canonicalize_name(n) for n in dependencies.PROTECTED}
LINUX, MAC_ARM, MAC_INTEL = Host("linux", "x86_64"), Host("darwin", "arm64"), Host("darwin", "x86_64")


def installed_names(calls: list[list[str]]) -> set[str]:
    return {canonicalize_name(Requirement(args[0]).name) for args in calls}


def nothing_installed(name: str) -> Version | None:
    return None


def test_shipped_requirements_are_met_here() -> None:
    assert dependencies.problems(dependencies.read_requirements(REQUIREMENTS), include_optional=True) == []


def test_an_old_nnunetv2_fails_the_version_check() -> None:
    required = dependencies.read_requirements(REQUIREMENTS)
    found = dependencies.problems(required, version_of=lambda n: Version("2.5.0") if n == "nnunetv2" else Version("99"))
    assert [p.name for p in found] == ["nnunetv2"]
    assert "nnunetv2 2.5.0 is installed, needs" in found[0].message()


def test_optional_speed_ups_never_block() -> None:
    required = dependencies.read_requirements(REQUIREMENTS)
    assert any(dependencies.is_optional(r.name) for r in required)
    found = dependencies.problems(
        required, version_of=lambda n: None if dependencies.is_optional(n) else Version("2.8.1")
    )
    assert all(not dependencies.is_optional(p.name) for p in found)


def test_a_protected_package_in_a_top_level_line_is_held_not_installed(tmp_path: Path) -> None:
    """The line that once produced ``pip install SimpleITK>=99 --no-deps``: now held and told, never installed."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("SimpleITK>=99\nnumpy>=99 ; python_version >= '3'\nvtk\ntorch>=1\nscipy\n")
    calls: list[list[str]] = []
    report = dependencies.InstallReport()
    for requirement in dependencies.read_requirements(requirements):
        dependencies.install_selective(
            requirement, calls.append, report=report, needs_install=lambda r: True, requires=lambda n: []
        )
    assert installed_names(calls) == {"scipy"}
    held = {h.requirement for h in report.held}
    assert {"SimpleITK>=99", "numpy>=99"} <= held and "vtk" not in held  # vtk is installed: met, nothing to say
    notices = "\n".join(report.notices())
    assert "requirements.txt needs SimpleITK>=99" in notices and "is not changed by this module" in notices


def test_a_protected_package_at_any_depth_is_never_installed_and_always_told() -> None:
    """A made-up dependency graph: protected packages behind extras, markers and several levels."""
    graph = {
        "top": ["middle>=1", "numpy>=1.24", "requests ; python_version >= '3'"],
        "middle": ["deep[fast]>=2", "SimpleITK>=2.2.1", "torchvision ; extra == 'vision'"],
        "deep": ["vtk>=9", "Torch>=2.1", "leaf"],
        "leaf": ["numpy<3"],
    }
    calls: list[list[str]] = []
    report = dependencies.install_selective(
        "top", calls.append, needs_install=lambda r: True, requires=graph.get, version_of=nothing_installed
    )
    assert installed_names(calls) == {"top", "middle", "deep", "leaf"}
    assert all(args[-1] == "--no-deps" for args in calls) and ["deep[fast]>=2", "--no-deps"] in calls
    held = {(h.requirement, h.needed_by) for h in report.held}
    assert held == {
        ("numpy>=1.24", "top"), ("requests", "top"), ("SimpleITK>=2.2.1", "middle"), ("vtk>=9", "deep"),
        ("Torch>=2.1", "deep"), ("numpy<3", "leaf"),
    }  # fmt: skip  # torchvision only with an extra nobody asked for


def test_walking_nnunetv2_never_touches_slicers_packages() -> None:
    """nnunetv2's real metadata, as if nothing were installed: every protected requirement is held, none installed."""
    calls: list[list[str]] = []
    report = dependencies.install_selective(
        "nnunetv2>=2.8,<2.9", calls.append, needs_install=lambda r: True, version_of=nothing_installed
    )
    names = installed_names(calls)
    assert "nnunetv2" in names and len(names) > 10 and not names & PROTECTED
    held = {canonicalize_name(Requirement(h.requirement).name) for h in report.held}
    assert {"torch", "numpy", "simpleitk", "requests"} <= held


def test_pip_arguments_are_one_package_alone(tmp_path: Path) -> None:
    assert dependencies.pip_arguments(Requirement("foo[b,a]>=1,<2 ; python_version > '3'")) == [
        "foo[a,b]<2,>=1",
        "--no-deps",
    ]
    url = tmp_path / "requirements.txt"
    url.write_text("foo @ https://example.invalid/foo.whl\n")
    with pytest.raises(ValueError, match="direct URL"):
        dependencies.read_requirements(url)


def test_torch_is_checked_by_version_against_nnunetv2() -> None:
    spec = dependencies.torch_requirement("nnunetv2")
    assert "!=2.9.*" in spec and dependencies.torch_specifier(LINUX) == spec

    def torch_at(version: str | None):
        return lambda name: (Version(version) if version else None) if name == "torch" else Version("99")

    assert dependencies.torch_problem(LINUX, torch_at("2.8.0")) is None
    wrong = dependencies.torch_problem(LINUX, torch_at("2.9.1"))
    assert wrong is not None and wrong.installed == "2.9.1" and "!=2.9.*" in wrong.message()
    missing = dependencies.torch_problem(LINUX, torch_at(None))
    assert missing is not None and "not installed" in missing.message()


def test_a_torch_nnunetv2_excludes_is_named_before_it_is_replaced(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("nnunetv2>=2.8\n")
    versions = {"torch": Version("2.9.0"), "numpy": Version("2.1.0"), "nnunetv2": Version("2.8.1")}
    plan = dependencies.plan_install(requirements, LINUX, versions.get)
    assert plan.torch_change == f"replace torch 2.9.0 with torch{plan.torch_specifier}"
    assert "will change" in plan.question() and "replace torch 2.9.0" in plan.question()
    assert plan.numpy_change is None


def test_macos_on_intel_or_rosetta(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PyTorch 2.2 is the last build there: torch capped, numpy 1 asked for by name, imagecodecs capped first."""
    assert dependencies.torch_specifier(MAC_INTEL, ">=2.1.2,!=2.9.*") == ">=2.1.2,!=2.9.*,<2.3"
    assert dependencies.torch_specifier(MAC_ARM, ">=2.1.2") == ">=2.1.2"
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("scipy\n")
    versions = {"torch": Version("2.2.2"), "numpy": Version("2.1.0"), "scipy": Version("1.13")}
    plan = dependencies.plan_install(requirements, MAC_INTEL, versions.get)
    assert plan.numpy_change and "numpy<2" in plan.numpy_change and "numpy<2" in plan.question()
    assert dependencies.plan_install(requirements, MAC_ARM, versions.get).numpy_change is None

    monkeypatch.setattr(dependencies, "installed_version", lambda n: versions.get(n))
    calls: list[list[str]] = []
    torch_calls: list[str] = []
    dependencies.install_requirements(requirements, calls.append, torch_calls.append, plan=plan, host=MAC_INTEL)
    assert calls[0] == [dependencies.MACOS_IMAGECODECS, "--no-deps"] and calls[1] == ["numpy<2"]
    assert torch_calls == []  # torch 2.2.2 meets the capped requirement

    calls.clear()
    linux_plan = dependencies.plan_install(requirements, LINUX, versions.get)
    dependencies.install_requirements(requirements, calls.append, torch_calls.append, plan=linux_plan, host=LINUX)
    assert not any("imagecodecs" in args[0] or args[0].startswith("numpy") for args in calls)


def test_shipped_requirements_name_no_protected_package_this_slicer_lacks() -> None:
    plan = dependencies.plan_install(REQUIREMENTS, LINUX)
    assert plan.held == [] and plan.problems == []
    assert not any(canonicalize_name(r.name) == "torch" for r in dependencies.read_requirements(REQUIREMENTS))


def test_install_asks_first_and_passes_torch_requirement(
    module: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    requirements = module.tmp / "requirements.txt"
    requirements.write_text("nnunetv2>=99\nopenvino>=99999\nSimpleITK>=99\n")
    logic = module.mod.PancreasMultiTaskLogic(modelsDirectory=module.tmp / "models")
    monkeypatch.setattr(type(logic), "requirementsPath", staticmethod(lambda: requirements))
    asked: list[str] = []
    pip: list[list[str]] = []
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", lambda text, title="": asked.append(text) or False)
    monkeypatch.setattr(slicer.util, "pip_install", pip.append)
    assert logic.installDependencies() is False and pip == []
    assert "nnunetv2" in asked[0] and "MB" in asked[0] and "SimpleITK>=99" in asked[0]

    def pip_install(args: list[str]) -> None:
        if args[0].startswith("openvino"):
            raise RuntimeError("no wheel")  # an optional speed-up that fails does not stop the install
        pip.append(args)

    torch_calls: list[dict] = []
    stand_in = SimpleNamespace(
        PyTorchUtilsLogic=lambda: SimpleNamespace(installTorch=lambda **kw: torch_calls.append(kw) or "ok")
    )
    monkeypatch.setitem(sys.modules, "PyTorchUtils", stand_in)
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", lambda text, title="": True)
    monkeypatch.setattr(slicer.util, "pip_install", pip_install)
    real = dependencies.installed_version
    monkeypatch.setattr(dependencies, "installed_version", lambda n: None if n == "torch" else real(n))
    with pytest.raises(RuntimeError, match="Still not met"):  # nnunetv2>=99 and SimpleITK>=99 cannot be met
        logic.installDependencies()
    assert pip[0] == ["nnunetv2>=99", "--no-deps"]
    assert not any(args[0].lower().startswith("simpleitk") for args in pip)
    assert any("SimpleITK>=99" in notice for notice in logic.installNotices)
    assert any("openvino" in notice for notice in logic.installNotices)
    assert torch_calls == [{"askConfirmation": False, "torchVersionRequirement": dependencies.torch_specifier()}]
