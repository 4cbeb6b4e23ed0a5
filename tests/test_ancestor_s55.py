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
    CONCEPTS,
    DEPRESSIVE_DISORDER,
    DYSTHYMIA,
    DYSTHYMIA_CHILD,
    ECT_SNOMED,
    FLUOXETINE,
    MDD_CHILD,
    MDD_CONCEPT,
    OLANZAPINE,
    OLANZAPINE_FLUOXETINE,
    SERTRALINE,
    SERTRALINE_TAB,
    cond,
    drug,
    duckdb_twin,
    frame,
    obs,
    omop_tables,
    person,
    toy_config,
    write_omop_tables,
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


def _with_strength(toy_exports_root):
    """The cut export and a drug_strength as Athena's would be for the toy vocabulary: one row (product,
    ingredient) per pair the WHOLE concept_ancestor links, an Ingredient concept to a Drug concept below it."""
    full, cut = toy_exports_root
    out = cut.parent / "cut_strength"
    if out.exists():
        return out
    out.mkdir()
    for f in cut.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    concept = pq.read_table(full / "concept.parquet").to_pylist()
    ingredient = {c["concept_id"] for c in concept if c["concept_class_id"] == "Ingredient"}
    drugs = {c["concept_id"] for c in concept if c["domain_id"] == "Drug"}
    pairs = sorted({(r["descendant_concept_id"], r["ancestor_concept_id"])
                    for r in pq.read_table(full / "concept_ancestor.parquet").to_pylist()
                    if r["ancestor_concept_id"] in ingredient and r["descendant_concept_id"] in drugs
                    and r["descendant_concept_id"] != r["ancestor_concept_id"]})
    import pyarrow as pa
    pq.write_table(pa.table({"drug_concept_id": pa.array([d for d, _ in pairs], pa.int64()),
                             "ingredient_concept_id": pa.array([i for _, i in pairs], pa.int64()),
                             "amount_value": pa.array([1.0] * len(pairs), pa.float64())}),
                   out / "drug_strength.parquet")
    return out


def _min_dose(cfg):
    """``cfg`` with a minimum daily dose (sertraline 25 mg): the stage then reads drug_strength."""
    trials = cfg.phenotypes.trials.model_copy(update={"ingredient_min_daily_dose": {SERTRALINE: 25.0}})
    return cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"trials": trials})})


def _strength_counts(spark, cfg) -> tuple[object, dict[str, int]]:
    """(the check ``run`` builds, event_table_counts' one row) on ``cfg``'s export, as ``run`` passes them."""
    absent: list[str] = []
    omop = st.read_omop(spark, cfg, absent)
    check = st.unreached_drug_check(cfg, st.study_vocabulary(omop, cfg), st.unreached_strength(cfg, omop, absent))
    assert check is not None
    return check, st.event_table_counts(omop, unreached=check).collect()[0].asDict()


def test_the_newuser_cut_with_drug_strength_counts_alike(spark, toy_exports, cut_counts):
    """Session 56 (helper "ancestor2"): where the stage reads drug_strength (a minimum daily dose set) the
    products it names a study ingredient for decide. On the cut toy export with Athena's drug_strength for
    its vocabulary every toy product is named after its ingredients and none is another ingredient's, so the
    drug_strength rule counts what the name rule did (chain and twin alike); notes name the rule. Before
    this helper: unreached_drug_check took no drug_strength (TypeError)."""
    cfg = _min_dose(toy_config(path=str(_with_strength(toy_exports))))
    check, counts = _strength_counts(spark, cfg)
    assert check.rule == st.UNREACHED_BY_STRENGTH
    assert counts[st.UNREACHED] == cut_counts[1][st.UNREACHED]
    assert counts[st.UNREACHED_NAMED] == 0  # every cut toy product has its ingredient's drug_strength row
    assert duckdb_twin().duckdb_drop_counts(str(cfg.omop.path), cfg, threads=1)["unreached_drug_records"] == {
        st.UNREACHED: counts[st.UNREACHED], st.UNREACHED_NAMED: 0}


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


