"""What the README claims, end to end: the demo command, the lesion diameter in any stored
orientation, ``--checkpoint best`` and ``$PANCREAS_MT_MODEL``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from model_factory import ct_volume
from PancreasMultiTaskLib.cli.main import main
from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor
from PancreasMultiTaskLib.engine.result import CaseResult
from PancreasMultiTaskLib.slicer.logic import DEMO_SAMPLE_MIN_DICE
from scipy import ndimage
from scipy.spatial.distance import pdist

SAMPLE = Path(__file__).resolve().parents[1] / "Resources" / "SampleData"


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def axial_diameter_mm(seg: sitk.Image, label: int = 2) -> float:
    """Largest lesion diameter within a physical axial plane, from the image's own geometry.

    Independent of the engine: voxels are grouped by their physical S coordinate (whatever array
    axis that is), each plane's connected pieces are measured between voxel centres in millimetres.
    """
    mask = sitk.GetArrayFromImage(seg) == label  # (k, j, i)
    direction = np.array(seg.GetDirection()).reshape(3, 3)
    s_axis_xyz = int(np.argmax(np.abs(direction[2])))  # the index axis (i, j, k) that runs along S
    s_axis = 2 - s_axis_xyz  # as a numpy axis
    best = 0.0
    for position in range(mask.shape[s_axis]):
        plane = np.take(mask, position, axis=s_axis)
        pieces, count = ndimage.label(plane)
        for piece in range(1, count + 1):
            points = np.argwhere(pieces == piece)
            if len(points) < 2:
                continue
            index = np.insert(points, s_axis, position, axis=1)[:, ::-1]  # (i, j, k)
            physical = (index * np.array(seg.GetSpacing())) @ direction.T
            best = max(best, float(pdist(physical).max()))
    return best


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    from PancreasMultiTaskLib.engine.demo import demo_model_folder

    return demo_model_folder(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def sample():
    info = json.loads((SAMPLE / "sample.json").read_text())
    return info, sitk.ReadImage(str(SAMPLE / info["image"])), sitk.ReadImage(str(SAMPLE / info["truth"]))


def test_demo_command_finds_each_structure_where_the_truth_has_it(sample, tmp_path, monkeypatch, capsys):
    info, _, truth = sample
    monkeypatch.setenv("PANCREAS_MT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PANCREAS_MT_MODEL", raising=False)
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    case = out / info["case_id"]
    result = CaseResult.read_json(case / "result.json")
    assert info["subtype_name"] in printed and str(case / "result.json") in printed
    assert result.subtype.predicted == info["subtype_name"]
    shipped = json.loads((SAMPLE.parent / "DemoModel" / "demo_config.json").read_text())["folds"]
    assert result.provenance.folds == [str(f) for f in shipped] and result.provenance.tta  # every fold shipped
    seg = sitk.ReadImage(str(case / result.segmentation_file))
    predicted, expected = sitk.GetArrayFromImage(seg), sitk.GetArrayFromImage(truth)
    assert result.labels == {"background": 0, "pancreas": 1, "lesion": 2}
    # pancreas: the gland including its lesion; thresholds measured on this sample (logic.py)
    assert dice(predicted > 0, expected > 0) >= DEMO_SAMPLE_MIN_DICE["Pancreas"]
    assert dice(predicted == 2, expected == 2) >= DEMO_SAMPLE_MIN_DICE["Lesion"]
    spacing = seg.GetSpacing()
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000
    assert result.measurements.lesion_volume_ml == pytest.approx((predicted == 2).sum() * voxel_ml, abs=1e-3)
    assert result.measurements.lesion_max_axial_diameter_mm == pytest.approx(axial_diameter_mm(seg), abs=0.01)
    truth_diameter = axial_diameter_mm(truth)
    assert truth_diameter > 10
    assert result.measurements.lesion_max_axial_diameter_mm == pytest.approx(truth_diameter, rel=0.15)


def test_lesion_diameter_is_axial_in_any_model_orientation(demo_folder, sample, tmp_path):
    """The same voxels, once stored as LPS for an LPS model, once stored as LSP for an LSP model.

    The network sees identical slices, so the label arrays are identical; but in the LSP image the
    slices are coronal and the axial plane holds the 2 mm axis, so its axial diameter is another one.
    """
    # the sample is stored in a random orientation: bring it to LPS first, then crop it around the gland in-plane
    # as the model's training crops were, and predict the whole crop (ROI full): the localizer of ``--roi auto``
    # would look along another axis in the LSP image
    image, truth = _gland_crop(*(sitk.DICOMOrient(volume, "LPS") for volume in sample[1:]), margin_mm=40.0)
    options = PredictionOptions(device="cpu", folds=("0",), use_mirroring=False, roi="full")
    lps = Predictor(demo_folder, options).predict(image)

    lsp_model = tmp_path / demo_folder.name
    shutil.copytree(demo_folder, lsp_model, ignore=shutil.ignore_patterns("fold_[1-9]"))
    dataset = json.loads((lsp_model / "dataset.json").read_text())
    assert dataset["orientation"] == "LPS"
    dataset["orientation"] = "LSP"
    (lsp_model / "dataset.json").write_text(json.dumps(dataset))
    stored_lsp = sitk.Image(image)
    stored_lsp.SetDirection((1, 0, 0, 0, 0, 1, 0, 1, 0))  # index i -> L, j -> S, k -> P
    lsp = Predictor(lsp_model, PredictionOptions(device="cpu", use_mirroring=False, roi="full")).predict(stored_lsp)

    lps_seg, lsp_seg = lps.segmentation, lsp.segmentation
    np.testing.assert_array_equal(sitk.GetArrayFromImage(lsp_seg), sitk.GetArrayFromImage(lps_seg))
    assert dice(sitk.GetArrayFromImage(lps_seg) == 2, sitk.GetArrayFromImage(truth) == 2) >= 0.8
    lps_expected, lsp_expected = axial_diameter_mm(lps_seg), axial_diameter_mm(lsp_seg)
    # the two planes give different diameters (35.60 and 35.06 mm on the sample), fifty times the tolerance below
    assert abs(lps_expected - lsp_expected) > 0.1
    assert lps.result.measurements.lesion_max_axial_diameter_mm == pytest.approx(lps_expected, abs=0.01)
    assert lsp.result.measurements.lesion_max_axial_diameter_mm == pytest.approx(lsp_expected, abs=0.01)
    assert lsp.result.measurements.lesion_volume_ml == pytest.approx(lps.result.measurements.lesion_volume_ml)


def _gland_crop(image: sitk.Image, truth: sitk.Image, margin_mm: float) -> tuple[sitk.Image, sitk.Image]:
    """Both images cut to the true gland's in-plane box plus ``margin_mm`` (every slice kept)."""
    gland = np.argwhere(sitk.GetArrayFromImage(truth) > 0)[:, ::-1]  # (i, j, k)
    margin = [round(margin_mm / s) for s in image.GetSpacing()[:2]]
    low = [max(0, int(gland[:, a].min()) - margin[a]) for a in (0, 1)] + [0]
    high = [min(image.GetSize()[a], int(gland[:, a].max()) + 1 + margin[a]) for a in (0, 1)] + [image.GetSize()[2]]
    size = [h - lo for lo, h in zip(low, high, strict=True)]
    return sitk.RegionOfInterest(image, size, low), sitk.RegionOfInterest(truth, size, low)


