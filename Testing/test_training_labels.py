"""subtypes.csv reading, writing and lookup by the case keys of an nnU-Net batch."""

from __future__ import annotations

import numpy as np
import pytest
from pancreas_mt_training.labels import (
    SubtypeLabelError,
    SubtypeLookup,
    read_subtypes_csv,
    subtype_names,
    write_subtypes_csv,
)


def test_round_trip_and_lookup_by_batch_keys(tmp_path):
    path = write_subtypes_csv(tmp_path / "subtypes.csv", {"b": 2, "a": 0, "c": 1})
    assert path.read_text().splitlines() == ["case_id,subtype", "a,0", "b,2", "c,1"]
    lookup = SubtypeLookup.from_csv(path, 3)
    assert lookup(["c", "a", "b", "a"]).tolist() == [1, 0, 2, 0]
    assert lookup(np.array(["b"])).dtype == np.int64


def test_unknown_keys_are_named(tmp_path):
    lookup = SubtypeLookup({"a": 0}, "x/subtypes.csv")
    with pytest.raises(SubtypeLabelError, match=r"x/subtypes.csv: no subtype for case\(s\) q, z"):
        lookup(["a", "z", "q"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,label\na,0\n", "header"),
        ("case_id,subtype\na,zero\n", "not an integer"),
        ("case_id,subtype\na,0\na,1\n", "listed twice"),
        ("case_id,subtype\na,5\n", "outside 0..2"),
        ("case_id,subtype\na\n", "line 2"),
    ],
)
def test_bad_csv(tmp_path, text, message):
    path = tmp_path / "subtypes.csv"
    path.write_text(text)
    with pytest.raises(SubtypeLabelError, match=message):
        read_subtypes_csv(path, 3)


def test_subtype_names_from_dataset_json():
    assert subtype_names({"subtypes": {"1": "rim", "0": "solid", "2": "cyst"}}) == ["solid", "rim", "cyst"]
    with pytest.raises(SubtypeLabelError, match="no 'subtypes'"):
        subtype_names({"labels": {}})
    with pytest.raises(SubtypeLabelError, match=r"keys must be 0\.\.1"):
        subtype_names({"subtypes": {"0": "a", "2": "b"}})
