"""``pancreas-mt models list|add|remove``, ``predict -m NAME`` and ``--version``: one store for the CLI and the
Slicer module, a zip verified before it is installed, and never a different model replaced unless asked."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import SimpleITK as sitk
from model_factory import ct_volume
from PancreasMultiTaskLib import __version__
from PancreasMultiTaskLib.cli.main import main
from PancreasMultiTaskLib.engine.demo import demo_model_folder, demo_zip
from PancreasMultiTaskLib.engine.model_store import models_home
from PancreasMultiTaskLib.engine.model_zip import sha256_file
from PancreasMultiTaskLib.engine.models import resolve_model
from PancreasMultiTaskLib.engine.result import CaseResult
from PancreasMultiTaskLib.engine.store_layout import ModelExistsError

DEMO = demo_zip()
DEMO_NAME = "PancreasPhantomsDemo"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own store: ``$PANCREAS_MT_HOME/models``."""
    monkeypatch.setenv("PANCREAS_MT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PANCREAS_MT_MODEL", raising=False)
    return tmp_path / "home" / "models"


def model_folder(root: Path, name: str, weights: bytes = b"weights", subtypes: dict | None = None) -> Path:
    """The files a listed model needs (its weights are not loaded by list, add or remove)."""
    folder = root / name
    (folder / "fold_0").mkdir(parents=True)
    (folder / "fold_1").mkdir()
    dataset = {"labels": {"background": 0, "pancreas": 1, "lesion": 2}, "subtypes": subtypes or {"0": "a", "1": "b"}}
    (folder / "dataset.json").write_text(json.dumps(dataset))
    (folder / "plans.json").write_text("{}")
    for fold in ("fold_0", "fold_1"):
        (folder / fold / "checkpoint_final.pth").write_bytes(weights)
    return folder