# aripiprazole lauroxil (Aristada): its label's active ingredient, the prodrug in whose amount the strength is
# given (DailyMed / openFDA); where a vocabulary holds it as an ingredient of its own, its products are
# named after it ("aripiprazole lauroxil ...") and descend from it, not from aripiprazole
LAUROXIL, LAUROXIL_SYRINGE = 2_000_000_601, 2_000_000_602
# session 57 (helper "vocab"): products whose drug_strength rows lack the study ingredient's own row, each cut
# off that ingredient by concept_ancestor: bupropion / naltrexone with naltrexone's row only (naltrexone is no
# study ingredient), a second olanzapine / fluoxetine with olanzapine's row only (reached through olanzapine),
# a sertraline tablet whose one row names no ingredient (null), a citalopram tablet whose one row names a
# deprecated citalopram concept; and a sertraline tablet with a null-ingredient row that concept_ancestor
# still takes to sertraline (reached: not counted)
NALTREXONE, BUPROPION_NALTREXONE, OLZ_FLX_12 = 2_000_000_701, 2_000_000_702, 2_000_000_703
SERTRALINE_100, OLD_CITALOPRAM, CITALOPRAM_TAB, SERTRALINE_25 = (2_000_000_704, 2_000_000_705, 2_000_000_706,
                                                                  2_000_000_707)
SHAPES_CONCEPTS = [*CONCEPTS,
                   (LAUROXIL, "aripiprazole lauroxil", "Drug", "RxNorm", "Ingredient", "S", "x601"),
                   (LAUROXIL_SYRINGE, "aripiprazole lauroxil 441 MG in 1.6 ML Prefilled Syringe", "Drug", "RxNorm",
                    "Clinical Drug", "S", "x602"),
                   (NALTREXONE, "naltrexone", "Drug", "RxNorm", "Ingredient", "S", "x701"),
                   (BUPROPION_NALTREXONE, "bupropion hydrochloride 90 MG / naltrexone hydrochloride 8 MG Extended "
                    "Release Oral Tablet", "Drug", "RxNorm", "Clinical Drug", "S", "x702"),
                   (OLZ_FLX_12, "fluoxetine 50 MG / olanzapine 12 MG Oral Capsule", "Drug", "RxNorm", "Clinical Drug",
                    "S", "x703"),
                   (SERTRALINE_100, "sertraline 100 MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug", "S", "x704"),
                   (OLD_CITALOPRAM, "citalopram", "Drug", "RxNorm", "Ingredient", None, "x705", "U"),
                   (CITALOPRAM_TAB, "citalopram 20 MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug", "S", "x706"),
                   (SERTRALINE_25, "sertraline 25 MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug", "S", "x707")]
# the vocabulary's links: the lauroxil syringe under its own ingredient; cut: olanzapine / fluoxetine's
# fluoxetine row (still reached through olanzapine) and the aripiprazole tablet's only row; of session 57's
# products only naltrexone's, olanzapine's and the 25 MG sertraline tablet's rows are left
SHAPES_ANCESTRY = [*[(a, b) for a, b in ANCESTRY
                     if (a, b) not in {(FLUOXETINE, OLANZAPINE_FLUOXETINE), (ARIPIPRAZOLE, ARIPIPRAZOLE_TAB)}],
                   (LAUROXIL, LAUROXIL_SYRINGE), (NALTREXONE, BUPROPION_NALTREXONE), (OLANZAPINE, OLZ_FLX_12),
                   (SERTRALINE, SERTRALINE_25)]
# drug_strength: every product but the aripiprazole tablet (a partial drug_strength: the name rule decides it)
SHAPES_STRENGTH = [(SERTRALINE_TAB, SERTRALINE, 50.0), (OLANZAPINE_FLUOXETINE, OLANZAPINE, 6.0),
                   (OLANZAPINE_FLUOXETINE, FLUOXETINE, 25.0), (LAUROXIL_SYRINGE, LAUROXIL, 441.0),
                   (BUPROPION_NALTREXONE, NALTREXONE, 8.0), (OLZ_FLX_12, OLANZAPINE, 12.0),
                   (SERTRALINE_100, None, 100.0), (CITALOPRAM_TAB, OLD_CITALOPRAM, 20.0), (SERTRALINE_25, None, 25.0)]
