"""Session 55 reruns: a scheduled rerun on a new release, tried for a stale answer.

Found: a stage's ``lib:`` keys held the version of the distribution whose metadata is installed,
not of the copy the run imports. ``spark-submit`` puts its Spark's own
``$SPARK_HOME/python/lib/pyspark.zip`` first on the driver's path (a cluster's Spark; on Dataproc
the image's, with a pip pyspark beside it that Hail's requirements bring, or none), so after a
Spark upgrade with the image every stage was skipped as up to date on the old Spark's outputs
(``provenance._imported_version``). No Spark in this module: provenance reads files only.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from trd_spark import provenance

REPO = Path(__file__).resolve().parent.parent


def _clear() -> None:
    for cached in ("code_digests", "_distribution_versions", "_imported_version", "_requirements",
                   "_closure_versions"):
        if hasattr(getattr(provenance, cached, None), "cache_clear"):
            getattr(provenance, cached).cache_clear()
    importlib.invalidate_caches()


def _site(root: Path, version: str, *, package: bool = True, metadata: bool = True) -> Path:
    """A folder as pip leaves it: ``s55fakelib`` (``__version__ = version``) and its dist-info."""
    root.mkdir(parents=True)
    if package:
        (root / "s55fakelib").mkdir()
        (root / "s55fakelib" / "__init__.py").write_text(f'__version__ = "{version}"\n')
    if metadata:
        info = root / f"s55fakelib-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: s55fakelib\nVersion: {version}\n")
        (info / "top_level.txt").write_text("s55fakelib\n")
    return root


def _zip(path: Path, version: str) -> Path:
    """``s55fakelib`` of ``version`` in a zip, as Spark ships ``pyspark.zip`` (no metadata)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("s55fakelib/__init__.py", f'__version__: str = "{version}"\n')
    return path


def _lib_key(tmp_path: Path, monkeypatch, *entries: Path) -> str | None:
    """``lib:s55fakelib`` of a stage module that imports it, with ``entries`` first on sys.path
    in that order (as spark-submit orders the driver's PYTHONPATH)."""
    pkg = tmp_path / "pkg" / "s55stagepkg"
    if not pkg.exists():
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "stage.py").write_text("import s55fakelib\n\n\ndef run():\n    return s55fakelib\n")
    for entry in reversed((tmp_path / "pkg", *entries)):
        monkeypatch.syspath_prepend(str(entry))
    monkeypatch.delitem(sys.modules, "s55fakelib", raising=False)
    _clear()
    # The installed distributions as ``_distribution_versions`` reads them, with the first
    # s55fakelib metadata on the path (reading every installed one costs ~2 CPU-s a call).
    infos = [i for e in entries for i in sorted(Path(e).glob("s55fakelib-*.dist-info")) if Path(e).is_dir()]
    fake = {"s55fakelib": f"s55fakelib=={infos[0].name.removesuffix('.dist-info').partition('-')[2]}"} if infos else {}
    monkeypatch.setattr(provenance, "_distribution_versions", lambda: fake)
    try:
        return provenance.code_digests("s55stagepkg.stage", package="s55stagepkg").get("lib:s55fakelib")
    finally:
        monkeypatch.undo()
        sys.modules.pop("s55stagepkg", None)
        _clear()


def test_a_library_imported_from_a_zip_before_its_installed_copy_counts_by_the_zip(tmp_path, monkeypatch):
    """before this session: ``lib:s55fakelib`` was ``s55fakelib==1.0`` (the installed metadata)
    while the import found the zip's 2.0 first, as the driver of ``spark-submit`` from a cluster's
    Spark imports that Spark's pyspark.zip: a Spark upgrade reran nothing."""
    site = _site(tmp_path / "site", "1.0")
    assert _lib_key(tmp_path, monkeypatch, site) == "s55fakelib==1.0"  # a plain install: as before
    assert _lib_key(tmp_path, monkeypatch, _zip(tmp_path / "spark" / "a.zip", "2.0"), site) == "s55fakelib==2.0"
    assert _lib_key(tmp_path, monkeypatch, _zip(tmp_path / "spark" / "b.zip", "2.1"), site) == "s55fakelib==2.1"
    # The same version in the zip as installed: the same key (a manifest from a plain run compares equal).
    assert _lib_key(tmp_path, monkeypatch, _zip(tmp_path / "spark" / "c.zip", "1.0"), site) == "s55fakelib==1.0"


