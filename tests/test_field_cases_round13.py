"""Field cases, round 13 (session 23): known kinds of fault in shapes the earlier rounds did not try.

- drug_exposure days_supply that the CDM does not allow or that means "unknown" (OMOP kind
  'records the rules must not read as written'). A NEGATIVE days_supply (a claim reversal in
  most sources) fell back to the default 30-day exposure: a drug perhaps never taken counted
  towards an adequate trial. OHDSI's ratified convention (Themis, "negative days_supply": the
  CDM forbids it; the record is dropped as it is unknown whether the patient took the drug)
  makes it no exposure; its person is still no control (the control rule reads every record).
  days_supply 0 (what many EHR ETLs write for "unknown") keeps the default length. Both, and an
  end before the start, are counted in notes.quirks.drug_records with one WARNING each.
- With ``trials.use_refills``, days_supply x (1 + refills) was never held to
  ``max_days_supply``: 90 days x 12 authorised refills made a 1,170-day exposure (a trial
  running three years on one order), and an int overflow of the product could give any date.
  A course over the limit now uses the record's own days_supply (the refills are the
  implausible part), counted as n_refill_course_over_max. Spark and the DuckDB twin alike
  (tests/test_phenotypes_duckdb.py compares the counts and the trials on generated data).
- Unplaced variants (chromosome 0) of a .bim / .pvar / BGEN (round 12: read, left unmatched,
  one WARNING) were counted in the log only: the pgs manifest now has them too
  (notes.unplaced_variants, dataset -> variant rows), so a release whose array data lost many
  placements is seen where the other counts are.
"""

from __future__ import annotations

import pytest
from test_phenotypes_support import SERTRALINE_TAB, concept_set, d, drug, frame, omop_tables

from trd_spark.config import TrialSettings
from trd_spark.phenotypes.concepts import ingredient_frame, ingredient_map, load_vocabulary
from trd_spark.phenotypes.stage import DRUG_RECORD_QUIRK_TEXT, drug_record_quirks
from trd_spark.phenotypes.trials import derive_ingredient_exposures


@pytest.fixture(scope="module")
def ingredients(spark):
    t = omop_tables(spark)
    cs = concept_set("antidepressants")
    return ingredient_frame(spark, ingredient_map(cs, load_vocabulary([cs], t["concept"], t["concept_ancestor"])))


def _exposure_ends(spark, ingredients, rows, settings):
    """person_id -> exposure end date (one exposure per person here), or absent: no exposure."""
    df = derive_ingredient_exposures(frame(spark, "drug_exposure", rows), ingredients, settings.default_days_supply,
                                     use_verbatim_end_date=settings.use_verbatim_end_date,
                                     use_refills=settings.use_refills, max_days_supply=settings.max_days_supply)
    return {r.person_id: r.exposure_end_date for r in df.collect()}


# One order started 2020-01-01 per person (end = start, as an EHR order row), by hand:
ROWS = [
    drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=90, refills=3),  # 360-day course: used
    drug(2, SERTRALINE_TAB, "2020-01-01", days_supply=90, refills=4),  # 450 > 365: days_supply alone
    drug(3, SERTRALINE_TAB, "2020-01-01", days_supply=90, refills=2**31 - 1),  # int overflow before
    drug(4, SERTRALINE_TAB, "2020-01-01", days_supply=-30),  # negative: no exposure
    drug(5, SERTRALINE_TAB, "2020-01-01", end="2020-02-29", days_supply=-60),  # negative, end after start: none
    drug(6, SERTRALINE_TAB, "2020-01-01", days_supply=0),  # unknown: the default 30 days
    drug(7, SERTRALINE_TAB, "2020-01-01", end="2019-12-01", days_supply=0, refills=2),  # end before start, 0
]