# records: persons 1-3 the lauroxil syringe, 4-8 olanzapine / fluoxetine, 9-15 the aripiprazole tablet,
# 16-17 the sertraline tablet; session 57's: 18-21 bupropion / naltrexone, 22-24 the second olanzapine /
# fluoxetine, 25-26 the 100 MG sertraline tablet, 27-28 the citalopram tablet, 29-31 the 25 MG sertraline tablet
SHAPES = {LAUROXIL_SYRINGE: range(1, 4), OLANZAPINE_FLUOXETINE: range(4, 9), ARIPIPRAZOLE_TAB: range(9, 16),
          SERTRALINE_TAB: range(16, 18), BUPROPION_NALTREXONE: range(18, 22), OLZ_FLX_12: range(22, 25),
          SERTRALINE_100: range(25, 27), CITALOPRAM_TAB: range(27, 29), SERTRALINE_25: range(29, 32)}
SHAPE_PERSONS = range(1, 32)
# by name: the syringe (its name holds "aripiprazole", nothing reaches it) 3 and the tablet 7, bupropion /
# naltrexone 4 (no study set reaches it), the 100 MG sertraline 2 and the citalopram tablet 2 (the second
# olanzapine / fluoxetine is reached through olanzapine, the 25 MG sertraline through sertraline);
# by drug_strength: the combination (its fluoxetine row names a study ingredient that does not reach it) 5 and
# the tablet by name 7, and (session 57) per ingredient by name where no row names it: bupropion / naltrexone
# 4, the second olanzapine / fluoxetine 3 (fluoxetine), the 100 MG sertraline 2, the citalopram tablet 2
BY_NAME, BY_STRENGTH = 3 + 7 + 4 + 2 + 2, 5 + 7 + 4 + 3 + 2 + 2
# of BY_STRENGTH, the records a name decided (notes' n_drug_exposure_unreached_by_name): all but the combination's 5
BY_STRENGTH_NAMED = BY_STRENGTH - 5


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """The hand-built export of SHAPES (31 persons observed 2000..2023, one record each on 2020-01-01)."""
    root = tmp_path_factory.mktemp("ancestor2")
    pids = SHAPE_PERSONS
    write_omop_tables(root, {
        "person": [person(p) for p in pids], "observation_period": [obs(p) for p in pids],
        "drug_exposure": [drug(p, c, "2020-01-01") for c, ps in SHAPES.items() for p in ps],
        "drug_strength": SHAPES_STRENGTH, "concept": SHAPES_CONCEPTS,
        "concept_ancestor": [(a, b, 1, 1) for a, b in SHAPES_ANCESTRY]}, absent=("device_exposure",))
    return root


def test_drug_strength_decides_where_the_stage_reads_it(spark, shapes):
    """Session 56 (helper "ancestor2"). By name the aripiprazole lauroxil syringe (another ingredient's
    product whose name holds aripiprazole's) was counted and blamed on concept_ancestor, and olanzapine /
    fluoxetine without its fluoxetine row (read as olanzapine, never as the antidepressant fluoxetine) was
    not. With drug_strength (read under a minimum daily dose): the syringe 0, the combination 5, the tablet
    without a drug_strength row still by name 7; chain and twin alike. Before this helper: 10 with
    drug_strength too (the name rule only; unreached_drug_check took no drug_strength).
    Session 57 (helper "vocab"): a product whose drug_strength rows lack the study ingredient's own row (the
    other ingredient's only, a null ingredient, a deprecated ingredient concept) was decided by those rows and
    counted nowhere (12 on 6ff58c5, chain and twin); now by name per ingredient where no row names it
    (BY_STRENGTH 23, 18 of them by name), the syringe still 0 (its row names aripiprazole lauroxil, whose name
    holds aripiprazole's) and the reached 25 MG tablet 0."""
    plain = toy_config(path=str(shapes))
    for cfg, rule, want in ((plain, st.UNREACHED_BY_NAME, {st.UNREACHED: BY_NAME}),
                            (_min_dose(plain), st.UNREACHED_BY_STRENGTH,
                             {st.UNREACHED: BY_STRENGTH, st.UNREACHED_NAMED: BY_STRENGTH_NAMED})):
        check, counts = _strength_counts(spark, cfg)
        assert (check.rule, {k: v for k, v in counts.items() if k.startswith(st.UNREACHED)}) == (rule, want)
        assert duckdb_twin().duckdb_drop_counts(str(shapes), cfg, threads=1)["unreached_drug_records"] == want
        [line] = st.unreached_drug_warnings(want, None, rule=check.rule)
        assert ("drug_strength rows name a study ingredient" in line) == (rule == st.UNREACHED_BY_STRENGTH)
        assert (f"{BY_STRENGTH_NAMED} of them by name" in line) == (rule == st.UNREACHED_BY_STRENGTH)
        assert f"notes.unreached_drug_rule {rule}" in line


