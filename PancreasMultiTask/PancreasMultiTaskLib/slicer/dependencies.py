"""What the prediction needs in Slicer's Python, checked by version, and how to install it without replacing
what Slicer ships (torch, SimpleITK, numpy, vtk): each package with ``--no-deps``, its dependencies walked
from its metadata (as SlicerNNUnet does), torch's requirement handed to the PyTorch extension.

No Qt and no ``slicer``: the caller passes its ``pip_install``.
"""

from __future__ import annotations

import importlib.metadata as metadata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

# Never installed or replaced by this module: Slicer ships them (torch comes from the PyTorch extension, which
# installs torchvision with it; requests would need a restart).
PROTECTED = ("torch", "torchvision", "torchaudio", "SimpleITK", "numpy", "vtk", "requests")
# Speed-ups: installed when possible, never required to run.
OPTIONAL = ("openvino", "onnxruntime", "onnx")
# A rough size of everything requirements.txt pulls in besides torch, for the confirmation dialog.
APPROXIMATE_DOWNLOAD_MB = 350


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
        if requirement.marker is None or requirement.marker.evaluate():
            requirements.append(requirement)
    return requirements


def installed_version(name: str) -> Version | None:
    """The installed version of a distribution, or ``None``."""
    try:
        return Version(metadata.version(name))
    except (metadata.PackageNotFoundError, InvalidVersion):
        return None


def satisfied(name: str, specifier: str = "") -> bool:
    """Whether ``name`` is installed in a version that meets ``specifier`` (any version when empty)."""
    version = installed_version(name)
    return version is not None and SpecifierSet(specifier).contains(version, prereleases=True)


def is_optional(name: str) -> bool:
    return canonicalize_name(name) in {canonicalize_name(n) for n in OPTIONAL}


def is_protected(name: str) -> bool:
    return canonicalize_name(name) in {canonicalize_name(n) for n in PROTECTED}


def problems(
    requirements: list[Requirement],
    *,
    include_optional: bool = False,
    version_of: Callable[[str], Version | None] = installed_version,
) -> list[Problem]:
    """Requirements not met here: missing, or installed in a version outside the requirement."""
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


def install_selective(
    requirement: str | Requirement,
    pip_install: Callable[[str], None],
    *,
    needs_install: Callable[[Requirement], bool] | None = None,
    requires: Callable[[str], list[str] | None] = metadata.requires,
    _seen: set[str] | None = None,
) -> list[str]:
    """Install ``requirement`` with ``--no-deps``, then those of its dependencies that are not met, the same way.

    Protected packages (torch, SimpleITK, numpy, vtk, ...) are never installed; their requirements are returned.
    """
    requirement = Requirement(str(requirement))
    needs_install = needs_install or _needs_install
    seen = _seen if _seen is not None else set()
    skipped: list[str] = []
    name = canonicalize_name(requirement.name)
    if name in seen:
        return skipped
    seen.add(name)
    if needs_install(requirement):
        pip_install(f"{requirement.name}{requirement.specifier} --no-deps")
    try:
        dependencies = requires(requirement.name) or []
    except metadata.PackageNotFoundError:
        dependencies = []
    for line in dependencies:
        dependency = Requirement(line)
        if dependency.marker is not None and not dependency.marker.evaluate({"extra": ""}):
            continue
        if is_protected(dependency.name):
            skipped.append(str(dependency))
            continue
        skipped += install_selective(
            dependency, pip_install, needs_install=needs_install, requires=requires, _seen=seen
        )
    return skipped


def _needs_install(requirement: Requirement) -> bool:
    version = installed_version(requirement.name)
    return version is None or not requirement.specifier.contains(version, prereleases=True)


def install_requirements(
    requirements_path: str | Path,
    pip_install: Callable[[str], None],
    install_torch: Callable[[str], None],
) -> None:
    """Install every requirement of ``requirements_path`` selectively (optional ones may fail without stopping
    anything), then torch through ``install_torch`` with nnunetv2's torch specifier when torch does not meet it."""
    import logging

    for requirement in read_requirements(requirements_path):
        try:
            install_selective(requirement, pip_install)
        except Exception as error:
            if not is_optional(requirement.name):
                raise
            logging.warning("Optional %s was not installed: %s", requirement.name, error)
    specifier = torch_requirement("nnunetv2")
    if not satisfied("torch", specifier):
        install_torch(specifier)
