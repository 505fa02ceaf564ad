"""The Slicer Extensions Index's own checks of a new extension (``scripts/check_description_files.py`` of its 5.10
branch, vendored in ``Testing/extensions_index``), run on ``PancreasMultiTask.json`` and this repository: every
check that needs no network. The catalog entry agrees with the CMake metadata."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
INDEX = REPO / "Testing" / "extensions_index"
ENTRY = REPO / "PancreasMultiTask.json"
RAW = "https://raw.githubusercontent.com/PancreasMultiTask/SlicerPancreasMultiTask/main/"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def index_checks() -> types.ModuleType:
    """The Index's script, loaded from its own text (without ``print_categories``, whose f-string needs 3.12)."""
    text = (INDEX / "check_description_files.py").read_text(encoding="utf-8")
    if sys.version_info < (3, 12):
        start = text.index("def print_categories(")
        text = text[:start] + text[text.index("\ndef main(", start) + 1 :]
    module = types.ModuleType("check_description_files")
    exec(compile(text, str(INDEX / "check_description_files.py"), "exec"), module.__dict__)
    return module


def offline_image_check(module: types.ModuleType):
    """The Index downloads each image URL; here the URL must name a PNG file of this repository."""

    def validate_image_url(url: str, url_type: str, extension_name: str, check_name: str) -> None:
        path = REPO / url[len(RAW) :] if url.startswith(RAW) else None
        if path is None or not path.is_file() or not path.read_bytes().startswith(PNG):
            raise module.ExtensionCheckError(extension_name, check_name, f"{url_type} '{url}' names no PNG here")

    return validate_image_url


def schema_errors(instance: Any, schema: dict, where: str = "") -> list[str]:
    """Errors of ``instance`` against the keywords the catalog-entry schema uses (draft-07 subset)."""
    kinds = {"object": dict, "string": str, "array": list, "boolean": bool, "integer": int}
    errors = []
    kind = schema.get("type")
    if kind and (not isinstance(instance, kinds[kind]) or (kind == "integer" and isinstance(instance, bool))):
        return [f"{where or '/'}: not {kind}"]
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{where}: {instance!r} not in {schema['enum']}")
    low, high = schema.get("minimum"), schema.get("maximum")
    if (low is not None and instance < low) or (high is not None and instance > high):
        errors.append(f"{where}: {instance} out of range")
    if kind == "object":
        errors += [f"{where}/{key}: required" for key in schema.get("required", []) if key not in instance]
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            errors += [f"{where}/{key}: not allowed" for key in instance if key not in properties]
        for key, value in instance.items():
            if key in properties:
                errors += schema_errors(value, properties[key], f"{where}/{key}")
    if kind == "array" and "items" in schema:
        for number, item in enumerate(instance):
            errors += schema_errors(item, schema["items"], f"{where}[{number}]")
    return errors


def cmake_value(name: str) -> str:
    found = re.search(rf'^set\({name} "([^"]*)"\)', (REPO / "CMakeLists.txt").read_text(), re.M)
    assert found, name
    return found.group(1)


def test_the_catalog_entry_passes_the_indexs_offline_checks(
    index_checks: types.ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(index_checks, "validate_image_url", offline_image_check(index_checks))
    name = ENTRY.stem
    metadata = index_checks.parse_json(str(ENTRY))
    checks = [
        ("Check JSON file format", index_checks.check_json_file_format, {"extension_file_path": str(ENTRY)}),
        ("Check extension name", index_checks.check_extension_name, {}),
        ("Check category", index_checks.check_category, {}),
        ("Check git repository name", index_checks.check_git_repository_name, {}),
        ("Check SCM URL syntax", index_checks.check_scm_url_syntax, {}),
        ("Check CMakeLists.txt content", index_checks.check_cmakelists_content, {"cloned_repository_folder": REPO}),
        ("Check license file", index_checks.check_license_file, {"cloned_repository_folder": str(REPO)}),
    ]
    failed = []
    for title, check, kwargs in checks:
        try:
            check(name, metadata, **kwargs)
        except index_checks.ExtensionCheckError as error:
            failed.append(f"{title}: {error}")
    assert failed == []
    assert "Extension icon URL" in capsys.readouterr().out  # the CMakeLists check did look at the images


def test_the_catalog_entry_follows_the_schema_it_names() -> None:
    entry = json.loads(ENTRY.read_text())
    schema = json.loads((INDEX / "slicer-extension-catalog-entry-schema-v1.0.1.json").read_text())
    assert entry["$schema"].split("/")[-1].rstrip("#") == "slicer-extension-catalog-entry-schema-v1.0.1.json"
    assert schema_errors(entry, schema) == []
    wrong = sorted(schema_errors({**entry, "tier": 9, "extra": 1}, schema))
    assert wrong == ["/extra: not allowed", "/tier: 9 out of range"]
    assert ENTRY.read_bytes().endswith(b"}\n") and b"\r" not in ENTRY.read_bytes()


def test_the_catalog_entry_agrees_with_the_cmake_metadata() -> None:
    entry = json.loads(ENTRY.read_text())
    assert entry["category"] == cmake_value("EXTENSION_CATEGORY")
    assert entry["build_dependencies"] == cmake_value("EXTENSION_DEPENDS").split()
    repository = entry["scm_url"].removesuffix(".git")
    assert cmake_value("EXTENSION_HOMEPAGE").startswith(repository)
    assert RAW.startswith(repository.replace("github.com", "raw.githubusercontent.com"))
    assert re.fullmatch(r"[^,()]+ \([^()]+\)(, [^,()]+ \([^()]+\))*", cmake_value("EXTENSION_CONTRIBUTORS"))
    assert (REPO / "LICENSE").read_text().startswith(" " * 33 + "Apache License\n")