def test_drug_strength_is_used_only_where_the_stage_reads_it(spark):
    """The table is the stage's input only under a minimum daily dose (its rerun fingerprint): without one,
    or where the release lacks it (read_omop's absent list), the name rule counts."""
    omop = omop_tables(spark)
    cfg = toy_config()
    assert st.unreached_strength(cfg, omop, []) is None
    assert st.unreached_strength(_min_dose(cfg), omop, []) is omop["drug_strength"]
    assert st.unreached_strength(_min_dose(cfg), omop, ["drug_strength"]) is None


def test_a_condition_root_concept_ancestor_holds_no_row_for_is_warned(spark, toy_exports, tmp_path, caplog):
    """Session 56 (helper "ancestor2"): a condition set's root with no concept_ancestor row at all (not even
    Athena's level-0 self row) reads none of its sub-diagnoses. The toy table cut to its LAST 140 of 280 rows
    lost every study condition root's block (2,903 of 8,156 condition records at 3,000 persons lost their
    root, silently); its first 140 rows keep every root's rows (no line). Before this helper: no such
    check (AttributeError). The tests' trimmed vocabulary (a self row for its one root linking nothing) and
    the whole toy table: none."""
    import logging

    from pyspark.sql import functions as F

    cfg = toy_config()
    assert st.warn_unlinked_concepts(cfg, st.study_vocabulary(omop_tables(spark), cfg)) == {}
    omop = omop_tables(spark)
    omop["concept_ancestor"] = frame(spark, "concept_ancestor", [(a, b, 1, 1) for a, b in ANCESTRY if a != MDD_CONCEPT])
    with caplog.at_level(logging.WARNING, logger="trd_spark.phenotypes.stage"):
        assert st.warn_unlinked_concepts(cfg, st.study_vocabulary(omop, cfg)) == {
            "mdd": [f"concept_id {MDD_CONCEPT} (Major depressive disorder)"]}
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.startswith("phenotypes: concept set mdd: 1 condition reference(s)") and "self row" in line
    full, cut = toy_exports
    last = tmp_path / "concept_ancestor_last.parquet"
    table = pq.read_table(full / "concept_ancestor.parquet")
    pq.write_table(table.slice(CUT_ROWS), last)

    def unlinked(ancestor_path) -> dict[str, list[str]]:
        tables = {"concept": spark.read.parquet(str(full / "concept.parquet")),
                  "concept_ancestor": spark.read.parquet(str(ancestor_path))
                  .select(*[F.col(c).cast("long") for c in ("ancestor_concept_id", "descendant_concept_id")])}
        return st.warn_unlinked_concepts(cfg, st.study_vocabulary(tables, cfg))

    assert unlinked(full / "concept_ancestor.parquet") == {} and unlinked(cut / "concept_ancestor.parquet") == {}
    lost = unlinked(last)
    assert f"concept_id {MDD_CONCEPT} (Major depressive disorder)" in lost["mdd"], lost


def _cut_blocks(omop, cfg) -> dict[str, frozenset[int]]:
    """``condition_block_cuts`` as ``run`` computes it on ``omop``."""
    from trd_spark.phenotypes.concepts import closed_vocabulary

    vocab = st.study_vocabulary(omop, cfg)
    sets = [st._concept_set(cfg, n) for n in st.study_concept_set_names(cfg)]
    return st.condition_block_cuts(cfg, vocab, closed_vocabulary(sets, vocab, omop["concept"], omop["concept_ancestor"]))


def _cut_block_count(omop, cuts) -> int:
    """event_table_counts' CUT_BLOCK with ``cuts``' concepts, as ``run`` passes them."""
    ids = frozenset().union(*cuts.values())
    return int(st.event_table_counts(omop, cut_conditions=ids).collect()[0][st.CUT_BLOCK])


