"""Field cases, round 39 (session 46, helper "omop39"): a death recorded in ``person.death_datetime``.

OMOP CDM v6.0 moved the death into the person table (``person.death_datetime``) and dropped the
``death`` table; a v5.x ETL may fill both. The chain and the DuckDB twin read the person table's declared
columns only, so such a death was lost: a v6.0 export said no more than the absent death table's WARNING
("OMOP table death not found; treated as empty"), and its persons were followed to the last observation
or the data cutoff (case 3901: trMDD 1633 d instead of MDD_other 41 d). Now the column, where the export
has it, is one more death row of its person (``omop.person_death_rows``, the twin alike), through the
death rules: the earliest usable date ends follow-up (a death table row disagreeing with it is one more
date), a 1900 placeholder before the birth year is no death.

Case tests/data/field_cases_round39/person-death-datetime (expected.tsv by hand, its '#' lines explain
each person; toy config).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from test_phenotypes_support import STATUS_COLUMNS, duckdb_twin_rows, expected_statuses, toy_config

from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round39" / "person-death-datetime"


class _Lines(logging.Handler):
    """The INFO and WARNING messages of the OMOP reader during the module's one case run (caplog is
    per test; the run is per module)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def case_run(spark, tmp_path_factory):
    """The case through the chain (read_omop, derive_phenotype_tables) and the DuckDB twin, once:
    {"chain": sorted STATUS_COLUMNS tuples, "twin": the same, "deaths": the chain's death rows,
    "log": the OMOP reader's messages}."""
    tmp = tmp_path_factory.mktemp("round39")
    omop_dir = tmp / "omop"
    shutil.copytree(CASE / "omop", omop_dir)
    cfg = toy_config(path=str(omop_dir))
    logger, lines = logging.getLogger("trd_spark.phenotypes.omop"), _Lines()
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        omop = read_omop(spark, cfg)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    rows = derive_phenotype_tables(omop, cfg).phenotypes.select(*STATUS_COLUMNS).collect()
    twin = duckdb_twin_rows(omop_dir, cfg, tmp / "twin.parquet", ", ".join(STATUS_COLUMNS), "TRUE")
    return {"chain": sorted(tuple(r) for r in rows), "twin": sorted(twin),
            "deaths": sorted((r.person_id, r.death_date.isoformat()) for r in omop["death"].collect()),
            "log": lines.messages}


def test_a_death_in_person_death_datetime_ends_follow_up_in_the_chain(case_run):
    """On d099127: 3901 trMDD 1633 d, 3902 trMDD 873 d (the death table's later date), 3905 followed to
    2023-07-01. The chain's death rows hold the person table's dates beside the death table's, the
    1900 placeholder included (the death rules, not the reader, leave it out); one INFO line says so."""
    assert case_run["chain"] == expected_statuses(CASE)
    assert case_run["deaths"] == [(3901, "2019-02-20"), (3902, "2019-04-15"), (3902, "2021-06-01"),
                                  (3903, "2019-03-01"), (3903, "2020-01-01"), (3904, "1900-01-01"),
                                  (3905, "2010-05-05")]
    assert sum("person.death_datetime" in m for m in case_run["log"]) == 1


def test_a_death_in_person_death_datetime_ends_follow_up_in_the_duckdb_twin(case_run):
    """On d099127 the twin read no person.death_datetime either (the chain's wrong rows)."""
    assert case_run["twin"] == expected_statuses(CASE)
