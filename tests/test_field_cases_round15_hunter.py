"""Field cases, round 15 (session 25, helper "hunter"): new variants of the known kinds that
gave a silent wrong answer on 03d83c4.

- Drug records the rules must not read as written (round 13's kind: a NEGATIVE days_supply,
  a claim reversal's shape, is no exposure): the rule was applied to the antidepressant trials
  only. A reversed aripiprazole record after the second adequate trial made the person
  ``ad2_augmentation`` TRD, a reversed esketamine record ``somatic`` TRD. Augmentation and
  somatic drug events now skip such records as the trials do (``trials.is_exposure_expr``);
  the person is still no control. Spark and the DuckDB twin alike. The manifest's
  ``notes.quirks.antidepressant_exposures`` counted such records as kept rows as well
  (n_exposures, n_duplicates_removed: "what derive_ingredient_exposures keeps", which drops
  them), so its counts did not add up to the exposures the trials were built from.

Tiny inputs built inline on the session's Spark; expected values by hand from README "Study
rules" (cutoff 2023-07-01 of the toy config, observation to 2023-12-31).
"""

from __future__ import annotations

from test_phenotypes_support import (
    ARIPIPRAZOLE_TAB,
    ESKETAMINE_SPRAY,
    FLUOXETINE_CAP,
    MDD_CONCEPT,
    SERTRALINE,
    SERTRALINE_TAB,
    concept_set,
    cond,
    d,
    drug,
    frame,
    obs,
    omop_tables,
    person,
    toy_config,
)

from trd_spark.phenotypes.concepts import ingredient_frame, ingredient_map, load_vocabulary
from trd_spark.phenotypes.stage import derive_phenotype_tables
from trd_spark.phenotypes.trials import derive_ingredient_exposures, exposure_record_counts

INDEX, END = "2019-01-10", "2023-07-01"  # 2 MDD dates (01-10, 02-10); follow-up to the cutoff


def _mdd_with_two_trials(p: int) -> tuple[list, list]:
    """MDD index 2019-01-10; sertraline 2019-02-01 and fluoxetine 2019-05-01, 60 days each
    (adequate: >= 42 days, on/after the index): the second trial starts 2019-05-01."""
    return ([cond(p, MDD_CONCEPT, day) for day in (INDEX, "2019-02-10")],
            [drug(p, SERTRALINE_TAB, "2019-02-01", days_supply=60), drug(p, FLUOXETINE_CAP, "2019-05-01", days_supply=60)])


def _statuses(spark, persons, conditions, drugs) -> dict[tuple[int, str], tuple]:
    omop = omop_tables(spark, persons=persons, observation_periods=[obs(r[0]) for r in persons],
                       conditions=conditions, drugs=drugs)
    rows = derive_phenotype_tables(omop, toy_config()).phenotypes.collect()
    return {(r.person_id, r.definition): (r.status, r.exclusion_reason, r.trd_onset_date, r.time_to_trd_days,
                                          r.n_adequate_trials) for r in rows}


def test_a_reversed_augmentation_or_esketamine_record_is_no_trd_onset(spark):
    """By hand (1633 days from the index to the cutoff):
    1: two adequate trials, then aripiprazole 2019-06-01 with days_supply -30 (a reversal): no
       augmentation -> ad2_augmentation trMDD (was TRD at 2019-06-01 on 03d83c4);
    2: the same with esketamine days_supply -1 -> somatic trMDD (was TRD at 2019-06-01);
    3: aripiprazole 2019-07-01 with days_supply 30 -> ad2_augmentation TRD at 2019-07-01 (172 d);
    4: esketamine 2019-07-01 with days_supply 0 (unknown, still an exposure) -> somatic TRD (172 d);
    5: no depression code, only a reversed esketamine record -> still no control
       (excluded antidepressant_no_mdd, docs/phenotypes.md "Controls are clean over the whole record")."""
    conditions, drugs = [], []
    for p in (1, 2, 3, 4):
        c, dr = _mdd_with_two_trials(p)
        conditions += c
        drugs += dr
    drugs += [drug(1, ARIPIPRAZOLE_TAB, "2019-06-01", days_supply=-30),
              drug(2, ESKETAMINE_SPRAY, "2019-06-01", days_supply=-1),
              drug(3, ARIPIPRAZOLE_TAB, "2019-07-01", days_supply=30),
              drug(4, ESKETAMINE_SPRAY, "2019-07-01", days_supply=0),
              drug(5, ESKETAMINE_SPRAY, "2019-07-01", days_supply=-28)]
    got = _statuses(spark, [person(p) for p in (1, 2, 3, 4, 5)], conditions, drugs)
    trmdd = ("trMDD", None, None, 1633, 2)
    assert got[(1, "ad2_augmentation")] == trmdd
    assert got[(2, "somatic")] == trmdd
    assert got[(3, "ad2_augmentation")] == ("TRD", None, d("2019-07-01"), 172, 2)
    assert got[(4, "somatic")] == ("TRD", None, d("2019-07-01"), 172, 2)
    for p, definition in ((1, "somatic"), (2, "ad2_augmentation"), (3, "somatic"), (4, "ad2_augmentation")):
        assert got[(p, definition)] == trmdd, (p, definition)
    assert all(got[(p, "ad3")] == trmdd for p in (1, 2, 3, 4))
    assert {got[(5, x)][:2] for x in ("ad3", "ad2_augmentation", "somatic")} == {("excluded", "antidepressant_no_mdd")}


def test_exposure_counts_leave_out_reversed_records_as_the_exposures_do(spark):
    """Sertraline 2020-01-01 (30 days) for persons 1 and 2; 1 has a reversal (days_supply -30)
    on 2020-02-01, 2 on the same day as the order. By hand: 4 records, 2 exposures (the
    reversals are none), no duplicate removed; 4 = 0 below the minimum + 2 + 0 + 2 reversals.
    On 03d83c4: n_exposures 3 (1's reversal) and n_duplicates_removed 1 (2's), while
    derive_ingredient_exposures kept 2."""
    t = omop_tables(spark)
    cs = concept_set("antidepressants")
    ingredients = ingredient_frame(spark, ingredient_map(cs, load_vocabulary([cs], t["concept"], t["concept_ancestor"])))
    drugs = frame(spark, "drug_exposure", [
        drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=30), drug(1, SERTRALINE_TAB, "2020-02-01", days_supply=-30),
        drug(2, SERTRALINE, "2020-01-01", days_supply=30), drug(2, SERTRALINE_TAB, "2020-01-01", days_supply=-30)])
    counts = exposure_record_counts(drugs, ingredients).first().asDict()
    assert counts == {"n_records": 4, "n_below_min_dose": 0, "n_dose_unknown": 0, "n_exposures": 2,
                      "n_duplicates_removed": 0}
    assert derive_ingredient_exposures(drugs, ingredients, 30).count() == counts["n_exposures"]