def test_a_condition_block_cut_in_part_is_counted_warned_and_gated(spark, toy_exports, tmp_path):
    """Session 57 (helper "vocab"): a concept_ancestor that lost some rows of a block but kept a member's rows
    (a lost part file of a sharded export) read sub-diagnoses as no member, silently (session 56's root check
    needs the root's every row gone). The toy table without (Depressive disorder, Recurrent / Single episode
    major depression), their (Major depressive disorder, ...) rows kept: Athena's table is transitively closed,
    so the lost rows are proven; depression_spectrum (Depressive disorder + Dysthymia) lost both concepts (mdd
    still reads them through its MDD reference). Their records (215 at 400 persons, by pyarrow) are counted,
    chain and twin alike, warned of, and stop the run (above 1% of the study condition records). The whole
    table and session 56's first-140 cut: nothing (no false flag). Before this helper: no such check
    (AttributeError)."""
    from trd_spark.toydata import vocabulary as tv

    full, first = toy_exports
    cfg = toy_config(path=str(full))
    assert _cut_blocks(st.read_omop(spark, cfg), cfg) == {}
    assert _cut_blocks(st.read_omop(spark, toy_config(path=str(first))), cfg) == {}
    cut = tmp_path / "lost_rows"
    cut.mkdir()
    lost = {(tv.DEPRESSIVE_DISORDER, tv.RECURRENT_MDD), (tv.DEPRESSIVE_DISORDER, tv.SINGLE_EPISODE_MDD)}
    for f in full.iterdir():
        table = pq.read_table(f)
        if f.name == "concept_ancestor.parquet":
            rows = table.to_pylist()
            keep = [(r["ancestor_concept_id"], r["descendant_concept_id"]) not in lost for r in rows]
            assert len(rows) - sum(keep) == 2
            table = table.filter(keep)
        pq.write_table(table, cut / f.name)
    cfg = toy_config(path=str(cut))
    omop = st.read_omop(spark, cfg)
    cuts = _cut_blocks(omop, cfg)
    assert cuts == {"depression_spectrum": frozenset({tv.RECURRENT_MDD, tv.SINGLE_EPISODE_MDD})}
    concepts = pq.read_table(full / "condition_occurrence.parquet").column("condition_concept_id").to_pylist()
    n = sum(c in (tv.RECURRENT_MDD, tv.SINGLE_EPISODE_MDD) for c in concepts)
    assert n >= cfg.report.small_count_threshold
    assert _cut_block_count(omop, cuts) == n
    twin = duckdb_twin().duckdb_drop_counts(str(cut), cfg, threads=1)
    assert twin["condition_block_records"] == {st.CUT_BLOCK: n}
    [line] = st.cut_block_warnings({st.CUT_BLOCK: n}, cuts, cfg.report.small_count_threshold)
    assert line.startswith(f"condition_occurrence: {n:,} record(s)") and "depression_spectrum (2 concept(s))" in line
    assert st.cut_block_warnings({st.CUT_BLOCK: 0}, {}, 20) == []
    # the gate: of those and the study condition records (every date), from 1%
    event_dates = {dom: twin[dom] for dom in st.EVENT_TABLES}
    quirks = {"persons": {"n_persons": PERSONS, "n_sex_other": 0, "n_no_observation_period": 0,
                          "n_persons_birth_year_implausible": 0},
              "drug_values": {"n_records": event_dates["drug"]["n_records"], "n_end_over_max_days": 0,
                              "n_days_supply_over_max": 0},
              st.CUT_BLOCK_PART: {st.CUT_BLOCK: n}}
    with pytest.raises(InputDataError, match=r"gate cut_condition_records: 20\+ of 20\+ condition_occurrence records"):
        st.data_gates(cfg, event_dates, quirks)
    quirks[st.CUT_BLOCK_PART] = {st.CUT_BLOCK: 0}
    assert st.data_gates(cfg, event_dates, quirks)["cut_condition_records"]["level"] == "ok"


# session 57: a deeper block in the tests' vocabulary, cut in part. Under MDD_CHILD (under MDD, under Depressive
# disorder) a grandchild whose rows from MDD and Depressive disorder are lost, its parent's kept; under
# DYSTHYMIA_CHILD (Dysthymia: excluded from mdd) a grandchild whose row from Dysthymia is lost, so mdd reads it;
# under MDD_CHILD a deprecated concept reached only through its parent's row (invalid: no member either way)
MDD_GRANDCHILD, DYSTHYMIA_GRANDCHILD, OLD_GRANDCHILD = 2_000_000_801, 2_000_000_802, 2_000_000_803

