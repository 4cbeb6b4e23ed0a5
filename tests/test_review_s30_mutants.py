"""Mutation review of session 30's code (session 31 helper "review"): each test here fails on a
hand mutant of session 30's code that every existing test let pass, and passes on HEAD.

The mutants (one each, in a copy of the tree) and the tests that now catch them:
- worker_daemon.main keeping the dropped archives' importers in ``sys.path_importer_cache``
  (each task's ``importlib.invalidate_caches()`` re-reads every cached zipimporter's archive
  directory, so the per-task cost 55f6c1f removed comes back with nothing on ``sys.path``):
  ``test_a_local_worker_caches_no_importer_of_sparks_archives``.
- covariates.check_age_ranges refusing from -1 or above 121 years only (9bbc0b8's bounds are
  0..120 inclusive): ``test_the_models_age_bounds_are_0_and_120_inclusive``.
- pgs stage check_ft_failed warning above ``pgs.ft_failed_warn`` only (the key and the message
  say "at or above"), or deciding a hidden count on the least count of its label (the WARNING
  must be decided on the largest share a count of the label leaves, as gates.py's person gates
  do, and say so): ``test_the_ft_warning_is_at_or_above_the_level`` and
  ``test_a_hidden_ft_count_warns_when_its_label_can_reach_the_level``.
"""

from __future__ import annotations

import logging
import os
import re
import types

import pytest
from test_field_cases_round20_sex import sex_case  # noqa: F401 - the round's VCF, sex and scores (fixture)

from trd_spark.errors import ModelError


def test_a_local_worker_caches_no_importer_of_sparks_archives(spark):
    """A task of the shared session (local master: ``trd_spark.worker_daemon``): no entry of the
    worker's ``sys.path_importer_cache`` is, or lies inside, an archive under SPARK_HOME.
    ``importlib.invalidate_caches()`` (pyspark's worker, before every task) calls every cached
    finder's ``invalidate_caches``, and Python 3.11's zipimporter re-reads its whole archive
    directory then: a zipimporter left in the cache costs the task what an archive on
    ``sys.path`` did, though ``sys.path`` no longer lists it (mutant: the daemon drops the
    archives from ``sys.path`` but keeps their cached importers)."""
    def worker_view(_):  # local: pickled by value (a worker cannot import this test module)
        import os
        import sys

        return list(sys.path_importer_cache), os.environ.get("SPARK_HOME")

    cached, spark_home = spark.sparkContext.parallelize([0], 1).map(worker_view).collect()[0]
    assert spark_home, "Spark gives its workers SPARK_HOME"
    home = os.path.realpath(spark_home) + os.sep
    # A zipimporter's key is its archive, or a package directory inside it (``.../pyspark.zip/pyspark``).
    archives = {m.group(1) for k in cached if (m := re.match(r"^(.*?\.(?:zip|jar))(?:/.*)?$", k))}
    assert sorted(a for a in archives if os.path.realpath(a).startswith(home)) == []


@pytest.mark.parametrize(("ranges", "refused"), [
    ({"age": (0.0, 120.0), "age_at_index": (18.0, 120.0)}, None),
    ({"age": (None, None)}, None),
    ({"age": (-0.01, 50.0)}, "age"),
    ({"age_at_index": (18.0, 120.01)}, "age_at_index"),
], ids=["bounds_inclusive", "no_value", "just_below_0", "just_above_120"])
def test_the_models_age_bounds_are_0_and_120_inclusive(ranges, refused):
    """``covariates.check_age_ranges``: an age of exactly 0 or 120 years is plausible (the
    phenotype stage keeps a person aged 120.0 at the end of observation, born 1903-07-01 at a
    2023-07-01 cutoff: test_phenotypes_implausible_birth's person 8); just below 0 or just above
    120 is one ModelError naming the analysis frame's column. The existing model test used -76
    and 219 only, which a bound moved by a year or more let through."""
    from trd_spark.models.covariates import check_age_ranges

    if refused is None:
        check_age_ranges(ranges)
        return
    with pytest.raises(ModelError, match=rf"^cohort/analysis_frame\.{refused}: age outside 0\.\.120 years"):
        check_age_ranges(ranges)


def _ft(failed: int, n_samples: int):
    """A dataset's matches as ``stage.check_ft_failed`` reads them: its name and FT count (one
    score of one matched variant: ``n_samples`` scored calls)."""
    from trd_spark.pgs.scoring import FtFailedCalls

    return types.SimpleNamespace(dataset="d", ft_failed=FtFailedCalls.of(["PGS000001"], [failed], [1], n_samples))


