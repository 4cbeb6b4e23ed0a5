"""Field cases, round 25 (session 34, helper "omop25"): All of Us death records.

From CDR v8 All of Us keeps every death record in ``aou_death`` (AoU support, "How to find
participant death reports"; schema all-of-us/curation resource_files/schemas/aou_custom/
aou_death.json): rows from EHR sites and staff-reported ones from HealthPro (``src_id``), several
per person, ``death_date`` nullable (a HealthPro deceased status may come without a date), and a
``primary_death_record`` flag. Its ``death`` table holds only the primary rows (curation
``populate_death``: ``WHERE primary_death_record = True``), and the primary is chosen EHR first,
then earliest date (``calculate_primary_death_record.py``), so an earlier HealthPro date and every
undated report are missing from ``death``. 69efbc5 read ``death`` only: a person whom staff
reported dead before the EHR's date was followed past that death (a somatic onset after it counted
as TRD, time at risk too long). ``omop.death_table: aou_death`` (conf/aou_releases.yaml for v8+)
now reads every row; the earliest usable dated row ends follow-up (``persons.first_death_dates``),
undated rows are counted (n_persons_death_undated) with a WARNING.

Tiny inputs built with tests/test_phenotypes_support's row builders, written as Parquet as the
CDR's tables look (aou_death with its aou_death_id, src_id and primary_death_record columns; death
with the primary row), read by the stage's own reader; expected values by hand from README
"Study rules" (toy config: cutoff 2023-07-01, observation 2000-01-01..2023-12-31).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_phenotypes_support import (
    ANCESTRY,
    CONCEPTS,
    ECT_SNOMED,
    MDD_CONCEPT,
    cond,
    d,
    days,
    duckdb_twin_rows,
    obs,
    person,
    proc,
    toy_config,
    write_omop_tables,
)

from trd_spark.config import load_config
from trd_spark.errors import ConfigError, InputDataError
from trd_spark.phenotypes.omop import stage_input_files
from trd_spark.phenotypes.persons import birth_death_quirk_counts
from trd_spark.phenotypes.stage import birth_and_death_warnings, derive_phenotype_tables, read_omop

REPO = Path(__file__).resolve().parent.parent
PERSONS = (1, 2, 3)
MDD_DATES = ("2019-01-10", "2019-02-10")  # every person: MDD, index 2019-01-10
# (aou_death_id, person_id, death_date, death_datetime, src_id, primary_death_record)
AOU_DEATH = [
    # 1: the EHR's death (primary: EHR rows are chosen over HealthPro ones) and an earlier
    #    staff-reported one
    ("a1", 1, d("2021-06-01"), None, "hpo_site_a", True),
    ("b1", 1, d("2020-03-01"), None, "Staff Portal: HealthPro", False),
    # 2: a HealthPro deceased status without a date (never primary)
    ("a2", 2, None, None, "Staff Portal: HealthPro", False),
]
DEATH = [(1, d("2021-06-01"))]  # the CDR's death table: the primary rows only
PROCEDURES = [proc(1, ECT_SNOMED, "2020-06-01"), proc(3, ECT_SNOMED, "2020-06-01")]


def _write_omop(root: Path, *, with_aou_death: bool = True) -> None:
    """The case as a CDR v8 export: one Parquet file per table of OMOP_COLUMNS (device_exposure and
    drug_strength absent), death holding the primary rows, aou_death every row with its own columns."""
    rows = {
        "person": [person(p) for p in PERSONS],
        "observation_period": [obs(p) for p in PERSONS],
        "condition_occurrence": [cond(p, MDD_CONCEPT, x) for p in PERSONS for x in MDD_DATES],
        "procedure_occurrence": PROCEDURES,
        "death": DEATH,
        "concept": CONCEPTS,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    }
    write_omop_tables(root, rows)
    if with_aou_death:
        ids, pids, dates, stamps, srcs, primary = zip(*AOU_DEATH, strict=True)
        pq.write_table(pa.table({
            "aou_death_id": pa.array(ids, pa.string()), "person_id": pa.array(pids, pa.int64()),
            "death_date": pa.array(dates, pa.date32()), "death_datetime": pa.array(stamps, pa.timestamp("us")),
            "death_type_concept_id": pa.array([0] * len(ids), pa.int64()), "src_id": pa.array(srcs, pa.string()),
            "primary_death_record": pa.array(primary, pa.bool_())}), root / "aou_death.parquet")


def test_aou_death_ends_follow_up_at_the_earliest_record_and_counts_undated_reports(spark, tmp_path, caplog):
    """By hand (index 2019-01-10; no drugs, so ad3 is MDD_other / no_adequate_trial for everyone):
    1: deaths 2021-06-01 (EHR, primary; the death table's row) and 2020-03-01 (HealthPro): follow-up
       ends 2020-03-01 (416 days from the index); the ECT on 2020-06-01 is after death, no onset:
       somatic MDD_other, 416 days (69efbc5, reading death: TRD on 2020-06-01, 508 days).
    2: one undated HealthPro report: not used (no date), counted in n_persons_death_undated with the
       WARNING; follow-up to the cutoff 2023-07-01 (observation runs to 2023-12-31): 1633 days.
    3: no death row; ECT on 2020-06-01: somatic TRD, 508 days.
    n_persons_several_death_dates 1 (person 1). The DuckDB twin on the same files agrees."""
    root = tmp_path / "omop"
    root.mkdir()
    _write_omop(root)
    cfg = toy_config(path=str(root), death_table="aou_death")
    omop = read_omop(spark, cfg)
    assert sorted((r.person_id, r.death_date) for r in omop["death"].collect()) == [
        (1, d("2020-03-01")), (1, d("2021-06-01")), (2, None)]

    tables = derive_phenotype_tables(omop, cfg)
    ends = {r.person_id: r.observation_end_date for r in tables.persons.collect()}
    assert ends == {1: d("2020-03-01"), 2: d("2023-07-01"), 3: d("2023-07-01")}
    got = {(r.person_id, r.definition): (r.status, r.exclusion_reason, r.trd_onset_date, r.time_to_trd_days)
           for r in tables.phenotypes.where("definition IN ('somatic', 'ad3')").collect()}
    assert (days("2019-01-10", "2020-03-01"), days("2019-01-10", "2020-06-01"),
            days("2019-01-10", "2023-07-01")) == (416, 508, 1633)
    assert got == {
        (1, "somatic"): ("MDD_other", "no_adequate_trial", None, 416),
        (2, "somatic"): ("MDD_other", "no_adequate_trial", None, 1633),
        (3, "somatic"): ("TRD", None, d("2020-06-01"), 508),
        (1, "ad3"): ("MDD_other", "no_adequate_trial", None, 416),
        (2, "ad3"): ("MDD_other", "no_adequate_trial", None, 1633),
        (3, "ad3"): ("MDD_other", "no_adequate_trial", None, 1633),
    }

    quirks = birth_death_quirk_counts(omop["person"], omop["death"], omop["observation_period"]).first().asDict()
    assert (quirks["n_persons_death_undated"], quirks["n_persons_several_death_dates"]) == (1, 1)
    assert any(w.startswith("death: row(s) with neither death_date nor death_datetime")
               for w in birth_and_death_warnings(quirks))

    twin = {(int(p), k): (s, r, o, t) for p, k, s, r, o, t in duckdb_twin_rows(
        root, cfg, tmp_path / "duck.parquet",
        "person_id, definition, status, exclusion_reason, trd_onset_date, time_to_trd_days",
        "definition IN ('somatic', 'ad3')")}
    assert twin == got

    # The rerun fingerprint covers the table read (aou_death), not the death table beside it.
    files = [Path(f).name for f in stage_input_files(cfg, None)["omop.path"]]
    assert "aou_death.parquet" in files and "death.parquet" not in files

    # An export without the configured aou_death is one error naming it, not "no deaths".
    bare = tmp_path / "bare"
    bare.mkdir()
    _write_omop(bare, with_aou_death=False)
    with caplog.at_level(logging.WARNING), pytest.raises(InputDataError, match=r"OMOP table aou_death not found"):
        read_omop(spark, toy_config(path=str(bare), death_table="aou_death"))


@pytest.mark.parametrize(("release", "table"), [("C2022Q4R9", "death"), ("C2024Q3R5", "aou_death"), ("C2099Q1R1", None)])
def test_aou_releases_config_reads_aou_death_from_cdr_v8(monkeypatch, tmp_path, release, table):
    """conf/aou_releases.yaml: CDR v7 (C2022Q4R9) has death alone, v8 (C2024Q3R5) aou_death; a
    release without a table is one error naming the key (as for its cutoff, which comes first:
    given one here so the death table's error shows)."""
    monkeypatch.setenv("WORKSPACE_BUCKET", "gs://fc-secure-x")
    monkeypatch.setenv("GOOGLE_PROJECT", "aou-rw-1234abcd")
    path = REPO / "conf" / "aou_releases.yaml"
    if table is None:
        import yaml

        raw = yaml.safe_load(path.read_text())
        raw["omop"]["data_cutoff_date"][release] = dt.date(2024, 1, 1)
        conf = tmp_path / "conf"
        shutil.copytree(path.parent, conf)  # the files the config names, beside it
        patched = conf / path.name
        patched.write_text(yaml.safe_dump(raw))
        with pytest.raises(ConfigError, match=r"omop.death_table: no table for release 'C2099Q1R1' "
                                              r"\(it has: C2022Q4R9, C2024Q3R5\)"):
            load_config(patched, overrides={"release": release})
        return
    assert load_config(path, overrides={"release": release}).omop.death_table == table
