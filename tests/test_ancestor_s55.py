"""A partial concept_ancestor: drug products it cut off their ingredient are counted, warned of, and stop
the run above ``phenotypes.gates.unreached_drug_records.error`` (session 55 helper "ancestor").

Found in session 54 (benchmarks/RESULTS.md "Session 54 newuser"): the toy concept_ancestor cut to its first
140 of 280 rows ran with exit 0 and 0 warnings while ad2_augmentation moved TRD persons to trMDD (the
augmentation products lost their ingredient rows). The rule (docs/phenotypes.md "A partial
ancestor table"): drug_exposure records of a standard, valid Drug concept whose concept_name holds a study
ingredient's name (RxNorm names every product after its ingredients) but which concept_ancestor takes to no
concept of a study drug set (OHDSI CohortDiagnostics' orphan concepts, by name). It needs no level-0 self row,
so the tests' trimmed vocabulary (tests/test_phenotypes_support.py) keeps working. Chain and DuckDB twin
(benchmarks/duckdb_phenotypes.py) count alike.
"""

from __future__ import annotations

import re

import duckdb
import pyarrow.parquet as pq
import pytest
from test_phenotypes_support import (
    ANCESTRY,
    ARIPIPRAZOLE,
    ARIPIPRAZOLE_TAB,
    ECT_SNOMED,
    SERTRALINE,
    SERTRALINE_TAB,
    drug,
    duckdb_twin,
    frame,
    omop_tables,
    toy_config,
)

from trd_spark.config import GateThreshold
from trd_spark.errors import InputDataError
from trd_spark.phenotypes import stage as st
from trd_spark.phenotypes.concepts import name_pattern
from trd_spark.toydata import generate_toy_data

# the session 54 newuser cut: the toy concept_ancestor's first 140 rows of 280
CUT_ROWS = 140
# enough persons that the cut leaves 20+ unreached records (a count of 1..19 decides on its label <20)
PERSONS = 400


@pytest.fixture(scope="module")
def toy_exports(tmp_path_factory):
    """(the toy OMOP export, the same with concept_ancestor cut to its first CUT_ROWS rows)."""
    root = tmp_path_factory.mktemp("ancestor")
    generate_toy_data(str(root / "toy"), persons=PERSONS, variants=200, seed=42)
    full = root / "toy" / "omop"
    cut = root / "cut"
    cut.mkdir()
    for f in full.iterdir():
        table = pq.read_table(f)
        pq.write_table(table.slice(0, CUT_ROWS) if f.name == "concept_ancestor.parquet" else table, cut / f.name)
    assert pq.read_metadata(full / "concept_ancestor.parquet").num_rows == 2 * CUT_ROWS
    return full, cut


def _unreached(spark, omop, cfg) -> int:
    """event_table_counts' UNREACHED on ``omop`` (one aggregate)."""
    return int(_table_counts(omop, cfg)[st.UNREACHED])


def _table_counts(omop, cfg) -> dict[str, int]:
    """event_table_counts' one row on ``omop``, with the check ``run`` passes (``unreached_drug_check``)."""
    check = st.unreached_drug_check(cfg, st.study_vocabulary(omop, cfg))
    assert check is not None
    return st.event_table_counts(omop, unreached=check).collect()[0].asDict()


@pytest.fixture(scope="module")
def cut_counts(spark, toy_exports):
    """The cut export's counts: the chain's event_table_counts (the one aggregate stage_counts takes them
    from) and the DuckDB twin's drop counts (``duckdb_drop_counts``), each once."""
    cfg = toy_config(path=str(toy_exports[1]))
    return cfg, _table_counts(st.read_omop(spark, cfg), cfg), duckdb_twin().duckdb_drop_counts(
        str(toy_exports[1]), cfg, threads=1)


def test_the_newuser_cut_is_counted_warned_and_stops_the_run(cut_counts):
    """Before this helper's commit: exit 0, no WARNING, no count (notes.quirks had no such part). Now the
    cut's unreached products are counted (chain and DuckDB twin alike), one WARNING line names drug_exposure,
    the count and concept_ancestor, and the gate stops the run (the share is above 1%). The gate reads the
    stage's counts as ``run`` passes them: study_event_dates here the twin's (the chain's equal them,
    tests/test_phenotypes_duckdb.py), the event tables' the chain's; no other quirk (0)."""
    cfg, chain, twin = cut_counts
    n = chain[st.UNREACHED]
    assert n >= cfg.report.small_count_threshold, n
    assert twin["unreached_drug_records"] == {st.UNREACHED: n}
    event_dates = {dom: twin[dom] for dom in st.EVENT_TABLES}
    quirks = {
        "persons": {"n_persons": PERSONS, "n_sex_other": 0, "n_no_observation_period": 0,
                    "n_persons_birth_year_implausible": 0},
        "drug_values": {"n_records": event_dates["drug"]["n_records"], "n_end_over_max_days": 0,
                        "n_days_supply_over_max": 0},
        "event_table_records": {k: v for k, v in chain.items() if k.endswith(st.RECORDS_SUFFIX)},
        "unmapped_records": {k: v for k, v in chain.items() if not k.endswith(st.RECORDS_SUFFIX) and k != st.UNREACHED},
        st.UNREACHED_PART: {st.UNREACHED: n},
    }
    [line] = st.unreached_drug_warnings(quirks[st.UNREACHED_PART], cfg.report.small_count_threshold)
    assert line.startswith(f"drug_exposure: {n:,} record(s)") and "concept_ancestor is partial" in line
    with pytest.raises(InputDataError, match=r"gate unreached_drug_records: 20\+ of 20\+ drug_exposure records"):
        st.data_gates(cfg, event_dates, quirks)
    # a level above the share: the run goes on, the gate's record keeps the exact counts
    share = n / (n + event_dates["drug"]["n_records"])
    gates = cfg.phenotypes.gates.model_copy(update={"unreached_drug_records": GateThreshold(error=share + 0.01)})
    relaxed = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"gates": gates})})
    record = st.data_gates(relaxed, event_dates, quirks)["unreached_drug_records"]
    assert (record["n"], record["level"]) == (n, "ok")
    # without the check (the stage before): no part, no line, no gate
    del quirks[st.UNREACHED_PART]
    assert "unreached_drug_records" not in st.data_gates(cfg, event_dates, quirks)


