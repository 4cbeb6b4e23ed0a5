"""Session 51, helper "cohortgaps": three silent gaps of the cohort and phenotype stages.

1. A quantified liquid's daily dose (``phenotypes.stage.strength_per_unit_exprs``). drug_strength gives a
   quantified liquid ("60 ML sertraline 20 MG/ML Oral Solution") as numerator 1,200 mg per denominator 60 mL. The
   minimum-dose rule read its quantity as items only (OHDSI DrugUtilisation's quantity x numerator), while US
   pharmacy data give a liquid's quantity in mL (NCPDP billing unit), also for a bottle's NDC: 120 mL over 60
   days read 120 bottles, 2,400 mg a day instead of 40, a dose "known" to reach a 50 mg minimum, uncounted.
   Now ``trials.quantified_liquid_quantity`` says what quantity counts: items, ml (quantity x numerator /
   denominator), or items_or_ml (default: below the minimum only when both readings are, known only when both
   reach it, else unknown: counts, counted). Chain and DuckDB twin.
2. A person without a usable age (no value, NaN, below 0 or above 120 years; an MDD person without an index
   age) reached the analysis frame from a persons / phenotypes pair not of one run, and every fit with an
   age covariate left them out as an incomplete case, noted without a count. Now the cohort stage refuses
   such a frame (``cohort.stage.check_frame_ages``) and the models' pre-check refuses it (pandas and Spark).
3. The privacy hunter's "with genetic ancestry and PCs" step (tests/export_hunter.py) took every unrelated
   person with a row in the ancestry file; the pipeline's step (``cohort.stage.dataset_counts``) leaves out
   persons without a group or a PC. The two agree now, and persons of the file outside the cohort change
   no step of either.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from test_phenotypes_support import STATUS_COLUMNS, toy_config

from trd_spark.phenotypes.stage import (
    derive_phenotype_tables,
    dose_form_ids,
    read_omop,
    stage_counts,
    study_vocabulary,
)

ROUND43 = Path(__file__).resolve().parent / "data" / "field_cases_round43" / "liquid-doses" / "omop"
SERTRALINE, QUETIAPINE = 739138, 766814
BOTTLE = 2000004302  # 60 ML sertraline 20 MG/ML (numerator 1,200 mg, denominator_value 60 mL)
MG, ML = 8576, 8587


def liquid_case(root: Path) -> Path:
    """Field case round 43's liquid-doses release plus person 4313, drawn by hand: 4301's timeline (born
    1970-01-01, female, observed 2005-2023, MDD on 2019-01-10 and 2019-02-10, fluoxetine 2019-02-01 and
    citalopram 2019-05-01, 60 days each: two adequate trials) whose sertraline course from 2019-08-01 (60 days)
    is the quantified bottle with quantity 120: 2 bottles' mL (40 mg/day) or 120 bottles (2,400 mg/day).
    The case's 4303 has quantity 3 of the bottle (60 mg/day as bottles, 1 as mL), 4304 quantity 1 (20 / 0.33)."""
    out = root / "omop"
    shutil.copytree(ROUND43, out)
    for f in out.glob("*.parquet"):
        t = pd.read_parquet(f)
        new = t[t.person_id == 4301].copy() if "person_id" in t.columns else t.iloc[:0]
        if new.empty:  # left as written (an empty table's column types)
            continue
        new["person_id"] = 4313
        if f.stem == "drug_exposure":
            course = new.drug_concept_id == 2000004301
            new.loc[course, "drug_concept_id"] = BOTTLE
            new.loc[course, "quantity"] = 120.0
        pd.concat([t, new], ignore_index=True).to_parquet(f, index=False)
    return out


