"""What the prediction needs in Slicer's Python, checked by version, and how to install it without touching what
Slicer owns.

Every requirement, from ``requirements.txt`` or met while walking a package's own dependencies, passes one guard:
a protected package (torch, torchvision, SimpleITK, numpy, vtk, ...) is never installed, replaced or dropped
silently. A requirement on one that this Slicer does not meet is *held* and told to the user; torch comes from the
PyTorch extension with nnunetv2's own torch requirement, and replacing an installed torch (or numpy, on an Intel
Mac or under Rosetta) is named in the question asked before anything is installed. Every other package is
installed with ``--no-deps``, its dependencies walked from its metadata, as SlicerNNUnet and SlicerTotalSegmentator
do; their macOS workarounds are kept (an imagecodecs release with Intel wheels; numpy 1 for PyTorch 2.2).

No Qt and no ``slicer``: the caller passes its ``pip_install`` and its PyTorch installer.
"""

from __future__ import annotations

import importlib.metadata as metadata
import logging
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

# Never installed or replaced without the user being told: Slicer ships them (torch comes from the PyTorch
# extension, which installs torchvision with it; requests would need a restart).
PROTECTED = ("torch", "torchvision", "torchaudio", "SimpleITK", "numpy", "vtk", "requests")
# Speed-ups: installed when possible, never required to run.
OPTIONAL = ("openvino", "onnxruntime", "onnx")
# A rough size of everything requirements.txt pulls in besides torch, for the confirmation dialog.
APPROXIMATE_DOWNLOAD_MB = 350
#: nnunetv2 2.8's torch requirement, for the question asked before nnunetv2 (and so its metadata) is installed.
NNUNETV2_TORCH_FALLBACK = ">=2.1.2,!=2.9.*"
#: macOS: later imagecodecs releases have ARM wheels only, and nnunetv2 needs it (SlicerNNUnet's cap).
MACOS_IMAGECODECS = "imagecodecs<=2026.3.6"
#: macOS on Intel, or Slicer's Intel build under Rosetta: PyTorch 2.2 is the last torch built for it...
MACOS_X86_TORCH = "<2.3"
#: ... and it needs numpy 1 (SlicerTotalSegmentator's workaround).
MACOS_X86_NUMPY = "numpy<2"

PipInstall = Callable[[list[str]], None]
VersionOf = Callable[[str], "Version | None"]


@dataclass(frozen=True)
class Host:
    """The platform an install is planned for (a stand-in in tests)."""

    system: str = sys.platform
    machine: str = platform.machine()

    @property
    def macos(self) -> bool:
        return self.system == "darwin"

    @property
    def macos_x86(self) -> bool:
        """An Intel Mac, or Slicer's Intel build under Rosetta (its Python also reports x86_64)."""
        return self.macos and self.machine.lower() in ("x86_64", "i386", "amd64")


@dataclass(frozen=True)
class Problem:
    """A required package that is missing or has a version outside its requirement."""

    name: str
    requirement: str
    installed: str | None

    def message(self) -> str:
        if self.installed is None:
            return f"{self.name} is not installed (needs {self.requirement})"
        return f"{self.name} {self.installed} is installed, needs {self.requirement}"


@dataclass(frozen=True)
class Held:
    """A requirement on a protected package that this Slicer does not meet: never installed here, told instead."""

    requirement: str
    needed_by: str
    installed: str | None

    def message(self) -> str:
        name = Requirement(self.requirement).name
        found = f"{name} {self.installed} is installed" if self.installed else f"{name} is not installed"
        return (
            f"{self.needed_by} needs {self.requirement}, but {found}. {name} belongs to Slicer (or the PyTorch "
            "extension) and is not changed by this module: update Slicer, or install it yourself if you know "
            "what else depends on it."
        )


@dataclass
class InstallReport:
    """What an install did: each pip call, the protected requirements held, the optional packages that failed."""

    pip: list[list[str]] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    optional_failed: dict[str, str] = field(default_factory=dict)

    def notices(self) -> list[str]:
        """What the user must be told after the install (nothing here happened silently)."""
        lines = [held.message() for held in self.held]
        return lines + [f"Optional {name} was not installed: {why}" for name, why in self.optional_failed.items()]


