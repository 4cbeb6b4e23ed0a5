"""Session 47 (helper "shrink"; release trial, finding 7): an OMOP table that lost an implausible share
of its rows since the earlier release of the output root is one counted WARNING (trd_spark.phenotypes.shrink).
The stage-level wiring is tests/test_phenotypes_stage.py (test_a_table_shrunk_since_...); these are its pure
parts: the counts read from a manifest's notes, the comparison, the wording (percent only) and the choice of
the earlier release. No Spark."""

from __future__ import annotations

import json

import pytest

from trd_spark.config import ReleaseSettings
from trd_spark.io import LocalFs
from trd_spark.layout import Layout
from trd_spark.phenotypes.shrink import earlier_release, release_order, shrink_warnings, shrunk_tables, table_rows
from trd_spark.releases import natural_key

NOTES = {"quirks": {"event_table_records": {"n_drug_exposure_records": 750, "n_condition_occurrence_records": 900,
                                            "n_device_exposure_records": 0},
                    "persons": {"n_persons": 3145, "n_sex_other": 3},
                    "unmapped_records": {"n_drug_exposure": 7}}}


def test_table_rows_reads_each_event_table_and_the_persons():
    assert table_rows(NOTES) == {"drug_exposure": 750, "condition_occurrence": 900, "device_exposure": 0,
                                 "person": 3145}
    assert table_rows({}) == {} and table_rows({"quirks": {"persons": {"n_persons": "x"}}}) == {}


def test_only_a_loss_beyond_the_threshold_of_a_table_with_rows_before_counts():
    before = {"drug_exposure": 1000, "condition_occurrence": 1000, "device_exposure": 0, "person": 3000,
              "observation": 500}
    now = {"drug_exposure": 750, "condition_occurrence": 901, "device_exposure": 0, "person": 2995, "observation": 0,
           "procedure_occurrence": 3}
    assert shrunk_tables(now, before, 0.1) == {"drug_exposure": -0.25, "observation": -1.0}
    assert shrunk_tables(now, before, 0.1, skip=("observation",)) == {"drug_exposure": -0.25}
    # exactly the threshold is no shrink; just past it is
    assert shrunk_tables({"t": 900}, {"t": 1000}, 0.1) == {}
    assert shrunk_tables({"t": 899}, {"t": 1000}, 0.1) == {"t": pytest.approx(-0.101)}


def test_the_line_gives_percent_only_and_hides_a_loss_of_fewer_than_t_rows():
    big, small = shrink_warnings({"drug_exposure": -0.25, "person": -0.15}, {"drug_exposure": 750, "person": 85},
                                 {"drug_exposure": 1000, "person": 100}, "C2024Q3R5", 0.1, 20)
    assert big.startswith("OMOP table drug_exposure has 25.0% fewer rows than in the earlier release C2024Q3R5 (more "
                          "than releases.max_table_shrink 10%)")
    # 15 persons lost: 15.0% beside the earlier release's 100 would give them back
    assert small.startswith("OMOP table person has more than 10% fewer rows than in the earlier release C2024Q3R5")
    assert not any(str(n) in line for line in (big, small) for n in (750, 1000, 85, 100, 15, 250))


def test_the_earlier_release_is_the_newest_published_one_before_this_one(tmp_path):
    fs = LocalFs()
    for name, done in (("r2", True), ("r9", True), ("r10", False), ("r11", True)):
        stage = tmp_path / name / "phenotypes"
        stage.mkdir(parents=True)
        (stage / "_manifest.json").write_text(json.dumps({"notes": {"release": name}}))
        if done:
            (stage / "_SUCCESS").write_text("")
    # r10 not published: r9 (natural order, r9 < r10 < r12; r11 is not earlier than r11)
    assert earlier_release(Layout(str(tmp_path), "r11"), fs, "phenotypes") == ("r9", {"release": "r9"})
    assert earlier_release(Layout(str(tmp_path), "r12"), fs, "phenotypes") == ("r11", {"release": "r11"})
    assert earlier_release(Layout(str(tmp_path), "r2"), fs, "phenotypes") is None
    # a damaged manifest of a published folder is passed over (a check, not an input)
    (tmp_path / "r9" / "phenotypes" / "_manifest.json").write_text("{cut")
    assert earlier_release(Layout(str(tmp_path), "r10"), fs, "phenotypes") == ("r2", {"release": "r2"})


def test_the_threshold_is_a_fraction_or_none():
    assert ReleaseSettings().max_table_shrink == 0.1
    assert ReleaseSettings(max_table_shrink=None).max_table_shrink is None
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError):
            ReleaseSettings(max_table_shrink=bad)


def test_the_release_order_is_the_release_listings():
    """``release_order`` is kept apart from ``releases.natural_key`` (no stage digest may hold releases):
    the two must sort alike."""
    names = ["r10", "r2", "R9", "C2024Q3R5", "C2022Q4R9", "toy-r0.5", "toy-r1", "toy-r0", "2024", "v7.1", "v7.10", "a"]
    assert [release_order(n) for n in names] == [natural_key(n) for n in names]