@pytest.fixture(scope="module")
def liquid_runs(spark, tmp_path_factory):
    """The case through the chain (with stage_counts' quirks) and the DuckDB twin under the default
    items_or_ml and under ml, minimum {sertraline: 50, quetiapine: 150}: reading -> {"chain", "twin": ad3
    rows of 4303, 4304, 4313 as (person_id, status, n_adequate_trials), "quirks"}."""
    benchmarks = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    from duckdb_phenotypes import duckdb_phenotypes_and_drop_counts

    root = tmp_path_factory.mktemp("cohortgaps_liquid")
    omop_dir = liquid_case(root)
    runs = {}
    for reading in ("items_or_ml", "ml"):
        cfg = toy_config(path=str(omop_dir))
        trials = cfg.phenotypes.trials.model_copy(update={
            "ingredient_min_daily_dose": {SERTRALINE: 50.0, QUETIAPINE: 150.0}, "quantified_liquid_quantity": reading})
        cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"trials": trials})})
        omop = read_omop(spark, cfg)
        tables = derive_phenotype_tables(omop, cfg)
        keep = (4303, 4304, 4313)
        chain = sorted((r.person_id, r.status, r.n_adequate_trials) for r in tables.phenotypes
                       .where("definition = 'ad3'").select(*STATUS_COLUMNS).collect() if r.person_id in keep)
        _, quirks = stage_counts(omop, tables.persons, tables.study_events, tables.ingredients,
                                 cfg.omop.data_cutoff_date, trials.max_days_supply,
                                 augmentation=tables.augmentation_ingredients,
                                 dose_forms=dose_form_ids(cfg, study_vocabulary(omop, cfg)))
        out = root / f"twin_{reading}.parquet"
        duckdb_phenotypes_and_drop_counts(str(omop_dir), cfg, str(out), threads=1)
        con = duckdb.connect()
        try:
            twin = sorted(tuple(r) for r in con.execute(
                f"SELECT person_id, status, n_adequate_trials FROM read_parquet('{out}') WHERE definition = 'ad3' "
                f"AND person_id IN {keep}").fetchall())
        finally:
            con.close()
        runs[reading] = {"chain": chain, "twin": twin, "quirks": quirks}
    return runs


def test_a_quantified_liquid_whose_quantity_may_be_ml_is_of_unknown_dose_by_default(liquid_runs):
    """items_or_ml: 4313 (120 of the 60 mL bottle) and 4303 (3 of it) reach 50 mg/day as bottles only: unknown
    dose, counted, the course counts (ad3 TRD, 3 trials); 4304 (1 bottle: 20 or 0.33 mg/day) is below either
    way (trMDD, 2 trials). Below: 4301's 40 mg/day solution and 4304; unknown: round 43's four (4305-4307,
    4311) and 4303, 4313. Before this session (no amount_value_low): 4313 and 4303 read 2,400 and 60 mg/day,
    known, and n_dose_unknown was 4."""
    run = liquid_runs["items_or_ml"]
    expected = [(4303, "TRD", 3), (4304, "trMDD", 2), (4313, "TRD", 3)]
    assert run["chain"] == expected
    assert run["twin"] == expected
    counts = run["quirks"]["antidepressant_exposures"]
    assert (counts["n_below_min_dose"], counts["n_dose_unknown"]) == (2, 6), counts


def test_a_quantified_liquid_read_as_ml_gives_its_mg_per_ml(liquid_runs):
    """``trials.quantified_liquid_quantity: ml``: quantity x numerator / denominator, 4313's 120 mL = 40 mg/day
    and 4303's 3 mL = 1 mg/day are below 50: no third trial (trMDD, 2 trials), chain and twin alike; below 4
    (4301, 4303, 4304, 4313). Before: the key was unknown (a config error) and the bottle read as items."""
    run = liquid_runs["ml"]
    expected = [(4303, "trMDD", 2), (4304, "trMDD", 2), (4313, "trMDD", 2)]
    assert run["chain"] == expected
    assert run["twin"] == expected
    counts = run["quirks"]["antidepressant_exposures"]
    assert (counts["n_below_min_dose"], counts["n_dose_unknown"]) == (4, 4), counts


@pytest.mark.parametrize(("reading", "high", "low"), [
    ("items", 1200.0, None), ("ml", 20.0, None), ("items_or_ml", 1200.0, 20.0)], ids=["items", "ml", "items_or_ml"])
def test_mg_per_unit_of_a_quantified_liquid_by_what_its_quantity_counts(spark, reading, high, low):
    """``drug_strength_amount_bounds`` on a quantified bottle (1,200 mg per 60 mL), a non-quantified solution (20
    mg per mL: 20 under every reading), a denominator of 0 (no mg per unit) and a tablet (50 mg). Before this
    session there was no denominator_value read and the bottle was 1,200 mg per unit of quantity whatever it
    counted."""
    from trd_spark.phenotypes.stage import drug_strength_amount_bounds

    rows = [(1, 9, None, None, 1200.0, MG, 60.0, ML, None), (2, 9, None, None, 20.0, MG, None, ML, None),
            (3, 9, None, None, 20.0, MG, 0.0, ML, None), (4, 9, 50.0, MG, None, None, None, None, None)]
    ds = spark.createDataFrame(rows, "drug_concept_id long, ingredient_concept_id long, amount_value double, "
                                     "amount_unit_concept_id long, numerator_value double, numerator_unit_concept_id "
                                     "long, denominator_value double, denominator_unit_concept_id long, box_size int")
    highs, lows = drug_strength_amount_bounds(ds, [(d, 9, "x") for d in (1, 2, 3, 4)], {9: 50.0}, reading)
    assert highs == {(1, 9): high, (2, 9): 20.0, (4, 9): 50.0}
    assert lows == ({} if low is None else {(1, 9): low})