@pytest.fixture(scope="module")
def small_case(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("e2e-case") / "small_0000.nii.gz"
    sitk.WriteImage(ct_volume((4, 56, 72), seed=51)[0], str(path))
    return path


def _predict(argv: list[str], capsys) -> CaseResult:
    out = Path(argv[argv.index("-o") + 1])
    code = main(["predict", *argv, "--device", "cpu", "--no-tta", "--progress", "none"])
    assert code == 0, capsys.readouterr().err
    return CaseResult.read_json(out / "small" / "result.json")


def test_checkpoint_best_loads_the_best_checkpoint(multitask_model, small_case, tmp_path, capsys):
    model = tmp_path / multitask_model.name
    shutil.copytree(multitask_model, model)
    # fold_0's "best" checkpoint holds other weights (fold 1's), so which file ran shows in the output.
    shutil.copy(model / "fold_1" / "checkpoint_final.pth", model / "fold_0" / "checkpoint_best.pth")
    runs = {
        name: _predict(["-i", str(small_case), "-o", str(tmp_path / name), "-m", str(model), *extra], capsys)
        for name, extra in {
            "best0": ["--folds", "0", "--checkpoint", "best"],
            "final0": ["--folds", "0"],
            "final1": ["--folds", "1", "--checkpoint", "final"],
        }.items()
    }
    assert runs["best0"].provenance.checkpoint == "checkpoint_best.pth"
    assert runs["final0"].provenance.checkpoint == runs["final1"].provenance.checkpoint == "checkpoint_final.pth"
    best, final0, final1 = (runs[n].subtype.probabilities for n in ("best0", "final0", "final1"))
    assert best == pytest.approx(final1, abs=1e-6)
    assert best != pytest.approx(final0, abs=1e-4)
    best_seg, final1_seg = (
        sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / n / "small" / "segmentation.nii.gz")))
        for n in ("best0", "final1")
    )
    np.testing.assert_array_equal(best_seg, final1_seg)

    code = main(["predict", "-i", str(small_case), "-o", str(tmp_path / "x"), "-m", str(model), "--folds", "1",
                 "--checkpoint", "best", "--device", "cpu", "--progress", "none"])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert str(model / "fold_1" / "checkpoint_best.pth") in err and len(err.strip().splitlines()) == 1


def test_model_from_the_environment(multitask_model, small_case, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PANCREAS_MT_MODEL", str(multitask_model))
    result = _predict(["-i", str(small_case), "-o", str(tmp_path / "env"), "--folds", "0"], capsys)
    assert result.provenance.model_path == str(multitask_model)
    assert result.subtype.names == ["solid", "rim-enhancing", "cystic"]

    missing = tmp_path / "no-such-model"
    monkeypatch.setenv("PANCREAS_MT_MODEL", str(missing))
    code = main(["predict", "-i", str(small_case), "-o", str(tmp_path / "x"), "--device", "cpu", "--progress", "none"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and str(missing) in err
