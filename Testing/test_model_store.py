"""Where the model store lives (a folder of its own in the user's home, never Slicer's cache, which "Clear cache"
deletes), shared by the GUI, the CLI and batch mode, and how the models of earlier locations move into it."""

from __future__ import annotations

import errno
import json
import logging
import shutil
from pathlib import Path

import pytest
from PancreasMultiTaskLib.cli.main import main as cli_main
from PancreasMultiTaskLib.engine.model_store import migrate_store, models_home, open_store, store_home
from PancreasMultiTaskLib.engine.models import add_model, list_models
from PancreasMultiTaskLib.engine.store_layout import read_registry
from PancreasMultiTaskLib.slicer.logic import PredictionLogic
from test_slicer_module import model_folder, model_zip


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's home of its own, and no ``$PANCREAS_MT_HOME``: the default store is used."""
    monkeypatch.delenv("PANCREAS_MT_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    (tmp_path / "user").mkdir()
    return tmp_path / "user"


def old_store(root: Path, names: tuple[str, ...] = ("First", "Second")) -> Path:
    """A store as an earlier release left it: models installed from zips and a registered folder."""
    for name in names:
        add_model(model_zip(root.parent / f"zips-{name}", name), root / "models")
    add_model(model_folder(root.parent / "trained", "MyTrained"), root / "models")
    return root


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_default_store_is_a_folder_of_its_own_in_the_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert store_home() == home / ".PancreasMultiTask" and models_home() == home / ".PancreasMultiTask" / "models"
    logic = PredictionLogic(cachePath=str(home / "slicer-cache"))
    assert logic.home == store_home() and not logic.home.is_relative_to(home / "slicer-cache")
    assert logic.childEnvironment()["PANCREAS_MT_HOME"] == str(store_home())  # the CLI it starts shares it
    monkeypatch.setenv("PANCREAS_MT_HOME", str(home / "chosen"))
    assert store_home() == home / "chosen" and PredictionLogic().home == home / "chosen"


def test_models_in_slicers_cache_move_into_the_store_on_first_start(home: Path, caplog) -> None:
    cache = home / "slicer-cache"
    old = old_store(cache / "PancreasMultiTask")
    before = {name: files_of(old / "models" / name) for name in ("First", "Second")}
    with caplog.at_level(logging.INFO):
        logic = PredictionLogic(cachePath=str(cache))
    assert set(logic.installedModels()) == {"First", "Second", "MyTrained"}
    for name, files in before.items():
        assert files_of(logic.modelsDirectory() / name) == files
    assert logic.modelPath("MyTrained") == (cache / "trained" / "MyTrained").resolve()
    assert not (old / "models").exists(), "the old store is emptied once everything moved"
    assert "Model First moved into the model store" in caplog.text
    assert set(PredictionLogic(cachePath=str(cache)).installedModels()) == {"First", "Second", "MyTrained"}


def test_the_clis_old_default_store_moves_too(home: Path, capsys: pytest.CaptureFixture) -> None:
    old_store(home / ".cache" / "pancreas-mt", ("Cli",))
    assert cli_main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert str(home / ".PancreasMultiTask" / "models") in out and "Cli" in out and "MyTrained" in out
    assert {m.name for m in list_models(models_home())} >= {"Cli", "MyTrained"}


def test_a_move_that_fails_half_way_loses_nothing(home: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    """Across file systems each model is copied, then renamed into place, then deleted: a failure in the middle of
    the second model's copy leaves the first moved, the second whole in the old store, and no half copy."""
    old = old_store(home / "slicer-cache" / "PancreasMultiTask")
    second = files_of(old / "models" / "Second")
    real_rename, real_copytree = Path.rename, shutil.copytree

    def rename(self: Path, target: Path) -> Path:
        if self.parent == old / "models":  # the old store is on another file system
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(self, target)

    def copytree(src: Path, dst: Path, *args, **kwargs) -> Path:
        """Copies the second model's first file, then the disk is full."""
        if args:  # copytree's own recursion into subfolders
            return real_copytree(src, dst, *args, **kwargs)
        copied: list[str] = []

        def copy2(source: str, target: str, **kw) -> str:
            if "Second" in str(source) and copied:
                raise OSError(errno.ENOSPC, "No space left on device")
            copied.append(source)
            return shutil.copy2(source, target, **kw)

        return real_copytree(src, dst, **{**kwargs, "copy_function": copy2})

    monkeypatch.setattr(Path, "rename", rename)
    monkeypatch.setattr(shutil, "copytree", copytree)
    with pytest.raises(OSError, match="No space"):
        migrate_store(old, store_home())
    new_models = store_home() / "models"
    assert (new_models / "First").is_dir() and not (old / "models" / "First").exists()
    assert not (new_models / "Second").exists() and files_of(old / "models" / "Second") == second
    assert not [p.name for p in new_models.iterdir() if p.name.startswith(".moving-")]
    assert "MyTrained" not in read_registry(new_models)  # not reached: still registered in the old store
    assert "MyTrained" in read_registry(old / "models")

    with caplog.at_level(logging.WARNING):  # a start that fails the same way still starts, and says so
        logic = PredictionLogic(cachePath=str(home / "slicer-cache"))
    assert "were not moved" in caplog.text and set(logic.installedModels()) == {"First"}

    monkeypatch.setattr(shutil, "copytree", real_copytree)  # the next start finishes the move
    logic = PredictionLogic(cachePath=str(home / "slicer-cache"))
    assert set(logic.installedModels()) == {"First", "Second", "MyTrained"}
    assert files_of(new_models / "Second") == second and not (old / "models").exists()


def test_a_name_the_store_already_has_is_left_where_it_was(home: Path) -> None:
    old = old_store(home / "old", ("Same",))
    other = model_zip(home / "other-zips", "Same", extra={"Same/notes.txt": b"another model of that name"})
    add_model(other, store_home() / "models")
    done = migrate_store(old, store_home())
    assert done.moved == [] and "Same" in done.left and done.registered == ["MyTrained"]
    assert (old / "models" / "Same").is_dir(), "kept: the user can remove or rename either"
    assert json.loads((store_home() / "models" / "registered.json").read_text())["MyTrained"]


def test_the_same_install_in_both_stores_is_not_kept_twice(home: Path) -> None:
    """The bundled demo, installed by the CLI and by Slicer before: one copy stays, the old folder goes."""
    old = old_store(home / "old", ("Demo",))
    add_model(model_zip(home / "again", "Demo"), store_home() / "models")
    done = migrate_store(old, store_home())
    assert done.duplicates == ["Demo"] and done.left == {} and not (old / "models").exists()
    assert {m.name for m in list_models(store_home() / "models")} == {"Demo", "MyTrained"}


def test_nothing_moves_into_a_store_the_user_named(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = old_store(home / ".cache" / "pancreas-mt", ("Kept",))
    monkeypatch.setenv("PANCREAS_MT_HOME", str(home / "chosen"))
    assert open_store() == home / "chosen"
    assert (old / "models" / "Kept").is_dir() and not (home / "chosen" / "models").exists()