DEEP_CONCEPTS = [*CONCEPTS,
                 (MDD_CHILD, "Recurrent major depression", "Condition", "SNOMED", "Clinical Finding", "S", "x800"),
                 (DYSTHYMIA_CHILD, "Early onset dysthymia", "Condition", "SNOMED", "Clinical Finding", "S", "x804"),
                 (MDD_GRANDCHILD, "Recurrent major depression, severe", "Condition", "SNOMED", "Clinical Finding",
                  "S", "x801"),
                 (DYSTHYMIA_GRANDCHILD, "Early onset dysthymia, primary", "Condition", "SNOMED", "Clinical Finding",
                  "S", "x802"),
                 (OLD_GRANDCHILD, "Recurrent depression, old code", "Condition", "SNOMED", "Clinical Finding", None,
                  "x803", "D")]
DEEP_FULL = [*ANCESTRY, (DEPRESSIVE_DISORDER, MDD_GRANDCHILD), (MDD_CONCEPT, MDD_GRANDCHILD),
             (MDD_CHILD, MDD_GRANDCHILD), (DEPRESSIVE_DISORDER, DYSTHYMIA_GRANDCHILD), (DYSTHYMIA, DYSTHYMIA_GRANDCHILD),
             (DYSTHYMIA_CHILD, DYSTHYMIA_GRANDCHILD), (DEPRESSIVE_DISORDER, OLD_GRANDCHILD),
             (MDD_CONCEPT, OLD_GRANDCHILD), (MDD_CHILD, OLD_GRANDCHILD)]
DEEP_LOST = {(DEPRESSIVE_DISORDER, MDD_GRANDCHILD), (MDD_CONCEPT, MDD_GRANDCHILD), (DYSTHYMIA, DYSTHYMIA_GRANDCHILD),
             (DEPRESSIVE_DISORDER, OLD_GRANDCHILD), (MDD_CONCEPT, OLD_GRANDCHILD)}
# records: persons 1-3 the MDD grandchild (no MDD diagnosis on the cut table), 4-5 the dysthymia grandchild
# (an MDD diagnosis there), 6 MDD_CHILD (unchanged), 7 the deprecated grandchild (no member either way)
DEEP_RECORDS = {MDD_GRANDCHILD: range(1, 4), DYSTHYMIA_GRANDCHILD: range(4, 6), MDD_CHILD: range(6, 7),
                OLD_GRANDCHILD: range(7, 8)}


def test_an_include_and_an_exclude_block_cut_in_part_are_counted_by_chain_and_twin(spark, tmp_path):
    """Session 57 (helper "vocab"), by hand: on the cut table mdd lost the MDD grandchild (3 records) and
    gained the dysthymia grandchild its Dysthymia exclude lost (2); depression_spectrum lost the MDD grandchild
    (it reads the dysthymia one through Depressive disorder's kept row: unchanged). 5 records, chain and twin;
    the complete table: none. The deprecated grandchild joins no block (invalid, as load_vocabulary leaves it)."""
    out = {}
    for name, ancestry in (("full", DEEP_FULL), ("cut", [r for r in DEEP_FULL if r not in DEEP_LOST])):
        root = tmp_path / name
        root.mkdir()
        write_omop_tables(root, {
            "person": [person(p) for p in range(1, 8)], "observation_period": [obs(p) for p in range(1, 8)],
            "condition_occurrence": [cond(p, c, "2020-01-01") for c, ps in DEEP_RECORDS.items() for p in ps],
            "concept": DEEP_CONCEPTS, "concept_ancestor": [(a, b, 1, 1) for a, b in ancestry]})
        cfg = toy_config(path=str(root))
        omop = st.read_omop(spark, cfg)
        cuts = _cut_blocks(omop, cfg)
        twin = duckdb_twin().duckdb_drop_counts(str(root), cfg, threads=1)["condition_block_records"][st.CUT_BLOCK]
        out[name] = (cuts, _cut_block_count(omop, cuts), twin)
    assert out["full"] == ({}, 0, 0)
    assert out["cut"] == ({"mdd": frozenset({MDD_GRANDCHILD, DYSTHYMIA_GRANDCHILD}),
                           "depression_spectrum": frozenset({MDD_GRANDCHILD})}, 5, 5)
