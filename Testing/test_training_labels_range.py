"""subtypes.csv: an index below -1 is refused like one above the range (a mutant accepting it survived); -1 marks a
case without a lesion."""

from __future__ import annotations

import pytest
from pancreas_mt_training.labels import NO_SUBTYPE, SubtypeLabelError, SubtypeLookup, read_subtypes_csv


@pytest.mark.parametrize("value", ["-2", "3"])
def test_index_outside_the_range_is_refused_naming_the_line(tmp_path, value):
    path = tmp_path / "subtypes.csv"
    path.write_text(f"case_id,subtype\na,0\nb,{value}\n")
    with pytest.raises(SubtypeLabelError, match=rf"line 3: subtype {value} of b is outside 0\.\.2"):
        read_subtypes_csv(path, 3)


def test_negative_index_is_refused_without_a_subtype_count(tmp_path):
    path = tmp_path / "subtypes.csv"
    path.write_text("case_id,subtype\na,-2\n")
    with pytest.raises(SubtypeLabelError, match="subtype -2 of a"):
        read_subtypes_csv(path)


def test_minus_one_marks_a_case_without_a_lesion(tmp_path):
    path = tmp_path / "subtypes.csv"
    path.write_text("case_id,subtype\na,2\nb,-1\n")
    assert read_subtypes_csv(path, 3) == {"a": 2, "b": NO_SUBTYPE}
    assert SubtypeLookup.from_csv(path, 3)(["b", "a"]).tolist() == [NO_SUBTYPE, 2]