@dataclass(frozen=True)
class InstallPlan:
    """What an install would change, known before anything is installed, so the question asked names all of it."""

    problems: list[Problem]
    held: list[Held]
    torch_specifier: str
    torch_installed: str | None
    numpy_change: str | None = None

    @property
    def torch_change(self) -> str | None:
        """``None`` when torch fits, else what the PyTorch extension will do."""
        if self.torch_installed is None:
            return f"install torch{self.torch_specifier}"
        if not SpecifierSet(self.torch_specifier).contains(Version(self.torch_installed), prereleases=True):
            return f"replace torch {self.torch_installed} with torch{self.torch_specifier}"
        return None

    def question(self) -> str:
        """The confirmation asked before installing: every package, and every change to a protected one."""
        lines = ["PancreasMultiTask needs these Python packages:"]
        lines += [f"- {p.message()}" for p in self.problems]
        changes = [c for c in (self.torch_change, self.numpy_change) if c]
        if changes:
            lines += ["", "These packages that Slicer and other extensions share will change:"]
            lines += [f"- {change}" for change in changes]
        if self.held:
            lines += ["", "Not installed by this module (they belong to Slicer):"]
            lines += [f"- {held.message()}" for held in self.held]
        lines += [
            "",
            f"About {APPROXIMATE_DOWNLOAD_MB} MB will be downloaded and installed into Slicer's Python (PyTorch "
            "itself, from the PyTorch extension, is 0.2 to 2.5 GB). Install now?",
        ]
        return "\n".join(lines)


def read_requirements(path: str | Path) -> list[Requirement]:
    """The requirements of a ``requirements.txt`` that apply here (markers evaluated); comments skipped."""
    requirements = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise ValueError(f"{path}:{number}: not a requirement ({error})") from error
        if requirement.url:
            raise ValueError(f"{path}:{number}: a direct URL is not installed ({line})")
        if requirement.marker is None or requirement.marker.evaluate():
            requirements.append(requirement)
    return requirements


def installed_version(name: str) -> Version | None:
    """The installed version of a distribution, or ``None``."""
    try:
        return Version(metadata.version(name))
    except (metadata.PackageNotFoundError, InvalidVersion):
        return None


def satisfied(name: str, specifier: str = "", version_of: VersionOf | None = None) -> bool:
    """Whether ``name`` is installed in a version that meets ``specifier`` (any version when empty)."""
    version = (version_of or installed_version)(name)
    return version is not None and SpecifierSet(specifier).contains(version, prereleases=True)


def is_optional(name: str) -> bool:
    return canonicalize_name(name) in {canonicalize_name(n) for n in OPTIONAL}


def is_protected(name: str) -> bool:
    return canonicalize_name(name) in {canonicalize_name(n) for n in PROTECTED}


def problems(
    requirements: list[Requirement],
    *,
    include_optional: bool = False,
    version_of: VersionOf | None = None,
) -> list[Problem]:
    """Requirements not met here: missing, or installed in a version outside the requirement."""
    version_of = version_of or installed_version
    found = []
    for requirement in requirements:
        if is_optional(requirement.name) and not include_optional:
            continue
        version = version_of(requirement.name)
        if version is None or (requirement.specifier and not requirement.specifier.contains(version, prereleases=True)):
            found.append(
                Problem(requirement.name, str(requirement.specifier) or "any version", str(version or "") or None)
            )
    return found


def torch_requirement(package: str = "nnunetv2") -> str:
    """The torch version specifier that ``package`` declares (``""`` when it names none or is not installed)."""
    try:
        requires = metadata.requires(package) or []
    except metadata.PackageNotFoundError:
        return ""
    for line in requires:
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) == "torch" and (
            requirement.marker is None or requirement.marker.evaluate({"extra": ""})
        ):
            return str(requirement.specifier)
    return ""


def torch_specifier(host: Host | None = None, nnunetv2_torch: str | None = None) -> str:
    """The torch this module asks the PyTorch extension for: nnunetv2's requirement (read from its metadata, or
    the fallback before it is installed), capped at the last build for an Intel Mac or Rosetta."""
    host = host or Host()
    spec = nnunetv2_torch if nnunetv2_torch is not None else (torch_requirement("nnunetv2") or NNUNETV2_TORCH_FALLBACK)
    if host.macos_x86:
        spec = ",".join(s for s in (spec, MACOS_X86_TORCH) if s)
    return spec


def torch_problem(host: Host | None = None, version_of: VersionOf | None = None) -> Problem | None:
    """torch missing, or outside nnunetv2's requirement (checked by version, not only by import)."""
    spec = torch_specifier(host)
    version = (version_of or installed_version)("torch")
    if version is not None and SpecifierSet(spec).contains(version, prereleases=True):
        return None
    return Problem("torch", f"{spec} (from the PyTorch extension)", str(version) if version else None)