def _ft_records(caplog, r) -> list[logging.LogRecord]:
    from trd_spark.config import load_config
    from trd_spark.pgs import stage

    cfg = load_config()
    assert (cfg.pgs.ft_failed_warn, cfg.report.small_count_threshold) == (0.05, 20)
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.stage"):
        stage.check_ft_failed(cfg, r)
    return [rec for rec in caplog.records if rec.name == "trd_spark.pgs.stage"]


@pytest.mark.parametrize(("failed", "level"), [(100, logging.WARNING), (99, logging.INFO)])
def test_the_ft_warning_is_at_or_above_the_level(caplog, failed, level):
    """100 FT-failed calls of 2,000 is exactly ``pgs.ft_failed_warn`` 0.05: a WARNING ("at or
    above", as the config key's comment and the message say); 99 (4.95%) an INFO line."""
    records = _ft_records(caplog, _ft(failed, 2000))
    assert [rec.levelno for rec in records] == [level]
    assert f"FT failed {100 * failed / 2000:.1f}% of the scored calls" in records[0].getMessage()


def test_a_hidden_ft_count_warns_when_its_label_can_reach_the_level(caplog):
    """3 FT-failed calls of 100: shown as its label (<20), whose counts 1..19 give 1%..19%. The
    WARNING is decided on the largest (19% >= 5%), never on the hidden count or the least of
    the label (1%: no warning), which would tell more of the count than its label; its text says
    that a count read as its label can reach the level, and gives no share."""
    records = _ft_records(caplog, _ft(3, 100))
    assert [rec.levelno for rec in records] == [logging.WARNING]
    text = records[0].getMessage()
    assert "FT failed <20 of the scored calls" in text
    assert "which a count read as its label can reach" in text
    assert "3.0%" not in text and "0.03" not in text


@pytest.mark.parametrize(("position", "holding"), [(1, ["GRCh37"]), (249_250_621, ["GRCh37"]), (249_250_622, []),
                                                   (0, [])], ids=["first_base", "last_base", "past_it", "zero"])
def test_a_contig_holds_positions_1_to_its_length(position, holding):
    """``contig_lengths.builds_holding`` (fc02d92, the wrong-build hint of ``pgen_engine.
    check_variant_loci``): GRCh37's chr1 (249,250,621 bases, Hail's GRCh37 lengths) holds 1 to
    its length, its last base included (mutant ``position < length``: a variant at the last base
    of the other build's contig lost the hint); 0 and the base past the end are in no build."""
    from trd_spark.pgs.contig_lengths import builds_holding

    assert builds_holding("chr1", position, {"GRCh37": {"1": 249_250_621}}) == holding


def test_rows_near_keeps_every_row_whose_ref_has_two_bases_or_more():
    """``build_positions.rows_near`` (44b2042) keeps the genotype rows written at a place, and
    every row whose REF has two bases or more: its minimal form (``matching.minimal_alleles``) may
    lie further on, e.g. an MNP written ``chr1:100 AC>AT`` is the SNV ``chr1:101 C>T`` the score
    places at 101. Mutant ``len(ref) > 2``: that row was left out, so a score site found there on
    the other build was not counted (the build check's evidence undercounted)."""
    import numpy as np
    import pandas as pd

    from trd_spark.pgs.build_positions import rows_near

    rows = pd.DataFrame({"contig": ["chr1", "chr1", "chr1", "chr2", "chr1"],
                         "position": [100, 201, 300, 201, 400],
                         "ref": ["AC", "G", "T", "G", "ACG"]})
    kept = rows_near(rows, np.array(["chr1", "chr1"], dtype=object), np.array([101, 201], dtype=np.int64))
    assert list(zip(kept["contig"], kept["position"], kept["ref"])) == [
        ("chr1", 100, "AC"), ("chr1", 201, "G"), ("chr1", 400, "ACG")]


