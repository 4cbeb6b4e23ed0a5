"""Session 35, run safety and reruns (the owed items of session 34): what a user is told when the
native pass's files vanish in a real Spark task; a URI input replaced in place, read through the
real Hadoop FileSystem API (its local ``file://`` file system standing in for gs:// / hdfs://);
a VCF renamed between ``.gz`` and ``.bgz``; the audit roots' check through Hadoop; the report,
export and compare-releases folders killed at every step of their publication.
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
    clear error: BGZF bytes read the same calls under either name, and as a ``file://`` URI (its
    bytes checked through Hadoop's file system, ``check_vcf_files``; the URI's ``.bgz`` name takes
    the local ``.bgz``'s route in Hail, not read again here: the suite's cost); plain-gzip bytes
    named .bgz stop before Hail with one InputDataError naming the file (``check_vcf_files``;
    tests/test_mends_s35.py on a URI), never other numbers. A URI input keeps its path in its
    fingerprint: renamed, it reruns."""
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

    reads = [calls(str(p)) for p in named.values()] + [calls(f"file://{named['gz']}")]
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


class _Killed(BaseException):
    """kill -9 of the run: nothing after it runs, no cleanup included."""


class _DiesAt:
    """``io.Fs`` whose run is killed before its ``at``-th change of the file system (0: the
    first): that change and every later one (an ``except`` or ``finally`` block's cleanup, which a
    killed process never runs) raise ``_Killed``; reads pass."""

    CHANGES = frozenset({"mkdirs", "delete", "rename", "write_text", "write_bytes", "create_new"})

    def __init__(self, fs, at: int) -> None:
        self.fs, self.at, self.changes = fs, at, 0

    def __getattr__(self, name: str):
        real = getattr(self.fs, name)
        if name not in self.CHANGES:
            return real

        def change(*args, **kwargs):
            self.changes += 1
            if self.changes > self.at:
                raise _Killed(name)
            return real(*args, **kwargs)
        return change


def _visible(folder: Path) -> dict[str, str]:
    """A folder's files as a reader sees them (not Hadoop's hidden .crc files)."""
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if not p.name.startswith(".")} if (
        folder.is_dir()) else {}