def model_zip(root: Path, name: str = "Tiny", weights: bytes = b"weights", sidecar: bool = True) -> Path:
    """A model zip as ``pancreas-mt-train export`` writes it: one folder, a manifest of SHA-256s, a ``.sha256``."""
    folder = model_folder(root / f"src-{hashlib.sha256(weights).hexdigest()[:8]}", name, weights)
    members = {p.relative_to(folder.parent).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    files = {member: hashlib.sha256(data).hexdigest() for member, data in members.items()}
    manifest = {"format": "pancreas-multitask-model", "version": 1, "name": name, "files": files}
    path = root / f"{name}-{hashlib.sha256(weights).hexdigest()[:8]}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for member, data in members.items():
            archive.writestr(member, data)
    if sidecar:
        path.with_name(path.name + ".sha256").write_text(f"{sha256_file(path)}  {path.name}\n")
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys: pytest.CaptureFixture) -> dict[str, str]:
    """``models list`` as {name: its line}; fails if a name is listed twice."""
    code, out, err = run(["models", "list"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Models in ") and lines[1].split()[:5] == [
        "NAME",
        "SOURCE",
        "SHA-256",
        "FOLDS",
        "SUBTYPES",
    ]
    names = [line.split()[0] for line in lines[2:]]
    assert len(names) == len(set(names)), out
    return {line.split()[0]: line for line in lines[2:]}


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"pancreas-mt {__version__}"


def test_list_shows_the_bundled_demo_installed_and_broken_models(store, tmp_path, capsys):
    models = listed(capsys)  # an empty store still lists the bundled demo, not yet unpacked
    assert list(models) == [DEMO_NAME] and not store.joinpath(DEMO_NAME).exists()
    assert models[DEMO_NAME].split()[1:3] == ["bundled", DEMO.with_name(DEMO.name + ".sha256").read_text().split()[0]]

    assert run(["models", "add", str(model_zip(tmp_path / "zips"))], capsys)[0] == 0
    registered = model_folder(tmp_path / "trained", "Trained")
    assert run(["models", "add", str(registered)], capsys)[0] == 0
    half = store / "Half"
    half.mkdir()
    (half / "dataset.json").write_text("{}")
    (store / "BadJson").mkdir()
    (store / "BadJson" / "dataset.json").write_bytes(b"\xff")

    models = listed(capsys)
    assert next(iter(models)) == DEMO_NAME and set(models) == {DEMO_NAME, "Tiny", "Trained", "Half", "BadJson"}
    tiny = models["Tiny"].split()
    assert (
        tiny[1] == "zip"
        and tiny[2].endswith(".zip")
        and tiny[3] == sha256_file(next((tmp_path / "zips").glob("*.zip")))
    )
    assert tiny[4:] == ["0,1", "a,", "b"]
    assert models["Trained"].split()[1:4] == ["folder", str(registered.resolve()), "-"]
    assert "BROKEN:" in models["Half"] and "no plans.json" in models["Half"]
    assert "BROKEN:" in models["BadJson"] and "no plans.json" in models["BadJson"]


def test_add_zip_needs_its_sha256(store, tmp_path, capsys):
    archive = model_zip(tmp_path / "zips", sidecar=False)
    code, out, err = run(["models", "add", str(archive)], capsys)
    assert code == 1 and err.startswith("pancreas-mt: error: ") and "no SHA-256 to check it against" in err
    assert not (store / "Tiny").exists() and len(err.splitlines()) == 1
    code, _, err = run(["models", "add", str(archive), "--sha256", "0" * 64], capsys)
    assert code == 1 and "does not match" in err and not (store / "Tiny").exists()

    digest = sha256_file(archive)
    code, out, err = run(["models", "add", str(archive), "--sha256", digest.upper()], capsys)
    assert code == 0, err
    assert out.startswith(f"installed Tiny -> {store / 'Tiny'} (SHA-256 {digest}")
    assert (store / "Tiny" / "fold_1" / "checkpoint_final.pth").read_bytes() == b"weights"
    assert json.loads((store / "Tiny" / "installed_from.json").read_text())["sha256"] == digest

    with_sidecar = model_zip(tmp_path / "other", name="Other")
    code, out, err = run(["models", "add", str(with_sidecar), "--name", "Renamed"], capsys)
    assert code == 0 and out.startswith("installed Renamed ->") and (store / "Renamed" / "plans.json").is_file()

    with pytest.raises(SystemExit) as exited:  # a usage error, as argparse reports them
        main(["models", "add", str(tmp_path / "trained"), "--sha256", digest])
    assert exited.value.code == 2 and "--sha256 checks a model zip" in capsys.readouterr().err


def test_a_different_model_of_the_same_name_is_replaced_only_when_asked(store, tmp_path, capsys):
    first = model_zip(tmp_path / "zips", weights=b"first")
    second = model_zip(tmp_path / "zips", weights=b"second")
    assert run(["models", "add", str(first)], capsys)[0] == 0
    checkpoint = store / "Tiny" / "fold_0" / "checkpoint_final.pth"

    code, out, err = run(["models", "add", str(first)], capsys)  # the very same model: nothing to do
    assert code == 0 and out.startswith("already installed: Tiny")

    code, _, err = run(["models", "add", str(second)], capsys)
    assert code == 1 and "a different model named Tiny is already installed" in err
    assert str(store / "Tiny") in err and "--replace" in err and len(err.splitlines()) == 1
    assert checkpoint.read_bytes() == b"first"

    # `predict -m ZIP` installed with overwrite before; now it refuses in the same words, before any prediction.
    case = tmp_path / "case_0000.nii.gz"
    sitk.WriteImage(ct_volume()[0], str(case))
    code, _, err = run(["predict", "-i", str(case), "-o", str(tmp_path / "out"), "-m", str(second)], capsys)
    assert code == 1 and "a different model named Tiny" in err and "--replace" in err
    assert checkpoint.read_bytes() == b"first" and not (tmp_path / "out" / "case").exists()

    code, out, err = run(["models", "add", str(second), "--replace"], capsys)
    assert code == 0 and out.startswith("installed Tiny"), err
    assert checkpoint.read_bytes() == b"second"
    assert sorted(p.name for p in store.iterdir() if not p.name.endswith(".lock")) == ["Tiny"]  # nothing left over


def test_add_folder_registers_it_in_place_and_remove_forgets_it(store, tmp_path, capsys):
    folder = model_folder(tmp_path / "trained", "Fold")
    code, out, err = run(["models", "add", str(folder), "--name", "Mine"], capsys)
    assert code == 0 and out.startswith(f"registered Mine -> {folder.resolve()}"), err
    assert not (store / "Mine").exists()  # nothing copied
    assert run(["models", "add", str(folder), "--name", "Mine"], capsys)[1].startswith("already registered: Mine")

    other = model_folder(tmp_path / "elsewhere", "Fold")
    code, _, err = run(["models", "add", str(other), "--name", "Mine"], capsys)
    assert code == 1 and "a model named Mine is already installed" in err and "--replace" in err
    assert run(["models", "add", str(other), "--name", "Mine", "--replace"], capsys)[0] == 0
    assert listed(capsys)["Mine"].split()[2] == str(other.resolve())

    code, out, _ = run(["models", "remove", "Mine"], capsys)
    assert code == 0 and out.strip() == f"forgot Mine (its files stay in {other.resolve()})"
    assert (other / "plans.json").is_file() and "Mine" not in listed(capsys)

    code, _, err = run(["models", "add", str(tmp_path / "no-such-thing")], capsys)
    assert code == 1 and "not a model folder or a .zip file" in err


def test_remove_deletes_an_installed_model_and_names_the_others_when_unknown(store, tmp_path, capsys):
    assert run(["models", "add", str(model_zip(tmp_path / "zips"))], capsys)[0] == 0
    code, _, err = run(["models", "remove", "Nope"], capsys)
    assert code == 1 and "no installed model named 'Nope'" in err and "installed: Tiny" in err
    code, out, _ = run(["models", "remove", "Tiny"], capsys)
    assert code == 0 and out.strip() == f"removed Tiny (deleted {store / 'Tiny'})" and not (store / "Tiny").exists()
    code, _, err = run(["models", "remove", "../home"], capsys)
    assert code == 1 and "no installed model" in err and store.is_dir()


def test_predict_runs_an_installed_model_by_name(store, multitask_model, tmp_path, capsys):
    assert run(["models", "add", str(multitask_model), "--name", "TinyMT"], capsys)[0] == 0
    case = tmp_path / "patient_0000.nii.gz"
    sitk.WriteImage(ct_volume(seed=3)[0], str(case))
    argv = ["predict", "-i", str(case), "-o", str(tmp_path / "out"), "-m", "TinyMT", "--folds", "0"]
    code, _, err = run([*argv, "--device", "cpu", "--no-tta", "--progress", "none"], capsys)
    assert code == 0, err
    result = CaseResult.read_json(tmp_path / "out" / "patient" / "result.json")
    assert Path(result.provenance.model_path).resolve() == multitask_model.resolve()

    code, _, err = run(["predict", "-i", str(case), "-o", str(tmp_path / "x"), "-m", "NoSuchModel"], capsys)
    assert code == 1 and "No installed model named 'NoSuchModel'" in err
    assert "installed: PancreasPhantomsDemo, TinyMT" in err and len(err.splitlines()) == 1


def test_resolution_order_folder_then_zip_then_installed_name(store, tmp_path, monkeypatch):
    # The bundled demo by its name: installed on first use, the same folder `-m` of the demo zip gives.
    assert resolve_model(DEMO_NAME) == store / DEMO_NAME == resolve_model(str(DEMO))
    assert (store / DEMO_NAME / "plans.json").is_file()
    # A folder of that name in the working directory comes first; a zip path second.
    monkeypatch.chdir(tmp_path)
    local = model_folder(tmp_path, DEMO_NAME)
    assert resolve_model(DEMO_NAME) == Path(DEMO_NAME) and Path(DEMO_NAME).resolve() == local.resolve()
    archive = model_zip(tmp_path / "zips")
    assert resolve_model(str(archive)) == store / "Tiny"
    assert resolve_model("Tiny") == store / "Tiny"  # once installed, by name
    monkeypatch.setenv("PANCREAS_MT_MODEL", "Tiny")  # the environment's model is resolved the same way
    assert resolve_model(None) == store / "Tiny"


def test_the_bundled_demo_never_replaces_another_model_of_its_name(store, tmp_path, capsys):
    mine = model_zip(tmp_path / "zips", name=DEMO_NAME, weights=b"mine")
    assert run(["models", "add", str(mine)], capsys)[0] == 0
    with pytest.raises(ModelExistsError, match="a different model named PancreasPhantomsDemo"):
        demo_model_folder(store)
    assert (store / DEMO_NAME / "fold_0" / "checkpoint_final.pth").read_bytes() == b"mine"
    code, out, _ = run(["models", "list"], capsys)
    assert code == 0
    demo_line, mine_line = (line for line in out.splitlines() if line.startswith(DEMO_NAME))
    assert "bundled" in demo_line and "BROKEN: a different model named" in demo_line
    assert mine_line.split()[1] == "zip"


def test_the_slicer_logic_uses_the_same_store(store, tmp_path, capsys):
    from PancreasMultiTaskLib.slicer.logic import PredictionLogic

    assert models_home() == store
    logic = PredictionLogic(cachePath=str(tmp_path / "slicer-cache"))  # $PANCREAS_MT_HOME wins over the cache
    assert logic.modelsDirectory() == store
    assert run(["models", "add", str(model_zip(tmp_path / "zips"))], capsys)[0] == 0
    assert logic.installedModels() == {"Tiny": store / "Tiny"} and logic.modelPath("Tiny") == store / "Tiny"
    assert logic.modelPath(DEMO_NAME) == store / DEMO_NAME  # the demo by its name, as `-m` takes it
    logic.removeModel("Tiny")
    assert "Tiny" not in listed(capsys)
