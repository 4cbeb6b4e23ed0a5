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
    unreadable file raises (``unreadable_errors``), here for real: a missing ``file://`` VCF
    opened through Hail's file system (Hail's FatalError), a gs:// glob without the connector
    (the Java error, through Spark's file system) and a local .pvar.zst cut short (the zstd
    module's error). Each raises one of the errors the check means, and the check says nothing."""
    from backports import zstd

    from trd_spark.config import GenotypeSource
    from trd_spark.io import Fs
    from trd_spark.pgs.contig_lengths import _open_text, check_declared_build, hail_text, unreadable_errors

    def lengths(build):
        return hl.get_reference(build).lengths

    absent = f"file://{tmp_path}/absent.vcf"
    unreadable = unreadable_errors()
    with pytest.raises(unreadable) as raised:
        hail_text(hl)(absent)
    assert type(raised.value).__name__ == "FatalError"
    check_declared_build(GenotypeSource(format="vcf", path=absent), lengths, open_uri=hail_text(hl),
                         glob_uri=lambda p: [p])
    with pytest.raises(unreadable):
        Fs(spark).glob_files("gs://no-such-bucket/g.vcf.bgz")
    check_declared_build(GenotypeSource(format="vcf", path="gs://no-such-bucket/g.vcf.bgz"), lengths,
                         open_uri=hail_text(hl), glob_uri=Fs(spark).glob_files)
    whole = zstd.compress(b"##fileformat=VCFv4.2\n##contig=<ID=chr1,length=249250621>\n" * 2000)
    (tmp_path / "g.pvar.zst").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "g.pgen").write_bytes(b"")
    with pytest.raises(unreadable), _open_text(str(tmp_path / "g.pvar.zst")) as f:
        f.read()
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
    event_dates = {domain: {"n_records": 10, "n_unknown_person": 0, "n_dated_after_cutoff": 0, "n_before_birth_year": 0}
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