def test_the_build_check_says_when_it_counted_a_sample_of_the_sites(caplog):
    """Above ``build_positions.CHECK_SITES`` informative sites the check counts an evenly spaced
    sample of them; its line says so with the number there are (mutant: the sampled clause
    dropped, so the log gave 20,000 as the informative sites of a 50,000-site score)."""
    from trd_spark.pgs.build_positions import BuildEvidence, check_build_evidence

    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.build_positions"):
        check_build_evidence(BuildEvidence("GRCh37", 20_000, 19_000, 30, 50_000), "g.bim", "GRCh38", 5.0)
        check_build_evidence(BuildEvidence("GRCh37", 900, 850, 3, 900), "g.bim", "GRCh38", 5.0)
    assert [rec.getMessage() for rec in caplog.records] == [
        "g.bim: build check: of 20000 score sites placed differently on the two builds (evenly spaced among 50000), "
        "19000 are found at their GRCh38 position and 30 at their GRCh37 position",
        "g.bim: build check: of 900 score sites placed differently on the two builds, 850 are found at their GRCh38 "
        "position and 3 at their GRCh37 position"]


def test_the_declared_build_s_count_is_taken_over_the_informative_sites_only(tmp_path):
    """``build_positions.build_evidence`` (44b2042) counts the sites found at their declared
    place over the informative sites only (placed on both builds, at different places), as the
    other build's count is. A harmonised score (author places on GRCh37, hm places on GRCh38 =
    GRCh37 + 500) of 30 such sites and 10 rows without an author place (no other-build place:
    not informative), on a GRCh37 .bim declared GRCh38 that holds the 30 at their GRCh37 places,
    one chance hit at a GRCh38 one, and the 10 at their GRCh38 places: 1 against 30, one
    InputDataError. Mutant (the declared count over every matched site): 11 against 30, below
    the margin (5 x 12), so only a WARNING: wrong-build genotypes scored whenever a score's
    uninformative sites (rsID-matched rows, rows without an author place) match."""
    import shutil
    import subprocess

    from trd_spark.config import GenotypeSource
    from trd_spark.errors import InputDataError
    from trd_spark.pgs import matching, pgen_engine
    from trd_spark.pgs.build_positions import BuildEvidence, build_evidence, check_build_evidence
    from trd_spark.pgs.scoring_files import parse_scoring_file

    informative = [1_000_000 + 1000 * i for i in range(30)]
    no_author = [2_000_000 + 1000 * i for i in range(10)]
    text = ("#pgs_id=PGS993101\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\n"
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n"
            + "".join(f"1\t{p}\tG\tA\t0.1\t1\t{p + 500}\n" for p in informative)
            + "".join(f"1\t\tG\tA\t0.1\t1\t{p}\n" for p in no_author))
    sf = parse_scoring_file(text, source="s.txt", target_build="GRCh38")
    positions = sorted([*informative, informative[0] + 500, *no_author])
    vcf = ("##fileformat=VCFv4.2\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
           "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\n"
           + "".join(f"1\t{p}\trs{p}\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\n" for p in positions))
    (tmp_path / "g.vcf").write_text(vcf)
    subprocess.run([shutil.which("plink2") or "plink2", "--vcf", str(tmp_path / "g.vcf"), "--threads", "1",
                    "--make-bed", "--out", str(tmp_path / "g")], check=True, capture_output=True)

    frame, _ = matching.score_variants_frame([sf], "GRCh38")
    sites = matching.score_sites_frame(frame)
    # As matching.score_sites places them on GRCh38 (no liftover): contig/position the locus (chrom: chr1).
    sites = sites.assign(contig=sites["chrom"], position=sites["pos"].astype("Int64"),
                         lift_negative_strand=False, liftover_failed=False)
    sites.attrs.update(pgs_ids=[sf.pgs_id], rsid_only_files=[], score_files=["s.txt"],
                       **{matching.DUPLICATES_DROPPED: {}})
    rows = pgen_engine.variant_index(pgen_engine.PlinkFiles.of(GenotypeSource(format="plink",
                                                                              path=str(tmp_path / "g"))),
                                     "GRCh38").frame
    matched = matching.match_sites_frame(sites, rows, keep_ambiguous=False)
    assert int(matched["match_type"].isin(list(matching.USED_MATCH_TYPES)).sum()) == 11  # 10 + the chance hit
    e = build_evidence(matched, rows, [sf], "GRCh38", keep_ambiguous=False)
    assert e == BuildEvidence("GRCh37", 30, 1, 30, 30)
    with pytest.raises(InputDataError, match=r"^g\.bim: the genotypes look like GRCh37, not GRCh38"):
        check_build_evidence(e, "g.bim", "GRCh38", 5.0)


