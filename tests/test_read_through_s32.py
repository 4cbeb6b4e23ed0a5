"""Findings of session 31's read-through in pgs and phenotypes (session 32 "mends")."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest


@pytest.mark.parametrize("present", [(".pvar", ".pvar.zst"), (".pvar.zst",), (".pvar",)])
@pytest.mark.parametrize("uri", [False, True], ids=["path", "file_uri"])
def test_the_fingerprint_and_the_reader_take_one_variant_file_of_a_pgen(tmp_path, present, uri):
    """A pgen fileset's variant list is its .pvar, or its .pvar.zst when only that is there
    (plink2 --make-pgen vzs). The rerun fingerprint (``stages.plink_fileset_inputs``) and the
    reader (``native_task.PlinkFiles.variants``) each decided it: for a ``file://`` prefix the
    fingerprint looked at the local files and took the .pvar.zst, the reader looked at the URI
    as a path, found nothing and took the .pvar (a stale rerun, or a read of a file that is not
    there). Now one rule (``io.pgen_variant_file``), in the form the path was given."""
    from test_field_cases_pgs import case_config

    from trd_spark.pgs.native_task import PlinkFiles

    for ext in (".pgen", ".psam", *present):
        (tmp_path / f"g{ext}").write_text("")
    prefix = f"file://{tmp_path}/g" if uri else f"{tmp_path}/g"
    (tmp_path / "s.txt").write_text("")
    cfg = case_config(tmp_path, f"{prefix}.pgen", str(tmp_path / "s.txt"), fmt="pgen")
    from trd_spark.stages import plink_fileset_inputs

    key = "datasets.0.genotypes.path"
    inputs = dict(plink_fileset_inputs(cfg, key, cfg.datasets[0].genotypes.path))
    want = f"{prefix}{'.pvar' if '.pvar' in present else '.pvar.zst'}"
    assert PlinkFiles.of(cfg.datasets[0].genotypes).variants == want
    assert inputs[f"{key}[{want.removeprefix(prefix)}]"] == want
    assert Path(want.removeprefix("file://")).exists()


def test_the_build_check_leaves_an_unreadable_header_to_the_reader(hl, spark, tmp_path):
    """``contig_lengths.check_declared_build`` leaves to the reader (it names the file) what an
    unreadable file raises (what ``is_unreadable`` says so of), here for real: a missing ``file://`` VCF
    opened through Hail's file system (Hail's FatalError, or py4j's error), a gs:// glob without the connector
    (the Java error, through Spark's file system) and a local .pvar.zst cut short (the zstd
    module's error). Each raises an error ``is_unreadable`` (the check's own rule) takes for an
    unreadable file, and the check says nothing. (The test asserted membership in a broader set of
    types, ``unreadable_errors``, which no production code used: a mutant ``is_unreadable`` that
    refuses Java errors passed it.)"""
    from backports import zstd

    from trd_spark.config import GenotypeSource
    from trd_spark.io import Fs
    from trd_spark.pgs.contig_lengths import _open_text, check_declared_build, hail_text, is_unreadable

    def lengths(build):
        return hl.get_reference(build).lengths

    absent = f"file://{tmp_path}/absent.vcf"
    with pytest.raises(Exception) as raised:
        hail_text(hl)(absent)
    assert is_unreadable(raised.value), raised.value
    # Hail's FatalError while its py4j handler is installed (hl.init), py4j's own error otherwise
    # (the handler is process-wide state: another test of the worker may have left it out).
    assert type(raised.value).__name__ in ("FatalError", "Py4JJavaError")
    check_declared_build(GenotypeSource(format="vcf", path=absent), lengths, open_uri=hail_text(hl),
                         glob_uri=lambda p: [p])
    with pytest.raises(Exception) as raised:
        Fs(spark).glob_files("gs://no-such-bucket/g.vcf.bgz")
    assert is_unreadable(raised.value), raised.value
    check_declared_build(GenotypeSource(format="vcf", path="gs://no-such-bucket/g.vcf.bgz"), lengths,
                         open_uri=hail_text(hl), glob_uri=Fs(spark).glob_files)
    whole = zstd.compress(b"##fileformat=VCFv4.2\n##contig=<ID=chr1,length=249250621>\n" * 2000)
    (tmp_path / "g.pvar.zst").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "g.pgen").write_bytes(b"")
    with pytest.raises(Exception) as raised, _open_text(str(tmp_path / "g.pvar.zst")) as f:
        f.read()
    assert is_unreadable(raised.value), raised.value
    check_declared_build(GenotypeSource(format="pgen", path=str(tmp_path / "g.pgen")), lengths)


def test_the_build_check_raises_a_fault_that_is_no_unreadable_file_naming_the_file(hl, tmp_path):
    """``check_declared_build`` skipped a file on ANY exception while listing, opening or
    reading it (``except Exception: continue``), a fault of its own or a library's too: the
    build check then did not run, without a word. Now such a fault is one InputDataError naming
    the file (the dataset's path, for the listing) with its type and first line."""
    from trd_spark.config import GenotypeSource
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.contig_lengths import check_declared_build, hail_text

    def lengths(build):
        return hl.get_reference(build).lengths

    def faulty(path):
        raise RuntimeError(f"unexpected\nsecond line of {path}")

    absent = f"file://{tmp_path}/g.vcf"
    with pytest.raises(InputDataError, match=rf"^{absent}: cannot read the header to check its build: "
                                             r"RuntimeError: unexpected$"):
        check_declared_build(GenotypeSource(format="vcf", path=absent), lengths, open_uri=faulty,
                             glob_uri=lambda p: [p])
    with pytest.raises(InputDataError, match=r"^gs://b/g\.vcf\.bgz: cannot list the files to check the build of: "
                                             r"RuntimeError: unexpected$"):
        check_declared_build(GenotypeSource(format="vcf", path="gs://b/g.vcf.bgz"), lengths, open_uri=hail_text(hl),
                             glob_uri=faulty)


def test_an_empty_event_table_is_warned_about_before_a_gate_stops_the_stage(spark, caplog):
    """An empty event table a study concept set reads (procedure_occurrence: the ECT set of
    somatic TRD) is a WARNING naming its file, from the record counts ``stage_counts`` collects
    (no Spark job of its own, c4a6d4b). c4a6d4b logged it after the data gates: a gate that
    stops the stage (no_observation_period at an error level: 30 of 40 persons without a period,
    "observation_period not exported for all persons") left the failed run's log without the
    empty table, the clue that the export is partial. ``check_stage_counts``, the stage's checks
    of those counts, warns first, then applies the gates (a mutant calling the gates first
    fails here); the counts are the stage's keys, by hand."""
    from test_phenotypes_support import toy_config

    from trd_spark.config import GateThreshold
    from trd_spark.errors import InputDataError
    from trd_spark.phenotypes.omop import SOURCE_CONCEPT_OF
    from trd_spark.phenotypes.stage import EVENT_TABLES, RECORDS_SUFFIX, check_stage_counts, study_concept_set_names

    cfg = toy_config(path="/data/omop")
    sets = {name: frozenset({1}) for name in study_concept_set_names(cfg)}  # each set expands to some concept
    event_dates = {domain: {"n_records": 10, "n_unknown_person": 0, "n_dated_after_cutoff": 0, "n_before_birth_year": 0,
                            "n_after_cutoff": 0, "n_after_death": 0}
                   for domain in EVENT_TABLES}
    records = {f"n_{t}{RECORDS_SUFFIX}": 0 if t == "procedure_occurrence" else 10 for t in SOURCE_CONCEPT_OF}
    quirks = {"persons": {"n_persons": 40, "n_sex_other": 0, "n_no_observation_period": 30},
              "drug_values": {"n_records": 10, "n_end_over_max_days": 0, "n_days_supply_over_max": 0},
              "event_table_records": records}
    with caplog.at_level(logging.WARNING):
        notes = check_stage_counts(spark, cfg, sets, event_dates, quirks)
    assert "ect" in notes["empty_event_tables"]["procedure_occurrence"] and notes["gates"]
    caplog.clear()
    gates = cfg.phenotypes.gates.model_copy(update={"no_observation_period": GateThreshold(warn=0.1, error=0.5)})
    stopping = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"gates": gates})})
    with caplog.at_level(logging.WARNING), pytest.raises(InputDataError, match="gate no_observation_period"):
        check_stage_counts(spark, stopping, sets, event_dates, quirks)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [m.split(" (")[0] for m in warned] == ["phenotypes: OMOP table procedure_occurrence has no rows"]