# ---------------------------------------------------------------- 2. a person without a usable age

def _frame_rows(cfg, ages: list[tuple[str, float | None, float | None]]) -> pd.DataFrame:
    """An analysis frame (one dataset, definition ad3) of one row per (status, age, age_at_index), the
    covariates of ``cfg`` (sex, PCs) and a PGS filled in."""
    from trd_spark.models.covariates import pc_columns

    rows = [{"dataset": "discovery", "definition": "ad3", "person_id": 100 + i, "status": s, "age": a,
             "age_at_index": ai, "sex_female": i % 2, "time_to_trd_days": 100 if s != "non_MDD" else None,
             "trd_event": int(s == "TRD") if s != "non_MDD" else None,
             **{pc: 0.01 * i for pc in pc_columns(cfg.covariates.n_pcs)}, "PGS000001": 0.1 * i}
            for i, (s, a, ai) in enumerate(ages)]
    return pd.DataFrame(rows)


PLAUSIBLE = [("TRD", 50.0, 40.0), ("trMDD", 60.0, 45.0), ("non_MDD", 30.0, None)]


@pytest.mark.parametrize(("bad", "column"), [
    (("trMDD", None, 45.0), "age"), (("non_MDD", float("nan"), None), "age"),
    (("MDD_other", 55.0, None), "age_at_index"), (("TRD", 55.0, float("nan")), "age_at_index")],
    ids=["age_null", "age_nan", "index_age_null", "index_age_nan"])
def test_the_models_refuse_an_analysed_person_without_an_age(bad, column):
    """``logistic.check_analysis_frame`` (the logistic and Cox grids' pre-check): an analysed person with a null or
    NaN age, or an MDD person without an index age, is one ModelError naming the column; a non-MDD person's
    empty index age is the design (no index). Before session 51 only the range was checked (min/max skip a null):
    such a person reached every fit and was left out as an incomplete case, noted without a count."""
    from trd_spark.config import load_config
    from trd_spark.errors import ModelError
    from trd_spark.models.covariates import COX_AGE, covariate_columns
    from trd_spark.models.logistic import check_analysis_frame

    cfg = load_config()
    covariates = covariate_columns(cfg, age="age" if column == "age" else COX_AGE)
    check_analysis_frame(_frame_rows(cfg, PLAUSIBLE), covariates)  # a non-MDD person's empty index age: fine
    with pytest.raises(ModelError, match=f"analysis_frame.{column}.*without a value of the age covariate"):
        check_analysis_frame(_frame_rows(cfg, [*PLAUSIBLE, bad]), covariates)


def test_the_distributed_models_and_the_cohort_stage_refuse_an_analysed_person_without_an_age(spark):
    """The Spark path of the same check (``distributed._model_columns``: one aggregation per status) and the
    cohort stage's ``check_frame_ages`` over the written frame: an MDD person without an index age and an
    analysed person aged 130 (above vocabulary.MAX_PLAUSIBLE_AGE_YEARS) are refused, the message counting
    persons as labels (<20), never an ID; the plausible frame passes. Before session 51 there was no
    ``check_frame_ages`` and the Spark path checked the ranges only."""
    from trd_spark.cohort.stage import check_frame_ages
    from trd_spark.config import load_config
    from trd_spark.errors import InputDataError, ModelError
    from trd_spark.models.covariates import COX_AGE
    from trd_spark.models.distributed import _model_columns

    cfg = load_config()
    ok = spark.createDataFrame(_frame_rows(cfg, PLAUSIBLE))
    no_index = spark.createDataFrame(_frame_rows(cfg, [*PLAUSIBLE, ("trMDD", 55.0, float("nan"))]))
    _model_columns(ok, cfg, age=COX_AGE)
    check_frame_ages(ok, persons_below=20)
    with pytest.raises(ModelError, match="analysis_frame.age_at_index"):
        _model_columns(no_index, cfg, age=COX_AGE)
    with pytest.raises(InputDataError, match=r"<20 analysed person\(s\) without a usable age") as e:
        check_frame_ages(no_index, persons_below=20)
    assert "phenotypes/phenotypes.age_at_index" in str(e.value) and "103" not in str(e.value)
    old = spark.createDataFrame(_frame_rows(cfg, [*PLAUSIBLE, ("non_MDD", 130.0, None)]))
    with pytest.raises(InputDataError, match="age_at_observation_end"):
        check_frame_ages(old, persons_below=20)