def test_a_nan_age_does_not_hide_an_implausible_one_from_the_spark_check(spark):
    """The Spark grids' pre-fit check (``models.distributed._model_columns``, 9bbc0b8) takes the
    age columns' min and max in one job (per status): Spark orders NaN above every number, so a
    NaN age made its status group's max NaN, and ``NaN > 120`` is false: an age of 219 in the
    same group reached the fits (mutant: the NaN-as-null ``nanvl`` dropped). One ModelError
    naming the column."""
    from pyspark.sql import types as T

    from trd_spark.config import load_config
    from trd_spark.models.distributed import _model_columns

    cfg = load_config()
    pcs = [f"pc{i + 1}" for i in range(cfg.covariates.n_pcs)]
    schema = T.StructType([T.StructField("dataset", T.StringType()), T.StructField("definition", T.StringType()),
                           T.StructField("person_id", T.LongType()), T.StructField("status", T.StringType()),
                           T.StructField("age", T.DoubleType()), T.StructField("sex_female", T.IntegerType()),
                           *[T.StructField(pc, T.DoubleType()) for pc in pcs]])
    rows = [("d", "ad3", 1, "TRD", 219.0, 1, *[0.0] * len(pcs)),
            ("d", "ad3", 2, "TRD", float("nan"), 0, *[0.0] * len(pcs)),
            ("d", "ad3", 3, "non_MDD", 50.0, 0, *[0.0] * len(pcs))]
    with pytest.raises(ModelError, match=r"^cohort/analysis_frame\.age: age outside 0\.\.120 years"):
        _model_columns(spark.createDataFrame(rows, schema), cfg)