def test_refill_courses_over_max_days_supply_and_negative_days_supply(spark, ingredients):
    """use_refills on, max_days_supply 365 (default): 1 runs its 360-day course (2020-12-25);
    2's 450-day course and 3's (2**31 refills: 90 x 2**31 overflowed a 32-bit int) are over the
    limit: 90 days, 2020-03-30; 4 and 5 (negative days_supply, even beside an end date after the
    start) are no exposure; 6 and 7 (days_supply 0) the default 30 days, 2020-01-30.
    On 622bca3: 2 ended 2021-03-25, 3 on a date of the overflow, 4, 5 were 30-day exposures."""
    got = _exposure_ends(spark, ingredients, ROWS, TrialSettings(use_refills=True))
    assert got == {1: d("2020-12-25"), 2: d("2020-03-30"), 3: d("2020-03-30"), 6: d("2020-01-30"), 7: d("2020-01-30")}
    # refills switched off (the default): every positive order is its days_supply; negatives still none
    off = _exposure_ends(spark, ingredients, ROWS, TrialSettings())
    assert off == {1: d("2020-03-30"), 2: d("2020-03-30"), 3: d("2020-03-30"), 6: d("2020-01-30"), 7: d("2020-01-30")}


def test_each_drug_record_quirk_is_counted_and_said_what_it_becomes(spark):
    """notes.quirks.drug_records over the rows above (refills read: use_refills on): 1 end before
    start (7), 2 negative (4, 5), 2 zero (6, 7), 2 refill courses over 365 days (2, 3; 1's 360 is
    not). With a limit of 360 days 1 is not over either (360 <= 360); with 359 it is. Every
    count has its WARNING text (stage.DRUG_RECORD_QUIRK_TEXT)."""
    rows = frame(spark, "drug_exposure", ROWS)
    got = drug_record_quirks(rows, 365).collect()[0].asDict()
    assert got == {"n_end_before_start": 1, "n_negative_days_supply": 2, "n_negative_quantity": 0,
                   "n_zero_days_supply": 2,
                   "n_refill_course_over_max": 2, "n_negative_refills": 0, "n_administration_one_day": 0,
                   "n_mail_order_default": 0, "n_verbatim_end_not_after_start": 0}
    assert drug_record_quirks(rows, 360).collect()[0]["n_refill_course_over_max"] == 2
    assert drug_record_quirks(rows, 359).collect()[0]["n_refill_course_over_max"] == 3
    assert set(DRUG_RECORD_QUIRK_TEXT) == set(got)


SCORE_HEADER = ("#pgs_id=PGS913001\n#genome_build=GRCh38\n#weight_type=beta\n"
                "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n")


def test_unplaced_chromosome_0_rows_are_counted_in_the_pgs_manifest_notes(hl, spark, tmp_path):
    """The round-12 fileset (plink2 .bed of 3 chr1 variants, rows 2-3 moved to chromosome 0)
    matched by the stage's match_dataset (native route: the .bim index, no Hail job): a score of
    chr1:1000 A>G (matched) and chr1:2000 C>T (its row is now unplaced: not found). The
    dataset's match keeps the count (2), which the manifest's notes.unplaced_variants takes
    (unplaced_variant_counts); a dataset without such rows is left out. On 622bca3 the count
    was in the WARNING only (no such field or note)."""
    from test_field_cases_pgs import case_config
    from test_field_cases_round12 import unplaced_fileset

    from trd_spark.pgs import stage

    prefix, _ = unplaced_fileset(tmp_path)
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "PGS913001.txt").write_text(SCORE_HEADER + "1\t1000\tG\tA\t0.5\n1\t2000\tT\tC\t0.25\n")
    cfg = case_config(tmp_path, prefix, f"{tmp_path}/scores/*", fmt="plink")
    r = stage.match_dataset(hl, spark, cfg, "d", stage.load_scoring_files(spark, cfg, "GRCh38"))
    assert r.unplaced_variants == 2
    assert r.summary[["n_variants", "n_matched"]].values.tolist() == [[2, 1]]
    assert stage.unplaced_variant_counts([r, stage.DatasetMatches("e", r.summary, [], r.frame)]) == {"d": 2}
