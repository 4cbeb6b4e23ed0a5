"""Session 35, run safety and reruns (the owed items of session 34): what a user is told when the
native pass's files vanish in a real Spark task; a URI input replaced in place, read through the
real Hadoop FileSystem API (its local ``file://`` file system standing in for gs:// / hdfs://);
a VCF renamed between ``.gz`` and ``.bgz``; the audit roots' check through Hadoop.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from trd_spark.errors import EnvironmentFault, InputDataError

FIELD_CASES = Path(__file__).parent / "data" / "field_cases" / "pgs"
BGZF_VCF = FIELD_CASES / "scoring-file-swapped-duplicate" / "genotypes" / "data.vcf.bgz"
PLAIN_GZIP_VCF = FIELD_CASES / "plain-gzip-vcf" / "genotypes" / "data.vcf.gz"


def test_pass_files_gone_in_a_spark_task_is_one_environment_line_naming_the_setting(spark, tmp_path):
    """systemd-logind's RemoveIPC empties /dev/shm at logout (``native_task.pass_files_gone``).
    Raised in a real Spark task (the Python worker's traceback inside Java's error), or on the
    driver reading a task's partials, ``hail_errors`` made it ``InputDataError: reading the
    genotypes failed: FileNotFoundError: [Errno #] ...`` (exit 3, blaming the genotype files),
    cut at 300 characters (the path and what to do lost) and its digits masked. Now it is one
    EnvironmentFault line (exit 1): the setting, what to do and the whole path."""
    from trd_spark.pgs.native_task import PASS_FILES_GONE, pass_files_gone, shared_task_rows
    from trd_spark.pgs.stage import hail_errors

    folder = tmp_path / "pgs_native_partials_42"
    rows = shared_task_rows(str(folder), {"variant_idx": np.arange(4, dtype=np.int64)}, [0, 2, 4])
    gone = str(folder / "weights")
    for name in os.listdir(gone):
        os.remove(os.path.join(gone, name))
    os.rmdir(gone)

    def in_a_task() -> None:
        spark.sparkContext.parallelize(rows, 2).map(lambda t: int(t.load().variant_idx.sum())).collect()

    def on_the_driver() -> None:
        raise pass_files_gone(gone)

    for run in (in_a_task, on_the_driver):
        with pytest.raises(EnvironmentFault) as err, hail_errors("dataset discovery (x.bed)"):
            run()
        text = str(err.value)
        assert err.value.exit_code == 1 and "\n" not in text
        assert text.startswith(f"dataset discovery (x.bed): {PASS_FILES_GONE}")
        assert text.endswith(f"'{gone}'") and "reading the genotypes failed" not in text


def test_a_uri_input_replaced_in_place_reruns_through_the_hadoop_file_system(spark, tmp_path, monkeypatch):
    """gs:// / hdfs:// inputs are fingerprinted from Hadoop's listing (``io.Fs.fingerprint``):
    each file's path in the input, size and version (the store's checksum on gs://, else the
    modification time). Through the real FileSystem API (``file://`` taken as a remote scheme
    here, as ``stages.local_path`` takes gs://), an object replaced at the same URI by other bytes
    of the same size, or of another size, is a changed input (``changed_inputs``, what
    ``rerun_reasons`` reports); the same listing again, or a file beside a single-file input, is
    not. A folder input's part renamed is a change too."""
    import trd_spark.stages as stages
    from trd_spark.io import Fs

    monkeypatch.setattr(stages, "local_path", lambda p: None if p.startswith("file://") else p)
    fs = Fs(spark)
    single = tmp_path / "related.tsv"
    single.write_text("person_id\n1001\n")
    os.utime(single, (1_700_000_000, 1_700_000_000))
    folder = tmp_path / "person"
    folder.mkdir()
    (folder / "part-00000.parquet").write_bytes(b"PAR1 a")
    inputs = {"ancestry.related_samples_to_remove": f"file://{single}", "omop.path": f"file://{folder}"}

    def now() -> dict:
        return {key: stages.input_fingerprint(uri, fs) for key, uri in inputs.items()}

    before = now()
    assert all(fp["exists"] and fp["files"] == 1 for fp in before.values())
    assert before["omop.path"]["path"] == inputs["omop.path"]  # read through Hadoop, not os
    (tmp_path / "related.tsv.md5").write_text("x\n")  # beside the single-file input: not read
    assert stages.changed_inputs(before, now()) == []
    single.write_text("person_id\n1002\n")  # same size, other bytes, at the same URI
    assert stages.changed_inputs(before, now()) == ["ancestry.related_samples_to_remove"]
    single.write_text("person_id\n1001\n")
    os.utime(single, (1_700_000_000, 1_700_000_000))
    assert stages.changed_inputs(before, now()) == []
    (folder / "part-00000.parquet").write_bytes(b"PAR1 ab")  # another size
    assert stages.changed_inputs(before, now()) == ["omop.path"]
    (folder / "part-00000.parquet").rename(folder / "part-00001.parquet")
    assert stages.changed_inputs(before, now()) == ["omop.path"]


def test_a_vcf_renamed_between_gz_and_bgz_reads_the_same_calls_or_stops_at_once(hl, tmp_path):
    """A local VCF file is keyed by its bytes alone (``stages.files_fingerprint``), so renaming
    ``x.vcf.gz`` to ``x.vcf.bgz`` reruns nothing, while Hail picks its codec by the name
    (``force_bgz`` for a .gz). That is right only if both names give the same numbers or one
    clear error: BGZF bytes read the same calls under either name, local or as a ``file://`` URI
    (no check of the bytes before Hail there: .gz is forced to BGZF); plain-gzip bytes named .bgz
    stop before Hail with one InputDataError naming the file (``check_vcf_files``), never other
    numbers. A URI input keeps its path in its fingerprint: renamed, it reruns."""
    from trd_spark.config import GenotypeSource
    from trd_spark.pgs.genotypes import read_calls
    from trd_spark.stages import compared_inputs, input_fingerprint

    named = {ext: tmp_path / f"calls.vcf.{ext}" for ext in ("gz", "bgz")}
    for path in named.values():
        shutil.copy(BGZF_VCF, path)
    keys = [compared_inputs({"g": input_fingerprint(str(p))}) for p in named.values()]
    assert keys[0] == keys[1]  # the rename reruns nothing

    def calls(path: str) -> list:
        mt = read_calls(hl, GenotypeSource(format="vcf", path=path))
        return sorted((str(e.locus), tuple(e.alleles), e.s, str(e.GT)) for e in mt.entries().collect())

    reads = [calls(str(p)) for p in named.values()] + [calls(f"file://{p}") for p in named.values()]
    assert reads[0] and all(r == reads[0] for r in reads)

    plain = tmp_path / "plain.vcf.bgz"
    shutil.copy(PLAIN_GZIP_VCF, plain)
    with pytest.raises(InputDataError, match="plain gzip .not BGZF. but named as BGZF") as err:
        read_calls(hl, GenotypeSource(format="vcf", path=str(plain)))
    assert str(plain) in str(err.value) and "\n" not in str(err.value)


def test_the_audit_root_check_reads_a_root_through_the_hadoop_file_system(spark, tmp_path):
    """``layout.audit_root_problem`` is what the run's start asks of a gs:// / hdfs:// entry of
    ``report.audit_output_roots`` once Spark is up (``preflight.check_audit_roots(uris=True)``
    with the session's ``io.Fs``), and what the report stage asks again. Through the real
    Hadoop FileSystem API on a ``file://`` root: missing; there but empty; holding a release
    whose export is incomplete (no ``_SUCCESS``: a run stopped mid-publish) or a release folder
    given for the root: no export; a complete ``export/``, or only an archived
    ``export_history/<run>/`` with its ``_SUCCESS``: none."""
    from trd_spark.io import Fs
    from trd_spark.layout import audit_root_problem

    fs = Fs(spark)
    root = tmp_path / "outputs"
    uri = f"file://{root}"
    assert audit_root_problem(fs, uri).startswith("does not exist")
    root.mkdir()
    assert audit_root_problem(fs, uri).startswith("holds no export")
    export = root / "r1" / "export"
    export.mkdir(parents=True)
    (export / "results.tsv").write_text("x\n")
    assert audit_root_problem(fs, uri).startswith("holds no export")
    (export / "_SUCCESS").write_text("")
    assert audit_root_problem(fs, uri) is None
    assert audit_root_problem(fs, f"{uri}/r1").startswith("holds no export")  # a release folder
    shutil.rmtree(export)
    kept = root / "r1" / "export_history" / "0123abcd"
    kept.mkdir(parents=True)
    assert audit_root_problem(fs, uri).startswith("holds no export")
    (kept / "_SUCCESS").write_text("")
    assert audit_root_problem(fs, uri) is None