def test_a_library_with_no_installed_metadata_counts_by_its_declared_version(tmp_path, monkeypatch):
    """before this session: a library no installed distribution provides (Dataproc's pyspark,
    from the image's Spark, without pip metadata) had no ``lib:`` key at all, so a new image's
    Spark reran nothing. A copy with metadata only (an upgrade as test_rerun_s40 simulates it:
    the dist-info first on the path, the package where it was) keeps its metadata's version."""
    assert _lib_key(tmp_path, monkeypatch, _zip(tmp_path / "spark" / "a.zip", "3.3.2")) == "s55fakelib==3.3.2"
    assert _lib_key(tmp_path, monkeypatch, _site(tmp_path / "bare", "4.0", metadata=False)) == "s55fakelib==4.0"
    meta_only = _site(tmp_path / "meta", "9.0", package=False)
    assert _lib_key(tmp_path, monkeypatch, meta_only, _site(tmp_path / "site", "1.0")) == "s55fakelib==9.0"
    nothing = tmp_path / "empty"
    nothing.mkdir()
    (nothing / "s55fakelib").mkdir()
    (nothing / "s55fakelib" / "__init__.py").write_text("VERSION = (1, 0)\n")
    assert _lib_key(tmp_path, monkeypatch, nothing) is None  # no version to read: left out, as before


