"""Session 46 helper "fixes": the coordinator's fix list.

- A CDM v6.0 export (deaths in ``person.death_datetime``, no death table; field case round 39,
  commit 930a4a6): the absent death table's WARNING said "treated as empty" and the table was listed
  in ``notes.optional_tables_absent``, from which the report's Methods said "no death is known, so no
  follow-up ends at a death" and the flow and Cox texts ended follow-up at the cutoff only: wrong,
  the chain ends it at those deaths.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
from test_phenotypes_support import toy_config

from trd_spark.phenotypes.stage import read_omop

CASE_OMOP = Path(__file__).resolve().parent / "data" / "field_cases_round39" / "person-death-datetime" / "omop"


def test_an_absent_death_table_beside_person_death_datetime_is_no_missing_death(spark, tmp_path, caplog):
    """Round 39's case without its death table: the WARNING says where the deaths are read from, the
    table is not listed as absent (the report's "no death is known"), and the person table's deaths
    are the death rows. The same export whose person table has the column with no date (as the
    conformed schema the test tables are written from has it): "treated as empty", listed. On
    ca06e6a (d099127 + 930a4a6): "not found; treated as empty" and death listed as absent for both."""
    omop_dir = tmp_path / "omop"
    shutil.copytree(CASE_OMOP, omop_dir, ignore=shutil.ignore_patterns("death.parquet"))
    cfg = toy_config(path=str(omop_dir))
    absent: list[str] = []
    with caplog.at_level(logging.WARNING, logger="trd_spark.phenotypes.stage"):
        omop = read_omop(spark, cfg, absent)
    said = [r.getMessage() for r in caplog.records if "OMOP table death" in r.getMessage()]
    assert said == ["phenotypes: OMOP table death not found; deaths are read from person.death_datetime"], said
    assert absent == ["device_exposure"]  # the case has none
    assert sorted((r.person_id, r.death_date.isoformat()) for r in omop["death"].collect()) == [
        (3901, "2019-02-20"), (3902, "2019-04-15"), (3903, "2020-01-01"), (3904, "1900-01-01"), (3905, "2010-05-05")]

    person = omop_dir / "person.parquet"
    table = pd.read_parquet(person)
    table["death_datetime"] = pd.NaT
    table.to_parquet(person)
    caplog.clear()
    absent = []
    with caplog.at_level(logging.WARNING, logger="trd_spark.phenotypes.stage"):
        assert read_omop(spark, cfg, absent)["death"].count() == 0
    said = [r.getMessage() for r in caplog.records if "OMOP table death" in r.getMessage()]
    assert said == ["phenotypes: OMOP table death not found; treated as empty"], said
    assert absent == ["death", "device_exposure"]