def _killed_at_every_step(publish, folder: Path, marker: str, versions: tuple[dict[str, str], dict[str, str]]) -> int:
    """``publish(at, v)`` (publishing the data files ``versions[v]`` over the folder, complete
    with the other version) killed before each of its file-system changes in turn (``at``: 0, 1,
    ...; it returns the ``_DiesAt`` that was killed, or None once it ran to its end), each time
    run again whole (``publish(None, v)``), the two versions taking turns: after every kill the
    folder is either not marked complete (no ``marker``) or whole of one run (its data files,
    those not starting with ``_``, exactly the old version or exactly the new one); the run
    after it ends marked and new, nothing hidden left beside it. Returns how many kills were
    played. The folder holds ``versions[0]`` when called."""
    def data(shown: dict[str, str]) -> dict[str, str]:
        return {n: t for n, t in shown.items() if not n.startswith("_")}

    assert data(_visible(folder)) == versions[0] and versions[0] != versions[1]
    at, now = 0, 0
    while publish(at, 1 - now) is not None:
        shown = _visible(folder)
        assert marker not in shown or data(shown) in versions, (at, shown)
        now = 1 - now
        publish(None, now)
        shown = _visible(folder)
        assert marker in shown and data(shown) == versions[now], (at, shown)
        assert [p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.")] == [], at
        at += 1
    return at


def test_report_export_and_compare_killed_at_any_step_leave_nothing_complete_looking(spark, tmp_path, monkeypatch):
    """A failed run never leaves output that looks complete. test_fault_resume kills a run in
    the phenotypes stage and test_rerun_minimal stops a publish inside the object store's rename;
    here the three writers after the stages, the report stage's folder (``layout.publish_stage``),
    ``export/`` with the earlier export kept in ``export_history/`` (``report.stage.publish_export``)
    and compare-releases' ``compare/A_vs_B/`` (``compare_releases_job``, marker
    ``_disclosure.json``), are each killed (kill -9: no cleanup runs) before every one of their
    file-system changes in turn, over a complete folder of an earlier run: each time the folder
    is unmarked or whole of one run, and the next run completes it."""
    import json

    import pandas as pd
    from test_pipeline_rerun import _config

    from trd_spark import layout as layout_module
    from trd_spark.config import load_config
    from trd_spark.io import Fs
    from trd_spark.layout import EXPORT, Layout, publish_stage
    from trd_spark.report import compare
    from trd_spark.report.stage import EXPORT_HISTORY, publish_export

    cfg = load_config(_config(tmp_path))
    lay = Layout.of(cfg)
    real = Fs(spark)

    def dying_or_real(at: int | None):
        return real if at is None else _DiesAt(real, at)

    def report(at: int | None, version: int):
        fs, text = dying_or_real(at), f"run {version}\n"
        monkeypatch.setattr(layout_module, "Fs", lambda _spark: fs)
        try:
            with publish_stage(spark, cfg, "report") as writer:
                writer.write_text("report.html", text)
                writer.write_text("results.tsv", text)
        except _Killed:
            return fs
        finally:
            monkeypatch.setattr(layout_module, "Fs", Fs)
        return None

    def versions(*names: str) -> tuple[dict[str, str], dict[str, str]]:
        return dict.fromkeys(names, "run 0\n"), dict.fromkeys(names, "run 1\n")

    report(None, 0)
    assert _killed_at_every_step(report, Path(lay.stage_dir("report")), "_SUCCESS",
                                 versions("report.html", "results.tsv")) > 5

    def export(at: int | None, version: int):
        fs, text = dying_or_real(at), f"run {version}\n"
        try:
            publish_export(fs, cfg, {"results.tsv": text, "cohort_flow.tsv": text}, run_id=f"run-{version}")
        except _Killed:
            for kept in (Path(lay.release_dir) / EXPORT_HISTORY).glob("run-*"):  # marked: whole
                assert "_SUCCESS" not in _visible(kept) or {"_manifest.json", "hidden_counts.json", "cohort_flow.tsv"} <= (
                    set(_visible(kept))), (at, kept)
            return fs
        return None

    export(None, 0)
    folder = Path(lay.stage_dir(EXPORT))
    kills = _killed_at_every_step(export, folder, "_SUCCESS", versions("results.tsv", "cohort_flow.tsv"))
    assert kills > 5
    assert json.loads((folder / "_manifest.json").read_text())["run_id"] == f"run-{(kills + 1) % 2}"  # the last publish ran whole
    for version in (0, 1):  # each replaced export kept whole for later audits
        kept = Path(lay.release_dir) / EXPORT_HISTORY / f"run-{version}"
        assert _visible(kept)["cohort_flow.tsv"] == f"run {version}\n" and "_SUCCESS" in _visible(kept)

    def tables(n: int) -> dict[str, pd.DataFrame]:  # as test_rerun_staleness's stand-ins
        return {"cohort_sizes": pd.DataFrame({"definition": ["all"], "step": ["genotyped"], "n_a": [str(n)],
                                              "n_b": [str(n + 40)], "change": ["40"]}),
                "pgs_correlation": pd.DataFrame({"dataset": ["discovery"], "pgs_id": ["PGS1"], "correlation": [0.99]}),
                "estimates": pd.DataFrame({"ci_overlap": pd.Series([], dtype=object)})}

    made = {"n": 0}
    monkeypatch.setattr(compare, "check_comparable", lambda *args, **kwargs: None)
    monkeypatch.setattr(compare, "compare_releases", lambda *args: (tables(made["n"]), (), 20))
    monkeypatch.setattr("trd_spark.session.command_session", lambda settings: spark)

    def compared(at: int | None, version: int):
        fs = dying_or_real(at)
        made["n"] = 1000 * (1 + version)
        monkeypatch.setattr(compare, "Fs", lambda _spark: fs)
        try:
            compare.compare_releases_job(cfg, "toy-r1", "toy-r2")
        except _Killed:
            return fs
        finally:
            monkeypatch.setattr(compare, "Fs", Fs)
        return None

    compared(None, 0)
    out = Path(cfg.output_root) / "compare" / "toy-r1_vs_toy-r2"

    def files(n: int) -> dict[str, str]:
        return {f"{name}.tsv": compare.to_tsv(df) for name, df in tables(n).items()}

    assert _killed_at_every_step(compared, out, "_disclosure.json", (files(1000), files(2000))) > 3


def test_a_gs_input_the_store_versions_by_checksum_is_keyed_by_content_not_by_its_bucket():
    """gs:// inputs were keyed by their path with their listing: the same scoring files or
    callset copied to another bucket (a new workspace bucket, a renamed folder) reran pgs and every
    stage after it, hours at All of Us scale, where a local input moved reruns nothing (07d07db).
    Where the store versions every file by a checksum of its bytes (gs://: the GCS connector's
    CRC32C, ``io.CONTENT_VERSIONS``), the input is now keyed by each file's name under it, size and
    checksum (``io.BY_CONTENT``): moved, nothing reruns; a file's bytes or name changed, it reruns.
    Versioned by mtime (HDFS, a store giving no checksum), the path still counts: the same mtimes
    elsewhere are no evidence of the same bytes. A glob's files, fingerprinted one by one
    (``stages.files_fingerprint``), are named under the glob's folder alike. The checksums are
    what ``io.Fs.fingerprint`` renders from ``getFileChecksum`` (no gs:// offline; the Hadoop
    listing path itself: ``test_a_uri_input_replaced_in_place_reruns_through_the_hadoop_file_system``)."""
    from trd_spark.io import BY_CONTENT, listing_fingerprint
    from trd_spark.stages import changed_inputs, files_fingerprint, fingerprint

    crc = {"PGS000001.txt.gz": "COMPOSITE-CRC32C:0a0b0c0d", "PGS000002.txt.gz": "COMPOSITE-CRC32C:01020304"}

    def listing(bucket: str, crcs: dict[str, str] = crc, checksum: bool = True) -> dict:
        entries = [(f"gs://{bucket}/scores/{name}", name, 100, 1_700_000_000_000) for name in crcs]
        return listing_fingerprint(f"gs://{bucket}/scores", entries, None,
                                   (lambda uri: crcs[uri.rsplit("/", 1)[-1]]) if checksum else None)

    def changed(a: dict, b: dict) -> list[str]:
        return changed_inputs({"pgs.scoring_files": a}, {"pgs.scoring_files": b})

    old = listing("old-bucket")
    assert old[BY_CONTENT] is True and changed(old, listing("new-bucket")) == []
    assert fingerprint({"inputs": {"k": old}}) == fingerprint({"inputs": {"k": listing("new-bucket")}})
    assert changed(old, listing("new-bucket", {**crc, "PGS000002.txt.gz": "COMPOSITE-CRC32C:ffffffff"})) != []
    renamed = {"PGS000003.txt.gz" if k == "PGS000002.txt.gz" else k: v for k, v in crc.items()}
    assert changed(old, listing("new-bucket", renamed)) != []
    by_mtime = listing("old-bucket", checksum=False)
    assert by_mtime[BY_CONTENT] is False and changed(by_mtime, listing("new-bucket", checksum=False)) != []

    class Store:  # answers per file as io.Fs.fingerprint does for one object
        def fingerprint(self, uri: str, recorded=None, only=None) -> dict:
            name = uri.rsplit("/", 1)[-1]
            return listing_fingerprint(uri, [(uri, "", 100, 1_700_000_000_000)], None, lambda _: crc[name])

    def globbed(bucket: str, names=tuple(crc)) -> dict:
        return files_fingerprint(f"gs://{bucket}/scores/*.txt.gz", [f"gs://{bucket}/scores/{n}" for n in names],
                                 Store())

    assert globbed("old-bucket")[BY_CONTENT] is True and changed(globbed("old-bucket"), globbed("new-bucket")) == []
    assert changed(globbed("old-bucket"), globbed("new-bucket", tuple(crc)[:1])) != []