def test_spark_submits_pyspark_zip_is_the_pyspark_in_every_stage_digest(tmp_path):
    """The field case with the real pyspark: the venv's pyspark repacked as Spark ships it
    (``python/lib/pyspark.zip``) with another version, first on PYTHONPATH. Before this session the
    phenotypes stage's digest said the venv's version (its dates are parsed by that Spark), so
    ``explain`` called every stage of a release made on the other Spark up to date."""
    import pyspark

    src = Path(pyspark.__file__).parent
    spark_zip = tmp_path / "spark" / "python" / "lib" / "pyspark.zip"
    spark_zip.parent.mkdir(parents=True)
    with zipfile.ZipFile(spark_zip, "w") as z:
        for f in sorted(src.rglob("*.py")):
            text = f.read_text(encoding="utf-8")
            if f.relative_to(src).as_posix() == "version.py":
                text = '__version__: str = "3.4.4"\n'
            z.writestr(f"pyspark/{f.relative_to(src).as_posix()}", text)
    code = ("from trd_spark.provenance import code_digests\n"
            "print(code_digests('trd_spark.phenotypes.stage').get('lib:pyspark'))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(spark_zip), str(REPO), str(REPO / "tests")])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "pyspark==3.4.4"  # the venv's pyspark: test_an_installed_library_...


def test_an_installed_library_keeps_its_installed_version():
    """Guard of the change (before it: no ``_imported_version``): where the import finds the distribution's own copy (every library of this venv),
    the key is the installed metadata's, as before: no stage reruns for this change of how it is
    read (the five stages' code digests were compared equal before and after, session 55)."""
    versions = provenance._distribution_versions()
    for top in ("pyspark", "py4j", "pandas", "numpy", "statsmodels", "lifelines", "hail", "pyarrow", "yaml"):
        assert versions.get(top) and provenance._imported_version(top, versions[top]) == versions[top], top


def _omop_files(tmp_path: Path) -> list[str]:
    """``stage_input_files``' list for an OMOP folder ``tmp_path`` under the toy config."""
    from test_phenotypes_support import toy_config

    from trd_spark.phenotypes.omop import stage_input_files

    return [os.path.relpath(f, tmp_path) for f in stage_input_files(toy_config(path=str(tmp_path)), None)["omop.path"]]


def test_a_table_folder_written_beside_the_file_read_reruns_the_phenotypes_stage(tmp_path):
    """before this session: a ``drug_exposure/`` folder (a later export) written beside the
    ``drug_exposure.parquet`` the outputs were read from was in no fingerprint, so the scheduled
    run said "all 5 stages up to date" and printed the old headline, though the reader stops on the
    two (``_locate``: which one holds the table is unknown). Now the folder's parts count: the stage
    reruns and stops with that one error (toy-r2, session 55: exit 3)."""
    from trd_spark.stages import files_fingerprint

    for table in ("person", "drug_exposure", "concept"):
        (tmp_path / f"{table}.parquet").write_bytes(b"x")
    before = _omop_files(tmp_path)
    assert before == ["concept.parquet", "drug_exposure.parquet", "person.parquet"]
    (tmp_path / "drug_exposure").mkdir()
    (tmp_path / "drug_exposure" / "part-0.parquet").write_bytes(b"y")
    (tmp_path / "drug_exposure" / "_SUCCESS").write_bytes(b"")
    assert _omop_files(tmp_path) == [*before[:2], "drug_exposure/part-0.parquet", "person.parquet"]
    digest = [files_fingerprint(str(tmp_path), [str(tmp_path / f) for f in files])["digest"]
              for files in (before, _omop_files(tmp_path))]
    assert digest[0] != digest[1]


def test_an_absent_table_under_a_name_the_reader_stops_on_reruns_the_phenotypes_stage(tmp_path):
    """before this session: an optional table absent when the release was run (read as empty: no
    deaths) and then delivered as ``DEATH.parquet`` (an Oracle export's upper case) or
    ``death.csv.gz`` was in no fingerprint: the release stayed up to date with every death lost,
    though the reader stops on such a name (near_table_names, field case round 37). Such names of a
    table that is there rerun nothing (the reader takes the table's own name and looks no further)."""
    (tmp_path / "person.parquet").write_bytes(b"x")
    assert _omop_files(tmp_path) == ["person.parquet"]
    (tmp_path / "DEATH.parquet").write_bytes(b"x")
    (tmp_path / "Device_Exposure").mkdir()
    (tmp_path / "Device_Exposure" / "part-0.parquet").write_bytes(b"x")
    assert _omop_files(tmp_path) == ["DEATH.parquet", "Device_Exposure/part-0.parquet", "person.parquet"]
    (tmp_path / "PERSON.parquet").write_bytes(b"x")  # person.parquet is there: not read, no rerun
    (tmp_path / "person.csv.gz").write_bytes(b"x")
    (tmp_path / "observation_period_README.txt").write_bytes(b"x")  # another table's name: not death's
    assert _omop_files(tmp_path) == ["DEATH.parquet", "Device_Exposure/part-0.parquet", "person.parquet"]


def test_a_delta_log_written_into_a_table_folder_reruns_the_phenotypes_stage(tmp_path):
    """before this session: ``_delta_log/`` is ``_``-prefixed, so a table folder turned into a
    Delta table in place after the release ran (CONVERT TO DELTA, then a DELETE of whole files,
    which writes the log alone) left the fingerprint as it was, though the reader stops on such a
    folder (``check_not_versioned_table``: its files of earlier versions would read as rows)."""
    (tmp_path / "person.parquet").write_bytes(b"x")
    (tmp_path / "drug_exposure").mkdir()
    (tmp_path / "drug_exposure" / "part-0.parquet").write_bytes(b"x")
    before = _omop_files(tmp_path)
    (tmp_path / "drug_exposure" / "_delta_log").mkdir()
    (tmp_path / "drug_exposure" / "_delta_log" / "00000000000000000000.json").write_text("{}")
    (tmp_path / "drug_exposure" / "_SUCCESS").write_text("")  # still not data
    assert _omop_files(tmp_path) == ["drug_exposure/_delta_log/00000000000000000000.json", *before]


def test_a_comparison_of_releases_made_by_different_code_says_so(tmp_path, caplog):
    """before this session: ``compare-releases A B`` of a release rerun under a code fix (``run
    --release latest`` takes the newest first) and one not yet rerun compared them without a word,
    so the fix's effect read as a change between the releases. Now one WARNING and a summary line
    name the stages and modules that differ; the same code (run control apart) says nothing."""
    import json
    import logging

    from trd_spark.layout import Layout
    from trd_spark.releases import LocalFs
    from trd_spark.report.compare import code_differences, warn_code_differences

    def publish(release: str, stage: str, code: dict) -> None:
        folder = Path(Layout(str(tmp_path), release).stage_dir(stage))
        folder.mkdir(parents=True)
        (folder / "_manifest.json").write_text(json.dumps({"fingerprint_parts": {"code": code}}))
        (folder / "_SUCCESS").write_text("")

    same = {"trd_spark.models.stage": "aa", "lib:statsmodels": "statsmodels==0.14.4"}
    for release in ("r1", "r2"):
        publish(release, "models", same)
    publish("r1", "phenotypes", {"trd_spark.phenotypes.omop": "11", "java:phenotypes": "17"})
    publish("r2", "phenotypes", {"trd_spark.phenotypes.omop": "22", "java:phenotypes": "17"})
    publish("r1", "pgs", {"trd_spark.pgs.stage": "1"})  # r2 has no pgs output: not compared
    fs = LocalFs()
    assert code_differences(fs, str(tmp_path), "r1", "r2") == ["phenotypes: trd_spark.phenotypes.omop"]
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        (line,) = warn_code_differences(fs, str(tmp_path), "r1", "r2")
    assert "phenotypes: trd_spark.phenotypes.omop" in line
    assert "r1 and r2 were made by different code" in caplog.text
    # A run-control module recorded by an older version on one side only is no difference.
    publish("r1", "cohort", {"trd_spark.cohort.stage": "c", "trd_spark.releases": "old"})
    publish("r2", "cohort", {"trd_spark.cohort.stage": "c"})
    assert code_differences(fs, str(tmp_path), "r1", "r2") == ["phenotypes: trd_spark.phenotypes.omop"]