def test_the_year_of_birth_rule_at_its_bounds(spark):
    """``persons.birth_implausible_expr`` (9bbc0b8) at each bound, by hand: a year of birth of
    1849 is implausible and 1850 (OHDSI DQD's plausibleValueLow) is not, whatever the age (both
    aged 70 here: test_phenotypes_implausible_birth has no person born in 1849, so the bound
    moved to 1849 let its tests pass); an age at the end of observation of exactly 0 or 120 is
    plausible, just below 0 or above 120 is not; a null age is implausible (null-safe)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from trd_spark.phenotypes.persons import birth_implausible_expr

    cases = [(1849, 70.0, True), (1850, 70.0, False), (1970, 0.0, False), (1970, -0.01, True),
             (1903, 120.0, False), (1903, 120.01, True), (1970, None, True)]
    schema = T.StructType([T.StructField("year_of_birth", T.IntegerType()),
                           T.StructField("age_at_observation_end", T.DoubleType()),
                           T.StructField("expected", T.BooleanType())])
    got = (spark.createDataFrame(cases, schema)
           .select("year_of_birth", "age_at_observation_end",
                   birth_implausible_expr(F.col("year_of_birth"), F.col("age_at_observation_end")).alias("got"))
           .collect())
    assert [(r.year_of_birth, r.age_at_observation_end, r.got) for r in got] == cases


def test_a_chry_row_with_no_called_male_imputes_a_male_s_missing_call_as_plink2():
    """``native_task._drop_non_males_on_y`` (eaf3a70): on a chrY row every non-male's call
    becomes 0 alt copies (called or missing), and the mean that imputes a male's missing call
    there is the called males' mean, 1 alt copy when no male is called (plink2's frequency 0.5
    for zero observations, as on any row without a called sample: ``_fill_missing_calls``).
    test_field_cases_round20_sex has a called male on each chrY row, so a default of 0 (mutant
    ``np.zeros``) passed it. Rows x samples as pgenlib reads them (missing: PGENLIB_MISSING)."""
    import numpy as np

    from trd_spark.pgs.native_task import PGENLIB_MISSING, _drop_non_males_on_y

    m = PGENLIB_MISSING
    # Samples: male (missing on chrY), female (called 2), unknown sex (missing), male (called 2 on row 2).
    part = np.array([[m, 2.0, m, m], [2.0, 0.0, 1.0, 2.0], [m, 2.0, 1.0, 2.0]])
    male = np.array([True, False, False, True])
    at, means = _drop_non_males_on_y(part, np.array([True, False, True]), male)
    assert at.tolist() == [0, 2] and means.tolist() == [1.0, 2.0]
    assert part.tolist() == [[m, 0.0, 0.0, m], [2.0, 0.0, 1.0, 2.0], [m, 0.0, 0.0, 2.0]]


# Per score, per person 1001..1008: the matched variants whose call is missing, by hand from
# test_field_cases_round20_sex's VCF (males 1001-1003 by their haploid X calls). A non-male's chrY
# call is skipped, not missing (plink2 --score: ALLELE_CT and DENOM leave it out); a male's
# missing chrY call is (1003 at y1).
_ROUND20_N_MISSING = {"PGS992001": [0, 1, 1, 1, 1, 1, 0, 0],  # a1, x1, x2, y1
                      "PGS992002": [0, 1, 1, 0, 0, 1, 0, 0],  # y1, y2, x2
                      "PGS992003": [0, 0, 0, 0, 0, 0, 0, 0]}  # y2


def test_hail_s_pass_counts_no_missing_call_for_a_non_male_on_chry(hl, spark, tmp_path, sex_case):  # noqa: F811
    """Hail's pass (``scoring.compute_scores``, eaf3a70) reads a non-male's chrY call as 0 alt
    copies and called: the published n_missing counts her chrY rows as no missing calls (and the
    dataset's missing-call share with it). test_field_cases_round20_sex checks the sums only, which
    the mutant (her chrY call read as not called) leaves as they are while n_missing grew by her
    chrY rows (1004-1008: +1 or +2)."""
    from test_field_cases_pgs import run_scores
    from test_field_cases_round20_sex import _config

    tmp = sex_case[0]
    cfg = _config(tmp_path, sex_case, str(tmp / "d.vcf"), "vcf", extra_pgs="  native: {engine: hail}")
    got = run_scores(hl, spark, cfg)
    n_missing = {p: [int(n) for _, n in sorted(zip(g["person_id"].astype(int), g["n_missing"]))]
                 for p, g in got.groupby("pgs_id")}
    assert n_missing == _ROUND20_N_MISSING


def test_an_implausible_birth_is_the_first_reason_before_an_mdd_exclusion(spark):
    """``mdd.derive_mdd`` (9bbc0b8): implausible_year_of_birth is every person's first reason,
    before the MDD exclusions. Person 2, born 1890 (aged 133 at the end of observation), has MDD
    on two dates and a bipolar diagnosis: excluded as implausible_year_of_birth, not as bipolar
    (mutant: the reason placed after the exclusion sets; test_phenotypes_implausible_birth has no
    implausible person with an exclusion code, so it passed). Person 1 (1970) is the control."""
    from test_phenotypes_support import BIPOLAR, MDD_CONCEPT, cond, obs, omop_tables, person, toy_config

    from trd_spark.phenotypes.stage import derive_phenotype_tables

    conditions = [cond(p, MDD_CONCEPT, day) for p in (1, 2) for day in ("2015-01-01", "2015-03-01")]
    conditions += [cond(1, BIPOLAR, "2016-01-01"), cond(2, BIPOLAR, "2016-01-01")]
    omop = omop_tables(spark, persons=[person(1), person(2, 1890)], observation_periods=[obs(1), obs(2)],
                       conditions=conditions)
    got = {r.person_id: r.exclusion_reason for r in derive_phenotype_tables(omop, toy_config()).mdd.collect()}
    assert got[2] == "implausible_year_of_birth"
    assert got[1] not in (None, "implausible_year_of_birth")  # excluded by the bipolar set


def test_a_vcf_scored_on_chry_alone_tells_its_males_from_their_chry_calls(hl, spark, tmp_path, sex_case):  # noqa: F811
    """``genotypes.sex_calls`` (eaf3a70) reads the scored chrY rows' calls too: a score with
    chrY rows only (round 20's PGS992003, y2 REF C, 1.5) on the VCF (Hail's pass) finds the males
    1001-1003 by their haploid chrY calls, as plink2's sums show (1003's C: 1.5; everyone else 0).
    Mutant: the chrY contigs left out of the rows read (X only): no male found, every chrY call
    skipped, 1003 scored 0 (round 20's tests score X rows beside, which told the males)."""
    from test_field_cases_pgs import case_config, run_scores

    tmp, _, oracle = sex_case
    cfg = case_config(tmp_path, str(tmp / "d.vcf"), str(tmp / "scores" / "PGS992003.txt"), fmt="vcf",
                      extra_pgs="  native: {engine: hail}")
    got = run_scores(hl, spark, cfg)
    sums = dict(zip(got["person_id"].astype(int), got["score_sum"], strict=True))
    assert sums == pytest.approx({i: oracle["mean_impute"]["PGS992003", i] for i in range(1001, 1009)}, abs=1e-6)
    assert sums[1003] == pytest.approx(1.5)
