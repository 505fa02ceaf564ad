"""Model zips and the model store from strangers: normalized names, size limits, broken manifests,
the SHA-256 rule, broken models listed, the exporter's name rule, and a concurrent demo install."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PancreasMultiTaskLib.engine import model_zip
from PancreasMultiTaskLib.engine.demo import demo_zip
from PancreasMultiTaskLib.engine.model_zip import MANIFEST_FORMAT, import_model_zip, sha256_file, verify_zip
from PancreasMultiTaskLib.engine.models import list_models
from PancreasMultiTaskLib.engine.store_layout import MANIFEST, ModelInstallError
from test_models import NAME, _members, write_zip


def _manifest(members: dict[str, bytes]) -> dict:
    files = {m: hashlib.sha256(d).hexdigest() for m, d in members.items()}
    return {"format": MANIFEST_FORMAT, "version": 1, "name": NAME, "files": files}


def _raw_zip(path: Path, entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> Path:
    """A zip with exactly these members, in order (duplicates and odd names included), and its .sha256."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    path.with_name(path.name + ".sha256").write_text(f"{sha256_file(path)}  {path.name}\n")
    return path


def test_dot_segment_cannot_overwrite_the_verified_plans(tmp_path):
    members = _members()
    manifest = _manifest(members)
    entries = [(MANIFEST, json.dumps(manifest).encode()), *members.items()]
    entries.append((f"{NAME}/./plans.json", b'{"evil": true}'))
    with pytest.raises(ModelInstallError, match=r"duplicate member names .*plans\.json"):
        import_model_zip(_raw_zip(tmp_path / "dot.zip", entries), tmp_path / "models")
    assert not (tmp_path / "models" / NAME).exists()
    entries[-1] = (f"{NAME}/Plans.json", b"{}")  # one file on Windows and macOS
    with pytest.raises(ModelInstallError, match="duplicate member names"):
        verify_zip(_raw_zip(tmp_path / "case.zip", entries))


def test_member_that_is_both_a_file_and_a_folder_is_refused(tmp_path):
    members = {**_members(), f"{NAME}/fold_1": b"a file", f"{NAME}/fold_1/checkpoint_final.pth": b"w"}
    with pytest.raises(ModelInstallError, match=r"member 'TinyModel/fold_1' is both a file and a folder"):
        import_model_zip(write_zip(tmp_path / "ff.zip", members), tmp_path / "models")


def test_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    members = {**_members(), f"{NAME}/fold_0/huge.bin": bytes(64 << 20)}
    path = tmp_path / "bomb.zip"
    files = {m: hashlib.sha256(d).hexdigest() for m, d in members.items()}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps({**_manifest({}), "files": files}))
        for member, data in members.items():
            archive.writestr(member, data)
    path.with_name("bomb.zip.sha256").write_text(sha256_file(path))
    assert path.stat().st_size < 1 << 20  # 64 MiB in well under 1 MiB
    with pytest.raises(ModelInstallError, match=r"more than 20 times its own size"):
        import_model_zip(path, tmp_path / "models")
    assert not any((tmp_path / "models").rglob("*")) if (tmp_path / "models").exists() else True


def test_total_unpacked_size_is_limited(tmp_path, monkeypatch):
    zip_path = write_zip(tmp_path / "m.zip", _members())
    monkeypatch.setattr(model_zip, "MAX_UNPACKED_BYTES", 16)
    with pytest.raises(ModelInstallError, match=r"would unpack to .* GiB"):
        import_model_zip(zip_path, tmp_path / "models")
    monkeypatch.undo()
    assert import_model_zip(zip_path, tmp_path / "models").is_dir()  # the same zip within the limit


@pytest.mark.parametrize(
    ("manifest_bytes", "match"),
    [
        (b"{not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe{\x00}\x00", "not valid UTF-8 JSON"),
        (b"[1, 2]", "field 'format'"),
        (b"[" * 100000 + b"]" * 100000, "not valid UTF-8 JSON|field 'format'"),
        (json.dumps({"format": MANIFEST_FORMAT, "name": NAME, "files": {"a": 1}}).encode(), "field 'files'"),
        (json.dumps({"format": MANIFEST_FORMAT, "name": ["x"], "files": {}}).encode(), "field 'name'"),
    ],
)
def test_invalid_manifest_is_a_clear_error(tmp_path, manifest_bytes, match):
    entries = [(MANIFEST, manifest_bytes), *_members().items()]
    with pytest.raises(ModelInstallError, match=match) as caught:
        import_model_zip(_raw_zip(tmp_path / "bad.zip", entries), tmp_path / "models")
    assert "bad.zip" in str(caught.value)