_SEX_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chrX,length=156040895>
##contig=<ID=chrY,length=57227415>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003
chrX\t5000000\tx1\tA\tG\t.\tPASS\t.\tGT\t1\t0/1\t0/0
chrY\t2800000\ty1\tG\tA\t.\tPASS\t.\tGT\t1\t.\t0
"""


@pytest.mark.parametrize(("rows", "impute", "males"), [
    ("y", True, ["1001", "1003"]), ("x", True, ["1001"]), ("x", False, []), ("xy", True, ["1001", "1003"]),
    ("xy", False, ["1001", "1003"])])
def test_a_bgen_s_males_are_told_by_one_rule_for_both_passes(hl, tmp_path, rows, impute, males):
    """A BGEN has no sex: its males are the samples with a haploid call in the weighted rows on
    chrY and, when a missing call is mean-imputed, on X outside its PARs. ``engine.score`` tells
    them once for its two passes (``_bgen_males``) and the pass tells them itself when not given
    (``pgen_engine._sex_rows_of``): each restated the rule; now both call
    ``pgen_engine.bgen_males``. The BGEN is plink2's export with the sex: 1001 male (haploid on X
    and Y), 1002 female (diploid on X, ploidy 0 on Y), 1003 of unknown sex, which plink2 writes
    diploid on X and haploid on Y: so X and Y tell different males here."""
    import shutil
    import subprocess

    import numpy as np

    from trd_spark.pgs import bgen_reader, engine, pgen_engine
    from trd_spark.pgs.genotypes import contig_recoding

    def plink2(*args: str) -> None:
        subprocess.run([shutil.which("plink2") or "plink2", *args, "--threads", "1"], check=True, capture_output=True)

    (tmp_path / "d.vcf").write_text(_SEX_VCF)
    (tmp_path / "sex.txt").write_text("#IID\tSEX\n1001\t1\n1002\t2\n1003\t0\n")
    plink2("--vcf", str(tmp_path / "d.vcf"), "--update-sex", str(tmp_path / "sex.txt"), "--make-pgen",
           "--out", str(tmp_path / "g"))
    plink2("--pfile", str(tmp_path / "g"), "--export", "bgen-1.2", "bits=8", "ref-first", "--out", str(tmp_path / "b"))
    files = bgen_reader.BgenFiles.open(str(tmp_path / "b.bgen"))
    index = bgen_reader.variant_index(files, lambda c: contig_recoding("GRCh38").get(c, c))
    weighted = index.frame[index.frame["contig"].isin([{"x": "chrX", "y": "chrY"}[r] for r in rows])]
    weighted = weighted.reset_index(drop=True)
    on_y = (weighted["contig"] == "chrY").to_numpy()
    ids = np.array(["1001", "1002", "1003"])
    told = engine._bgen_males(files, weighted[["variant_idx"]], index, y_rows=on_y, x_rows=~on_y, impute=impute)
    assert ids[told].tolist() == males
    # The pass's own reading of the same rows (file order, their blocks), without a male given.
    _, _, male = pgen_engine._sex_rows_of(hl, files, "GRCh38", index, weighted["variant_idx"].to_numpy(np.int64),
                                          on_y, impute, weighted[["offset", "size"]].to_numpy(np.int64), 3)
    assert ids[male if male is not None else np.zeros(3, dtype=bool)].tolist() == males


def test_allele_count_when_only_the_counting_pass_is_summed_on_the_driver(hl, spark, tmp_path):
    """``engine._haploid_allele_counts`` with the main pass summed in Spark (a Hail Table) and its
    small counting pass (the chrY and chrM rows) on the driver: the counting pass's numbers reach
    the Table's rows through a per-sample literal (``_fewer_lookup``), where they were an n x k-row
    ``Table.from_pandas`` joined on (s, pgs_id). allele_count equals plink2 --score's ALLELE_CT
    (round 21's case and oracle). The limit (``pgs.native.driver_sum_mb``) lies between the two
    passes' sums (``pgen_engine.driver_sum_bytes``, 8 samples x 3 scores, one row per task): the
    counting pass's 3 tasks 2,688 bytes, the main pass's 6 tasks 3,840."""
    from test_field_cases_pgs import case_config
    from test_field_cases_round21_sex import allele_ct_case, published_allele_counts

    from trd_spark.pgs.pgen_engine import driver_sum_bytes

    limit_mb = 0.0026
    assert driver_sum_bytes(3, 3, 8) <= limit_mb * 2**20 < driver_sum_bytes(4, 3, 8)
    oracle = allele_ct_case(tmp_path)
    cfg = case_config(tmp_path, str(tmp_path / "p"), str(tmp_path / "scores" / "*.txt"), fmt="pgen",
                      extra_pgs=f"  native: {{driver_sum_mb: {limit_mb}, variants_per_task: 1}}")
    assert published_allele_counts(hl, spark, cfg) == oracle