# ---------------------------------------------------------------- 1. the flow's "with genetic ancestry" step

def _ancestry_file() -> pd.DataFrame:
    """AoU's ancestry_preds.tsv columns as text, drawn by hand (3 PCs): persons 1-30 of the cohort and 101-110 of
    the file only (their pc1 empty: they must change no step). Person 3 lacks pc3 (an empty element), 4 has pc1
    'nan', 5 no ancestry_pred (empty: Spark's CSV reader gives null), 6 lacks pc2; the others have all three."""
    def pcs(i: int, missing: int | None = None, value: str = "") -> str:
        vals = [f"{0.01 * i + k:.3f}" for k in range(3)]
        if missing is not None:
            vals[missing] = value
        return "[" + ", ".join(vals) + "]"

    special = {3: ("eur", pcs(3, 2)), 4: ("eur", pcs(4, 0, "nan")), 5: (None, pcs(5)), 6: ("afr", pcs(6, 1))}
    rows = [(str(i), *special.get(i, ("eur" if i % 2 else "afr", pcs(i)))) for i in range(1, 31)]
    rows += [(str(i), "eur", pcs(i, 0)) for i in range(101, 111)]
    return pd.DataFrame(rows, columns=["research_id", "ancestry_pred", "pca_features"])


@pytest.mark.parametrize(("standardisation", "expected"), [("overall", 25), ("ancestry", 24), ("pc_adjusted", 25)])
def test_the_hunters_with_ancestry_step_is_the_pipelines(spark, standardisation, expected):
    """The cohort flow's "with genetic ancestry and PCs" step: ``cohort.stage.dataset_counts`` (the pipeline)
    and ``export_hunter.with_ancestry_step`` (the privacy hunter's rebuild, written apart) agree on 30
    genotyped persons (29 and 30 flagged as related) and an ancestry file that also holds 10 persons of no
    dataset: 28 unrelated, less 3 (pc3), 4 (pc1 nan) and 6 (pc2) under every standardisation, less 5 (no
    group) under ancestry; under pc_adjusted (pc1, pc2 standardise) 4 and 6 leave as ungrouped and 3 for its
    covariate pc3. The file's other persons change no step (the counts are the same without them). Before
    session 51 the hunter took every unrelated person with a row in the file (28): a mismatch on data
    with missing PCs."""
    from export_hunter import with_ancestry_step

    from trd_spark.cohort.frame import derive_ancestry
    from trd_spark.cohort.stage import dataset_counts, left_out_of_standardisation

    n_pcs, std_n = 3, 2
    cov_pcs = [f"pc{i + 1}" for i in range(n_pcs)]
    file = _ancestry_file()
    wide = spark.createDataFrame([(i,) for i in range(1, 31)], "person_id long")
    unrelated = wide.where("person_id < 29")
    persons = spark.createDataFrame([(i,) for i in range(1, 200)], "person_id long")

    def pipeline(rows: pd.DataFrame) -> dict[str, int]:
        ancestry = derive_ancestry(spark.createDataFrame(rows), n_pcs)
        std_pcs = cov_pcs[:std_n] if standardisation == "pc_adjusted" else []
        ungrouped, _ = left_out_of_standardisation(ancestry, standardisation, std_pcs)
        return dataset_counts(wide, unrelated, ancestry.select("person_id", *cov_pcs), persons, ungrouped, cov_pcs)

    steps = pipeline(file)
    assert (steps["n_genotyped"], steps["n_unrelated"], steps["n_with_ancestry"]) == (30, 28, expected)
    assert pipeline(file[file.research_id.astype(int) < 100]) == steps
    hunted = with_ancestry_step(set(range(1, 29)), file, n_pcs, standardisation, std_n)
    assert len(hunted) == expected and hunted <= set(range(1, 29))
    old_rule = set(range(1, 29)) & set(file.research_id.astype(int))  # the hunter before session 51
    assert len(old_rule) == 28
