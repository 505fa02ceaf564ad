"""Installed models: verified zip import, refusal of hostile zips, register, list, remove."""

from __future__ import annotations

import hashlib
import json
import stat
import zipfile
from pathlib import Path

import pytest
from PancreasMultiTaskLib.engine.model_zip import MANIFEST_FORMAT, import_model_zip, sha256_file, verify_zip
from PancreasMultiTaskLib.engine.models import list_models, register_model_folder, remove_model
from PancreasMultiTaskLib.engine.store_layout import MANIFEST, ModelInstallError

NAME = "TinyModel"


def _members(name: str = NAME) -> dict[str, bytes]:
    return {
        f"{name}/dataset.json": json.dumps({"subtypes": {"0": "a", "1": "b"}}).encode(),
        f"{name}/plans.json": b"{}",
        f"{name}/fold_0/checkpoint_final.pth": b"weights",
    }


def write_zip(
    path: Path, members: dict[str, bytes], manifest: dict | None = None, links: tuple = (), sidecar: bool = True
) -> Path:
    """A model zip, with its ``.sha256`` beside it (as the exporter writes) unless ``sidecar`` is off."""
    files = {m: hashlib.sha256(d).hexdigest() for m, d in members.items()}
    manifest = manifest or {"format": MANIFEST_FORMAT, "version": 1, "name": NAME, "files": files}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(MANIFEST, json.dumps(manifest))
        for member, data in members.items():
            archive.writestr(member, data)
        for member in links:
            info = zipfile.ZipInfo(member)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    if sidecar:
        path.with_name(path.name + ".sha256").write_text(f"{sha256_file(path)}  {path.name}\n")
    return path


def test_import_list_remove(tmp_path):
    zip_path = write_zip(tmp_path / "m.zip", _members())
    installed = import_model_zip(zip_path, tmp_path / "models")
    assert installed == tmp_path / "models" / NAME
    assert (installed / "fold_0" / "checkpoint_final.pth").read_bytes() == b"weights"
    assert [p.name for p in (tmp_path / "models").iterdir()] == [NAME]  # no staging folder left
    [model] = list_models(tmp_path / "models")
    assert (model.name, model.folds, model.subtypes, model.registered) == (NAME, ["0"], ["a", "b"], False)
    with pytest.raises(ModelInstallError, match="already installed"):
        import_model_zip(zip_path, tmp_path / "models")
    remove_model(tmp_path / "models", NAME)
    assert list_models(tmp_path / "models") == []


def test_register_external_folder(tmp_path):
    import_model_zip(write_zip(tmp_path / "m.zip", _members()), tmp_path / "elsewhere")
    model = register_model_folder(tmp_path / "elsewhere" / NAME, tmp_path / "models", "Mine")
    assert model.registered and [m.name for m in list_models(tmp_path / "models")] == ["Mine"]
    remove_model(tmp_path / "models", "Mine")
    assert (tmp_path / "elsewhere" / NAME / "plans.json").is_file()  # forgetting leaves the files
    with pytest.raises(ModelInstallError, match=r"no dataset\.json"):
        register_model_folder(tmp_path, tmp_path / "models")


def test_wrong_zip_checksum_is_refused(tmp_path):
    zip_path = write_zip(tmp_path / "m.zip", _members())
    with pytest.raises(ModelInstallError, match="does not match the expected"):
        import_model_zip(zip_path, tmp_path / "models", expected_sha256="0" * 64)
    (tmp_path / "m.zip.sha256").write_text("1" * 64 + "  m.zip\n")
    with pytest.raises(ModelInstallError, match="does not match"):
        verify_zip(zip_path)


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (f"{NAME}/../../evil.txt", "outside the target folder"),
        ("../evil.txt", "outside the target folder"),
        ("/tmp/evil.txt", "absolute"),
        ("C:/evil.txt", "absolute"),
    ],
)
def test_hostile_member_paths_are_refused(tmp_path, member, reason):
    members = {**_members(), member: b"pwned"}
    zip_path = write_zip(tmp_path / "evil.zip", members)
    with pytest.raises(ModelInstallError, match=reason):
        import_model_zip(zip_path, tmp_path / "models")
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()
    assert not (tmp_path / "models" / NAME).exists()


def test_symlink_member_is_refused(tmp_path):
    zip_path = write_zip(tmp_path / "link.zip", _members(), links=(f"{NAME}/fold_0/link",))
    with pytest.raises(ModelInstallError, match="symbolic link"):
        import_model_zip(zip_path, tmp_path / "models")


def test_tampered_member_and_unlisted_member_are_refused(tmp_path):
    members = _members()
    files = {m: hashlib.sha256(d).hexdigest() for m, d in members.items()}
    members[f"{NAME}/plans.json"] = b'{"evil": true}'
    manifest = {"format": MANIFEST_FORMAT, "version": 1, "name": NAME, "files": files}
    with pytest.raises(ModelInstallError, match="fails its SHA-256 check"):
        verify_zip(write_zip(tmp_path / "t.zip", members, manifest))  # before anything is unpacked
    with pytest.raises(ModelInstallError, match="fails its SHA-256 check"):
        import_model_zip(tmp_path / "t.zip", tmp_path / "models")
    assert not (tmp_path / "models" / NAME).exists()
    extra = {**_members(), f"{NAME}/extra.py": b"print(1)"}
    manifest = {"format": MANIFEST_FORMAT, "version": 1, "name": NAME, "files": files}
    with pytest.raises(ModelInstallError, match="not in manifest"):
        import_model_zip(write_zip(tmp_path / "u.zip", extra, manifest), tmp_path / "models")


def test_manifest_name_must_be_a_plain_folder(tmp_path):
    members = _members("..")
    files = {m: hashlib.sha256(d).hexdigest() for m, d in members.items()}
    manifest = {"format": MANIFEST_FORMAT, "version": 1, "name": "..", "files": files}
    with pytest.raises(ModelInstallError, match=r"outside the target folder|plain folder name"):
        import_model_zip(write_zip(tmp_path / "n.zip", members, manifest), tmp_path / "models")
    (tmp_path / "plain.zip").write_bytes(b"not a zip")
    with pytest.raises(ModelInstallError, match="not a readable zip"):
        verify_zip(tmp_path / "plain.zip", allow_unhashed=True)