def pip_arguments(requirement: Requirement) -> list[str]:
    """``pip install`` arguments for one requirement alone: name, extras and specifier, never its dependencies."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return [f"{requirement.name}{extras}{requirement.specifier}", "--no-deps"]


def held_requirement(requirement: Requirement, needed_by: str, version_of: VersionOf | None = None) -> Held | None:
    """A protected requirement this environment does not meet, or ``None`` when it is met."""
    version = (version_of or installed_version)(requirement.name)
    if version is not None and requirement.specifier.contains(version, prereleases=True):
        return None
    return Held(f"{requirement.name}{requirement.specifier}", needed_by, str(version) if version else None)


def install_selective(
    requirement: str | Requirement,
    pip_install: PipInstall,
    *,
    needed_by: str = "requirements.txt",
    report: InstallReport | None = None,
    needs_install: Callable[[Requirement], bool] | None = None,
    requires: Callable[[str], list[str] | None] = metadata.requires,
    version_of: VersionOf | None = None,
    _seen: set[str] | None = None,
) -> InstallReport:
    """Install ``requirement`` with ``--no-deps``, then those of its dependencies that are not met, the same way.

    Every requirement, this one and each dependency, passes the same guard: a protected package is never
    installed, and a protected requirement not met here is added to ``report.held`` for the user.
    """
    requirement = Requirement(str(requirement))
    report = report if report is not None else InstallReport()
    seen = _seen if _seen is not None else set()
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
        return report
    if is_protected(requirement.name):
        held = held_requirement(requirement, needed_by, version_of)
        if held is not None and held not in report.held:
            report.held.append(held)
        return report
    name = canonicalize_name(requirement.name)
    if name in seen:
        return report
    seen.add(name)
    if (needs_install or _needs_install)(requirement):
        arguments = pip_arguments(requirement)
        pip_install(arguments)
        report.pip.append(arguments)
    try:
        dependencies = requires(requirement.name) or []
    except metadata.PackageNotFoundError:
        dependencies = []
    for line in dependencies:
        install_selective(
            line, pip_install, needed_by=requirement.name, report=report, needs_install=needs_install,
            requires=requires, version_of=version_of, _seen=seen,
        )  # fmt: skip
    return report


def _needs_install(requirement: Requirement) -> bool:
    version = installed_version(requirement.name)
    return version is None or not requirement.specifier.contains(version, prereleases=True)


def plan_install(
    requirements_path: str | Path,
    host: Host | None = None,
    version_of: VersionOf | None = None,
) -> InstallPlan:
    """What an install of ``requirements_path`` would change here, before anything is installed."""
    host = host or Host()
    version_of = version_of or installed_version
    requirements = read_requirements(requirements_path)
    held = [
        h
        for r in requirements
        if is_protected(r.name) and (h := held_requirement(r, "requirements.txt", version_of)) is not None
    ]
    torch = version_of("torch")
    numpy = version_of("numpy")
    numpy_change = None
    if host.macos_x86 and numpy is not None and numpy >= Version("2"):
        numpy_change = (
            f"replace numpy {numpy} with {MACOS_X86_NUMPY} (PyTorch 2.2, the last build for this Mac, needs it)"
        )
    return InstallPlan(
        problems=problems([r for r in requirements if not is_protected(r.name)], version_of=version_of),
        held=held,
        torch_specifier=torch_specifier(host),
        torch_installed=str(torch) if torch is not None else None,
        numpy_change=numpy_change,
    )


def install_requirements(
    requirements_path: str | Path,
    pip_install: PipInstall,
    install_torch: Callable[[str], None],
    *,
    plan: InstallPlan | None = None,
    host: Host | None = None,
) -> InstallReport:
    """Install what ``requirements_path`` needs: the macOS workarounds first, every line through the guard
    (optional ones may fail without stopping anything), then torch through ``install_torch`` with nnunetv2's
    requirement when torch does not meet it. ``plan`` is what the user agreed to (its numpy change is made)."""
    host = host or Host()
    report = InstallReport()
    plan = plan or plan_install(requirements_path, host)
    if host.macos and installed_version("imagecodecs") is None:
        _install_optional(Requirement(MACOS_IMAGECODECS), pip_install, report)
    if plan.numpy_change:
        pip_install([MACOS_X86_NUMPY])
        report.pip.append([MACOS_X86_NUMPY])
    for requirement in read_requirements(requirements_path):
        if is_optional(requirement.name):
            _install_optional(requirement, pip_install, report)
        else:
            install_selective(requirement, pip_install, report=report)
    specifier = torch_specifier(host)
    if not satisfied("torch", specifier):
        install_torch(specifier)
    return report


def _install_optional(requirement: Requirement, pip_install: PipInstall, report: InstallReport) -> None:
    """An optional package: its failure is reported, never raised."""
    try:
        install_selective(requirement, pip_install, report=report)
    except Exception as error:
        logging.warning("Optional %s was not installed: %s", requirement.name, error)
        report.optional_failed[requirement.name] = str(error) or type(error).__name__