def test_a_zip_without_a_sha256_needs_the_callers_explicit_trust(tmp_path):
    zip_path = write_zip(tmp_path / "m.zip", _members(), sidecar=False)
    with pytest.raises(ModelInstallError, match=r"no SHA-256 to check it against: .*--sha256.*m\.zip\.sha256"):
        import_model_zip(zip_path, tmp_path / "models")
    assert not (tmp_path / "models" / NAME).exists()
    # The publisher's checksum given by the caller, a sidecar, or an explicit "I trust it" each install.
    assert import_model_zip(zip_path, tmp_path / "a", expected_sha256=sha256_file(zip_path)).is_dir()
    assert import_model_zip(zip_path, tmp_path / "b", allow_unhashed=True).is_dir()
    (tmp_path / "m.zip.sha256").write_text(sha256_file(zip_path) + "  m.zip\n")
    assert import_model_zip(zip_path, tmp_path / "c").is_dir()
    with pytest.raises(ModelInstallError, match="does not match"):  # trust never skips a hash that is given
        import_model_zip(zip_path, tmp_path / "d", expected_sha256="0" * 64, allow_unhashed=True)


def test_a_broken_model_is_listed_with_its_reason_and_hides_nothing(tmp_path):
    store = tmp_path / "models"
    import_model_zip(write_zip(tmp_path / "m.zip", _members()), store)
    (store / "AaBroken").mkdir()
    (store / "AaBroken" / "plans.json").write_text("{}")
    (store / "AaBroken" / "dataset.json").write_bytes(b"\xff not json")
    (store / "AaBroken" / "fold_0").mkdir()
    (store / "AaBroken" / "fold_0" / "checkpoint_final.pth").write_bytes(b"w")
    (store / "Half").mkdir()
    (store / "Half" / "dataset.json").write_text("{}")
    listed = {m.name: m for m in list_models(store)}
    assert set(listed) == {"AaBroken", "Half", NAME}
    assert not listed[NAME].broken and listed[NAME].folds == ["0"]
    assert listed["AaBroken"].broken and "dataset.json" in listed["AaBroken"].problem
    assert listed["Half"].broken and "no plans.json" in listed["Half"].problem
    (store / "registered.json").write_text("{broken")
    listed = {m.name: m for m in list_models(store)}
    assert not listed[NAME].broken and "not valid JSON" in listed["registered.json"].problem


@pytest.mark.parametrize("name", ["../evil", "has space", ".", "a/b", "-dash"])
def test_exporter_refuses_a_name_the_importer_would_refuse(tmp_path, name):
    from pancreas_mt_training.export import export_model
    from test_training_export import _model_folder

    with pytest.raises(ModelInstallError, match="model name"):
        export_model(_model_folder(tmp_path), tmp_path / "out.zip", name=name)
    assert not (tmp_path / "out.zip").exists()


def test_exported_name_imports(tmp_path):
    from pancreas_mt_training.export import export_model
    from test_training_export import _model_folder

    archive = export_model(_model_folder(tmp_path), tmp_path / "My.Model-1_x.zip")
    assert import_model_zip(archive, tmp_path / "models").name == "My.Model-1_x"


def test_concurrent_first_use_of_the_demo_installs_once_and_all_succeed(tmp_path):
    home = tmp_path / "home"
    script = "from PancreasMultiTaskLib.engine.demo import demo_model_folder; print(demo_model_folder())"
    env = {**os.environ, "PANCREAS_MT_HOME": str(home), "OMP_NUM_THREADS": "1"}
    processes = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(8)
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in processes]
    assert all(code == 0 for code, _, _ in results), [err.decode()[-500:] for _, _, err in results]
    paths = {out.decode().strip() for _, out, _ in results}
    with zipfile.ZipFile(demo_zip()) as archive:
        name = json.loads(archive.read(MANIFEST))["name"]
    assert paths == {str(home / "models" / name)}
    assert (home / "models" / name / "plans.json").is_file()
    assert sorted(p.name for p in (home / "models").iterdir() if not p.name.endswith(".lock")) == [name]