def test_the_whole_toy_vocabulary_leaves_none(spark, toy_exports):
    """The uncut toy table (a self row for every concept, as Athena's) reaches every product: 0, chain and twin."""
    cfg = toy_config(path=str(toy_exports[0]))
    assert _unreached(spark, st.read_omop(spark, cfg), cfg) == 0
    assert duckdb_twin().duckdb_drop_counts(str(toy_exports[0]), cfg, threads=1)["unreached_drug_records"] == {
        st.UNREACHED: 0}


def test_the_trimmed_test_vocabulary_keeps_working(spark):
    """tests/test_phenotypes_support.py's concept_ancestor has no self rows: a rule "every standard concept has
    its level-0 row" would fire on it; this one does not (0), and finds the one product whose only row is gone."""
    cfg = toy_config()
    rows = [drug(1, SERTRALINE_TAB, "2020-01-01"), drug(1, SERTRALINE, "2020-02-01"),
            drug(2, ARIPIPRAZOLE_TAB, "2020-01-01"), drug(2, ARIPIPRAZOLE_TAB, "2020-03-01"),
            drug(3, ECT_SNOMED, "2020-01-01")]  # a Procedure concept in drug_exposure: not a drug product
    omop = omop_tables(spark, drugs=rows)
    assert _unreached(spark, omop, cfg) == 0
    omop["concept_ancestor"] = frame(spark, "concept_ancestor", [
        (a, b, 1, 1) for a, b in ANCESTRY if (a, b) != (ARIPIPRAZOLE, ARIPIPRAZOLE_TAB)])
    assert _unreached(spark, omop, cfg) == 2


NAMES = ["sertraline", "ketamine", "St. John's wort", "lithium carbonate"]
HELD = {  # concept_name -> does it hold one of NAMES as a whole name
    "sertraline 50 MG Oral Tablet": True, "SERTRALINE 25 MG [Zoloft]": True, "olanzapine / sertraline": True,
    "esketamine 28 MG Nasal Spray": False, "ketamine 50 MG/ML Injectable Solution": True,
    "St. John's wort extract 300 MG": True, "St. Johns wort": False, "lithium citrate 300 MG": False,
    "lithium carbonate 300 MG Oral Capsule": True, "sertralines": False, "(sertraline)": True,
}


def test_the_name_pattern_reads_alike_in_java_python_and_re2(spark):
    """Spark's rlike (Java), Python re and DuckDB (RE2) take the same pattern and find the same names: a
    name inside a longer word is not found (ketamine in esketamine), punctuation is literal."""
    pattern = name_pattern(NAMES)
    assert pattern is not None and name_pattern(["", " "]) is None
    assert {n: bool(re.search(pattern, n)) for n in HELD} == HELD
    con = duckdb.connect()
    try:
        got = {n: bool(con.execute("SELECT regexp_matches(?, ?)", [n, pattern]).fetchone()[0]) for n in HELD}
    finally:
        con.close()
    assert got == HELD
    from pyspark.sql import functions as F
    names = spark.range(1).select(F.explode(F.array(*[F.lit(n) for n in HELD])).alias("n"))
    assert {r.n: r.hit for r in names.select("n", F.col("n").rlike(pattern).alias("hit")).collect()} == HELD


def test_no_line_gives_back_the_drug_records_no_line_shows():
    """drug_exposure's 1,000 records hold 900 study records and 95 unreached ones: exact on every line, they
    gave back the 5 others (1..19). Before the records_within relations of UNREACHED: all three exact."""
    dates = {dom: {"n_records": 0} for dom in st.EVENT_TABLES}
    dates["drug"] = {"n_records": 900}
    quirks = {"event_table_records": {f"n_{t}{st.RECORDS_SUFFIX}": 0 for t in st.SOURCE_CONCEPT_OF},
              "unmapped_records": {"n_drug_exposure": 0, f"n_drug_exposure{st.NONSTANDARD_SUFFIX}": 0},
              st.UNREACHED_PART: {st.UNREACHED: 95}}
    quirks["event_table_records"][f"n_drug_exposure{st.RECORDS_SUFFIX}"] = 1000
    shown = st.stage_record_texts(dates, quirks, 20)
    texts = [shown[f"quirks.event_table_records.n_drug_exposure{st.RECORDS_SUFFIX}"],
             shown["study_event_dates.drug.n_records"], shown[f"quirks.{st.UNREACHED_PART}.{st.UNREACHED}"]]
    assert texts != ["1,000", "900", "95"], texts
