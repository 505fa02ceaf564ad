"""Options declared once (``engine/options.py``): every front end offers the same names, defaults and choices."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import sys
import typing
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import slicer_stubs
from PancreasMultiTaskLib.cli.main import build_parser
from PancreasMultiTaskLib.engine import options as opts
from PancreasMultiTaskLib.slicer.runner import predict_command

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "PancreasMultiTask"

#: A value other than the default for each option a front end offers.
OTHER_VALUES = {
    "model": "/models/Some__Plans__2d",
    "device": "cpu",
    "folds": ["0", "2"],
    "use_mirroring": False,
    "fast": True,
    "classification": "tiles",
    "pooling": "uniform",
    "precision": "float32",
    "backend": "torch",
    "checkpoint": "best",
    "save_probabilities": True,
    "orientation": "LPS",
    "batch_size": 3,
    "series": "1.2.3",
    "roi": [-1.5e-05, -20.0, 3.0, 10.0, 20.0, 60.5],
    "roi_ras": [-10.0, -20.0, 3.0, 10.0, 20.0, 60.5],
    "roi_mask": "/masks/pancreas.nii.gz",
    "roi_label": 7,
    "roi_margin": 15.0,
}


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {action.dest: action for action in parser._actions}


def _predict_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["predict"]


def _batch_parser() -> argparse.ArgumentParser:
    spec = importlib.util.spec_from_file_location("pmt_batch_predict", MODULE_DIR / "Scripts" / "batch_predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    captured = {}

    def parse(self, args=None, namespace=None):
        captured["parser"] = self
        raise SystemExit(0)

    original = argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_args = parse
    try:
        with pytest.raises(SystemExit):
            module.parse_args(["-i", "x", "-o", "y"])
    finally:
        argparse.ArgumentParser.parse_args = original
    return captured["parser"]


@pytest.mark.parametrize(("front_end", "make_parser"), [(opts.CLI, _predict_parser), (opts.BATCH, _batch_parser)])
def test_parsers_offer_every_declared_option_with_its_default_and_choices(front_end, make_parser):
    actions = _actions(make_parser())
    for option in opts.options_for(front_end):
        assert option.name in actions, f"{front_end} lacks {option.name}"
        action = actions[option.name]
        assert option.cli_flag in action.option_strings
        if option.kind is bool:
            assert action.default is option.default and action.nargs == 0
        else:
            assert action.default == option.default, option.name
            assert (tuple(action.choices) if action.choices else None) == option.choices, option.name
    assert set(OTHER_VALUES) >= {o.name for o in opts.options_for(front_end)}, "give the new option a test value"


def test_every_front_end_option_round_trips_through_the_runner_argv():
    """The Slicer runner's argv, parsed by the real CLI parser, gives back every value it was given."""
    values = {option.name: OTHER_VALUES[option.name] for option in opts.options_for(opts.CLI)}
    command = predict_command(["/in/ct.nrrd"], "/out", values)
    args = build_parser().parse_args(command[command.index("predict") :])
    parsed = opts.parse_values(args, opts.CLI)
    assert parsed == values
    defaults = predict_command(["/in/ct.nrrd"], "/out", {o.name: o.default for o in opts.options_for(opts.CLI)})
    assert defaults[defaults.index("predict") + 3 : -2] == ["--progress", "json"]  # defaults are left to the CLI


def test_prediction_options_are_the_engine_options():
    fields = {f.name: f.default for f in dataclasses.fields(opts.PredictionOptions)}
    assert fields == {o.name: o.default for o in opts.OPTIONS if o.engine}
    built = opts.prediction_options(opts.parse_values(_predict_parser().parse_args(["-o", "x"]), opts.CLI))
    assert built == opts.PredictionOptions()
    assert opts.PredictionOptions(checkpoint="best").checkpoint_name == "checkpoint_best.pth"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"precision": "float8"}, "precision must be one of auto, float32, bfloat16"),
        ({"classification": "max"}, "classification"),
        ({"pooling": "max"}, "pooling"),
        ({"device": "tpu"}, "device"),
        ({"backend": "tensorrt"}, "backend"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"roi": [1, 2, 3]}, "roi needs 6 numbers"),
    ],
)
def test_bad_engine_options_name_the_option(values, message):
    with pytest.raises(ValueError, match=message):
        opts.PredictionOptions(**values)


def test_cli_refuses_a_bad_batch_size(tmp_path, capsys):
    from PancreasMultiTaskLib.cli.main import main

    assert main(["predict", "-i", str(tmp_path), "-o", str(tmp_path / "o"), "--batch-size", "-1"]) == 1
    assert "--batch-size must be at least 1" in capsys.readouterr().err


def test_the_slicer_panel_offers_every_slicer_option(monkeypatch, tmp_path):
    """The parameter node (generated) and the .ui (written by hand) agree with the declarations."""
    slicer_stubs.install(monkeypatch, tmp_path / "app")
    monkeypatch.syspath_prepend(str(MODULE_DIR))
    monkeypatch.delitem(sys.modules, "PancreasMultiTask", raising=False)
    module = importlib.import_module("PancreasMultiTask")
    try:
        hints = typing.get_type_hints(module.PancreasMultiTaskParameterNode, include_extras=True)
        ui = ET.parse(MODULE_DIR / "Resources" / "UI" / "PancreasMultiTask.ui").getroot()
        bound = {
            w.find("./property[@name='SlicerParameterName']/string").text: w
            for w in ui.iter("widget")
            if w.find("./property[@name='SlicerParameterName']") is not None
        }
        advanced = ui.find(".//widget[@name='advancedCollapsibleButton']")
        in_advanced = {id(w) for w in advanced.iter("widget")}
        assert advanced.find("./property[@name='collapsed']/bool").text == "true"
        panel = opts.options_for(opts.SLICER)
        assert {"classification", "pooling", "precision", "backend", "folds", "use_mirroring"} <= {
            o.name for o in panel
        }
        import slicer

        node = module.PancreasMultiTaskLogic(modelsDirectory=tmp_path / "models").getParameterNode()
        for name, option in opts.slicer_parameters():
            assert name in hints, f"the parameter node lacks {name}"
            choices = next((e.choices for e in typing.get_args(hints[name])[1:]), None)
            assert (tuple(choices) if choices else None) == option.choices, name
            if option.default is not None:
                assert getattr(node, name) == option.default, name
            if name in ("model", "device"):
                continue  # filled by the widget: the models of the store, the devices found on this computer
            assert name in bound, f"no widget in the .ui is bound to {name}"
            assert (id(bound[name]) in in_advanced) == option.advanced, f"{name}: Advanced section or not"
        node.precision = "float32"
        with pytest.raises(ValueError):
            node.precision = "float8"
        assert slicer.mrmlScene is not None
    finally:
        sys.modules.pop("PancreasMultiTask", None)


def test_the_logic_turns_panel_values_into_option_values():
    from PancreasMultiTaskLib.slicer.logic import PredictionLogic

    values = PredictionLogic.optionValues(folds="0, 2", useMirroring=False, precision="float32", saveProbabilities=True)
    assert values == {"folds": ["0", "2"], "use_mirroring": False, "precision": "float32", "save_probabilities": True}
    with pytest.raises(TypeError, match="tta"):
        PredictionLogic.optionValues(tta=False)
    with pytest.raises(ValueError, match="precision"):
        PredictionLogic.optionValues(precision="float8")
