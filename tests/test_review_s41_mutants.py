"""Mutation review of session 41's code (session 42, helper "mutants").

Each test kills a mutant of f0075d6..9d52909 that the tests of session 41 let pass (the mutant
named in each docstring; the list of mutants tried, killed and equivalent is in the commit
message). Cheap: no new Spark or Hail session (the session fixtures), tiny inputs.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd


def test_a_single_row_on_y_x_or_mt_is_told_apart(hl):
    """``engine.haploid_contig_rows`` with ONE row on a haploid contig among others (a score with
    one chrY variant): that row is flagged. Mutant: ``if there.size > 1`` (the rows found told
    apart only when two or more: a lone chrY row scored for women, a lone chrX row not halved)."""
    from trd_spark.pgs.engine import haploid_contig_rows

    rg = hl.get_reference("GRCh38")
    for contig, position, which in (("chrY", 3_000_000, 1), ("chrX", 155_000_000, 0), ("chrM", 100, 2)):
        rows = pd.DataFrame({"contig": ["chr1", contig, "chr2"], "position": [5, position, 9]})
        masks = haploid_contig_rows(rg, rows)
        assert [m.tolist() for m in masks] == [[False, i == which, False] for i in range(3)], contig


def _held_removals(monkeypatch, parent: Path) -> threading.Event:
    """``scratch.shutil.rmtree`` of a path under ``parent`` held until the returned event is set."""
    from trd_spark.pgs import scratch

    go = threading.Event()
    real_rmtree = scratch.shutil.rmtree

    def held(path, *args, **kwargs):
        if Path(path).parent == parent:
            go.wait(60)
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(scratch.shutil, "rmtree", held)
    return go


def test_release_waits_for_a_background_removal_of_another_folder(tmp_path, monkeypatch):
    """``scratch.release`` (the pgs stage's scratch directory, released last) returns only after
    this process's background removals (``release_soon``) are done, the folder it removes being
    elsewhere. Mutant: ``wait_removals()`` dropped from ``release`` (test_flat_s41's check held
    every ``rmtree``, the released folder's own too, so it passed without the wait): the stage
    reported done with the native pass's files still on tmpfs. No timing (reader s42 finding 12):
    the background removal is held until ``release`` starts its wait (or, on the mutant, removes
    its own folder), and the order of the two removals is read when ``release`` returns."""
    from trd_spark.pgs import scratch

    held_dir = tmp_path / "shm"
    (held_dir / "pgs_native_partials_a").mkdir(parents=True)
    (held_dir / "pgs_native_partials_a" / "slope.npy").write_bytes(b"\0" * 1024)
    other = tmp_path / "stage" / "pgs_stage_b"
    other.mkdir(parents=True)
    started, go, done = threading.Event(), threading.Event(), []
    real_rmtree, real_wait = scratch.shutil.rmtree, scratch.wait_removals

    def rmtree(path, *args, **kwargs):
        if Path(path).parent == held_dir:  # the background removal: held until ``go``
            started.set()
            go.wait(60)
            real_rmtree(path, *args, **kwargs)
            done.append("background")
        elif Path(path) == other:  # ``release``'s own folder: on the mutant, the removal still held
            real_rmtree(path, *args, **kwargs)
            done.append("released folder")
            go.set()
        else:
            real_rmtree(path, *args, **kwargs)

    def wait_removals():
        go.set()  # ``release`` is waiting now: the held removal may finish
        real_wait()

    monkeypatch.setattr(scratch.shutil, "rmtree", rmtree)
    monkeypatch.setattr(scratch, "wait_removals", wait_removals)
    try:
        scratch.release_soon(str(held_dir / "pgs_native_partials_a"))
        assert started.wait(60)  # the background removal is under way (held)
        scratch.release(str(other))
        assert done == ["background", "released folder"]
    finally:
        go.set()
        real_wait()
    assert not other.exists() and list(held_dir.iterdir()) == []


def test_pass_directory_removes_in_the_background_and_the_next_pass_waits(spark, tmp_path, monkeypatch):
    """``pgen_engine.pass_directory``: its exit returns while its files are still being removed
    (``release_soon``: the removal off the score phase's serial path), and the next pass's
    directory is made only after that removal (its room measured free). Mutant: ``release(path)``
    for ``release_soon`` (the removal on the caller's path again; test_flat_s41 checked only that
    the name was free after the block, true either way)."""
    from trd_spark.pgs import scratch
    from trd_spark.pgs.pgen_engine import pass_directory

    memory = tmp_path / "shm"
    memory.mkdir()
    go = _held_removals(monkeypatch, memory)
    seen: dict[str, object] = {}

    def one_pass(name: str) -> None:
        with pass_directory(spark, str(memory), 0, 0.5) as d:
            assert d is not None
            seen[name] = sorted(p.name for p in memory.iterdir())
            seen[f"{name}_dir"] = Path(d).name
            (Path(d) / "slope.npy").write_bytes(b"\0" * 1024)

    try:
        first = threading.Thread(target=one_pass, args=("first",))
        first.start()
        first.join(60)
        assert not first.is_alive(), "the pass's exit waited for its files' removal"
        second = threading.Thread(target=one_pass, args=("second",))
        second.start()
        second.join(0.5)
        assert second.is_alive() and "second" not in seen  # waiting for the first's removal
    finally:
        go.set()
    second.join(60)
    scratch.wait_removals()
    assert seen["second"] == [seen["second_dir"]]
    assert list(memory.iterdir()) == []


def test_a_folder_that_cannot_be_renamed_is_removed_in_place(tmp_path, monkeypatch):
    """``scratch.release_soon`` when the rename fails (an OSError other than the folder being gone:
    a permission, a busy mount) removes the folder where it is, as ``release`` does. Mutant: that
    branch returning without the removal (the native pass's files left on tmpfs, its name taken)."""
    from trd_spark.pgs import scratch

    folder = tmp_path / "pgs_native_partials_r"
    folder.mkdir()
    (folder / "slope.npy").write_bytes(b"\0" * 1024)

    def refused(src, dst):
        raise PermissionError(13, "Permission denied", src)

    monkeypatch.setattr(scratch.os, "rename", refused)
    scratch.release_soon(str(folder))
    scratch.wait_removals()
    assert list(tmp_path.iterdir()) == []


def test_a_running_result_setting_in_another_case_or_spacing_is_not_refused(spark):
    """``session.check_result_settings``: Spark reads these values trimmed and in any case, so a
    running session's ``FALSE `` for the config's ``false`` is the same setting: ``start_session``
    reuses it. Mutant: the compare made exact (``str(running) == wanted[key]``): such a session
    refused with a ConfigError saying the values differ."""
    from trd_spark.config import load_config
    from trd_spark.session import RESULT_SPARK_CONF, start_session

    key = "spark.sql.caseSensitive"
    spark.conf.set(key, " FALSE ")
    try:
        assert start_session(load_config(None, overrides={"toy_data": None}).spark) is spark
    finally:
        spark.conf.set(key, RESULT_SPARK_CONF[key])


def test_a_ref_last_chry_site_after_other_rows_is_checked_by_its_own_rows():
    """``native_task._SplitSiteCheck.add`` over a block that starts after other rows (``lo`` 2: two
    autosomal rows first, then chrY:3000000 A>G,C,T written REF-last, rows ``G,A``, ``C,A``,
    ``T,A``): each row's flip (alt copies ``2 - dosage``) and chrY zeroing of a non-male are taken
    at its own row. A male with A dosages 2, 2, 2 (no alt) and a female (read as 0 on chrY) pass;
    the male's 1.0, 1.4, 1.1 is 2.5 alt copies, the error. Mutants: ``self.flip[at]`` /
    ``self.y_rows[at]`` (the block's positions read as the task's rows: the first rows' flags, a
    valid file's error, 'give 4.0000 alt copies')."""
    from types import SimpleNamespace
    from typing import Any, cast

    import pytest

    from trd_spark.errors import InputDataError
    from trd_spark.pgs.native_task import _drop_non_males_on_y, _SplitSiteCheck
    from trd_spark.pgs.pgen_engine import split_site_sums

    rows = pd.DataFrame({"contig": ["chr1", "chr1", "chrY", "chrY", "chrY"],
                         "position": [100, 200, 3000000, 3000000, 3000000],
                         "ref": ["A", "C", "G", "C", "T"], "alt": ["G", "T", "A", "A", "A"]})
    arrays, _ = split_site_sums(rows, None, [0, 5])
    assert arrays["sum_flip"].tolist() == [False, False, True, True, True]
    y_rows = np.array([False, False, True, True, True])
    male = np.array([True, False])

    def check(a_dosages: list[float]) -> None:
        dose = np.array([[1.0, 1.0], [0.0, 2.0], *[[d, 2.0] for d in a_dosages]])
        _drop_non_males_on_y(dose, y_rows, male)
        task = SimpleNamespace(y_rows=y_rows, male=male, **arrays)
        checker = _SplitSiteCheck(cast(Any, task), cast(Any, SimpleNamespace(matrix="/data/y.bgen")))
        none = np.array([], dtype=np.int64)
        checker.add(0, dose[:2], none, none)
        checker.add(2, dose[2:], none, none)

    check([2.0, 2.0, 2.0])
    with pytest.raises(InputDataError, match=r"give 2\.5000 alt copies in all at chrY:3000000 A>G,C,T "):
        check([1.0, 1.4, 1.1])


def test_a_release_file_stating_the_vendor_alone_gives_the_modules_identity(tmp_path):
    """``provenance.java_digests``: a ``release`` file with ``IMPLEMENTOR`` but no
    ``JAVA_RUNTIME_VERSION`` does not state the Java (its build unknown); a real JDK 9+ home has
    ``lib/modules`` too, so the Java is named by its version and class library's digest
    (``_modules_identity``, 615ca18), not by the running JVM (which no longer gets asked for such a
    home: reader s42 finding 6; the running-JVM branch is left for a home without ``lib/modules``).
    Mutant: ``_runtime_text`` taking ``any`` stated value for ``all`` ('java.vendor=Debian;
    java.runtime.version=' in the digest: a Java update on that home reran nothing)."""
    import hashlib

    from trd_spark import provenance

    home = tmp_path / "vendor_only"
    (home / "lib").mkdir(parents=True)
    (home / "release").write_text('IMPLEMENTOR="Debian"\nJAVA_VERSION="17.0.15"\n')
    (home / "lib" / "modules").write_bytes(b"class library of this build")
    running = {"java.vendor": "Debian", "java.runtime.version": "17.0.15+6-Debian-1deb12u1"}
    got = provenance.java_digests("trd_spark.phenotypes.stage", lambda: str(home),
                                  running=lambda names: {k: running[k] for k in names})
    digest = hashlib.sha256(b"class library of this build").hexdigest()[:16]
    assert got["java:runtime"] == f"java.version=17.0.15; lib/modules=sha256:{digest}"


def _utf(text: str) -> bytes:
    """Java's ``writeUTF`` of ASCII ``text``: a big-endian 2-byte length, then the bytes."""
    return len(text).to_bytes(2, "big") + text.encode()


def test_the_zone_rules_version_is_read_from_a_tzdb_file_only(tmp_path):
    """``provenance._tzdb_version``: ``TzdbZoneRulesProvider``'s format (byte 1, the group
    ``TZDB``, a version count, the versions) gives its version; a file of another format byte or
    group gives ``unknown``. Mutants: the format byte's check dropped, the group's check dropped
    (a file of another format read as a version: a digest that names rules the JVM does not
    load)."""
    from trd_spark.provenance import _tzdb_version

    cases = {"good": b"\x01" + _utf("TZDB") + (1).to_bytes(2, "big") + _utf("2025a"),
             "format": b"\x02" + _utf("TZDB") + (1).to_bytes(2, "big") + _utf("2025a"),
             "group": b"\x01" + _utf("ZONE") + (1).to_bytes(2, "big") + _utf("2025a")}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data + b"\0" * 40)
    assert [_tzdb_version(tmp_path / n) for n in cases] == ["2025a", "unknown", "unknown"]


def test_the_java_in_use_is_the_running_jvms_whatever_find_java_says(spark, monkeypatch):
    """``session.java_home_in_use`` with a SparkContext running is the driver JVM's ``java.home``,
    not the Java a new session would pick (here another: ``find_java`` pointed elsewhere, as after a
    JAVA_HOME change in a notebook). Mutant: the running JVM's branch dropped (``find_java().home``,
    which is the running JVM's in the test process, so test_rerun_s41 passed)."""
    from trd_spark import session

    monkeypatch.setattr(session, "find_java", lambda: session.JavaRuntime(home="/nowhere/java", major=17,
                                                                           source="JAVA_HOME"))
    assert session.java_home_in_use() == str(spark.sparkContext._jvm.java.lang.System.getProperty("java.home"))


def test_only_the_rows_holding_their_sites_ref_as_alt_are_flipped():
    """``pgen_engine.split_site_sums``' ``sum_flip`` with a site written REF-last (chr4:1000000
    A>C,G as ``C,A``, ``G,A``) and a split site written REF-first in the same rows (chr5:2000000
    A>C, A>G): only the first's rows count ``2 - dosage`` alt copies. DS 0.9 and 0.9 of the second
    site (1.8 alt copies) pass ``_SplitSiteCheck``; 1.2 + 0.9 is its error. Mutant: every row of
    the split sites flipped once one is (``flip[at] = True``: 1.1 + 1.1, a valid file's error)."""
    from types import SimpleNamespace
    from typing import Any, cast

    import pytest

    from trd_spark.errors import InputDataError
    from trd_spark.pgs.native_task import _SplitSiteCheck
    from trd_spark.pgs.pgen_engine import split_site_sums

    rows = pd.DataFrame({"contig": ["chr4", "chr4", "chr5", "chr5"], "position": [1000000, 1000000, 2000000, 2000000],
                         "ref": ["C", "G", "A", "A"], "alt": ["A", "A", "C", "G"]})
    arrays, _ = split_site_sums(rows, None, [0, 4])
    assert arrays["sum_flip"].tolist() == [True, True, False, False]

    def check(second_site: list[float]) -> None:
        dose = np.array([[2.0], [2.0], *[[d] for d in second_site]])
        task = SimpleNamespace(y_rows=None, male=None, **arrays)
        none = np.array([], dtype=np.int64)
        _SplitSiteCheck(cast(Any, task), cast(Any, SimpleNamespace(matrix="/data/d.bgen"))).add(0, dose, none, none)

    check([0.9, 0.9])
    with pytest.raises(InputDataError, match=r"give 2\.1000 alt copies in all at chr5:2000000 A>C,G "):
        check([1.2, 0.9])


def test_a_swapped_site_is_snv_rows_sharing_exactly_one_allele():
    """``matching.swapped_site_refs`` (the rule matching and the split-site check share): a site
    is found where the rows at a position hold more than one REF as written, all SNVs of two
    alleles, sharing exactly one allele (``C,A`` and ``G,A``: A). Not one: the rows of a split
    site written REF-first (one REF), one variant written twice with its alleles swapped (``A,C``
    and ``C,A`` share two), rows with an indel or a row whose REF is its alt. Mutants:
    ``nunique >= 1``, ``len(shared) >= 1`` (one of two alleles taken at random as the REF),
    ``any`` for ``all`` SNVs, the two-allele rule dropped."""
    from trd_spark.pgs.matching import swapped_site_refs

    rows = pd.DataFrame([("chr1", 10, "C", "A"), ("chr1", 10, "G", "A"),      # REF-last: A
                         ("chr1", 20, "A", "C"), ("chr1", 20, "A", "G"),      # REF-first
                         ("chr1", 30, "A", "C"), ("chr1", 30, "C", "A"),      # swapped twin
                         ("chr1", 40, "G", "A"), ("chr1", 40, "AT", "A"),     # an indel
                         ("chr1", 50, "C", "A"), ("chr1", 50, "A", "A")],     # REF = ALT
                        columns=["contig", "gp", "gr", "ga"])
    kept, groups = swapped_site_refs(rows)
    assert groups == {("chr1", 10): "A"}
    assert 20 not in set(kept["gp"])


def test_hails_split_site_check_on_chry_without_a_sex_checks_nobody(hl):
    """``genotypes.check_split_site_sums`` on chrY records of one site given split (chrY:3000000
    A>C, A>G; DS 1.5 + 1.5) in a MatrixTable without ``MALE_X`` (no sample known male: nobody's
    chrY is scored, as plink2 --score without a sex): no error; nor for a sample of unknown sex
    (``MALE_X`` missing). (A male's such rows are the error: test_field_cases_round33_pgs.)
    Mutants: ``hl.bool(True)`` for no ``MALE_X``, ``coalesce(MALE_X, True)`` (a sample not known
    male checked as one: a false error for rows no score reads). One Hail job per call, one
    sample."""
    from trd_spark.pgs.genotypes import MALE_X, check_split_site_sums

    rows = pd.DataFrame({"contig": ["chrY", "chrY"], "position": [3000000, 3000000], "ref": ["A", "A"],
                         "alt": ["C", "G"]})
    mt = hl.utils.range_matrix_table(2, 1, n_partitions=1)
    mt = mt.annotate_rows(locus=hl.locus("chrY", 3000000, "GRCh38"),
                          alleles=hl.literal([["A", "C"], ["A", "G"]])[mt.row_idx])
    mt = mt.key_rows_by("locus", "alleles").annotate_entries(DOSAGE=1.5)
    check_split_site_sums(hl, mt, rows, "DS")
    check_split_site_sums(hl, mt.annotate_cols(**{MALE_X: hl.missing(hl.tbool)}), rows, "DS")  # sex unknown


def test_a_module_running_code_at_import_or_reaching_itself_by_name_is_read_whole():
    """``provenance._definitions`` is None (the module digested whole) for an ``if TYPE_CHECKING:``
    with an ``else`` (its ``else`` runs at import) and for ``sys.modules["<the module's own
    name>"]`` (its own names reached by string); ``sys.modules.get("<another module>")`` and an
    ``if TYPE_CHECKING:`` of imports only keep it readable by name. Mutants: the ``else`` allowed
    (``_type_checking_imports`` without ``not stmt.orelse``), the own-name exception dropped
    (``_other_modules_by_name`` without ``arg.value != module``)."""
    from trd_spark.provenance import _definitions

    name = "trd_spark.review_s41_fake"
    head = "import sys\nfrom typing import TYPE_CHECKING\n"
    readable = head + ("if TYPE_CHECKING:\n    from collections.abc import Mapping\n"
                       "def f():\n    return sys.modules.get('pyspark.context')\n")
    assert _definitions(name, readable) is not None
    with_else = head + "if TYPE_CHECKING:\n    import os\nelse:\n    os = None\nX = 1\n"
    assert _definitions(name, with_else) is None
    itself = head + f"def f():\n    return sys.modules['{name}'].X\nX = 1\n"
    assert _definitions(name, itself) is None


def test_a_condition_concept_on_two_concept_rows_counts_its_observation_records_once(spark):
    """``phenotypes.stage.event_table_counts``' ``n_condition_concept_in_observation`` with the MDD
    concept on two concept rows (the CDM's primary key broken, as its per-concept counts allow
    for): the one observation record holding it is counted once. Mutant: the count summed over
    the concept join's rows (``F.sum`` for ``F.max``: 2)."""
    import datetime as dt

    from test_phenotypes_support import CONCEPTS, MDD_CONCEPT, frame, omop_tables

    from trd_spark.phenotypes.stage import CONDITION_IN_OBSERVATION, event_table_counts

    t = omop_tables(spark)
    t["concept"] = frame(spark, "concept", CONCEPTS + [
        (MDD_CONCEPT, "Major depressive disorder (copy)", "Condition", "SNOMED", "Clinical Finding", "S", "370143000")])
    t["observation"] = frame(spark, "observation", [(1, MDD_CONCEPT, dt.date(2019, 5, 1), None)])
    got = event_table_counts(t, condition_ids=frozenset({MDD_CONCEPT})).first()
    assert got is not None
    assert (got[CONDITION_IN_OBSERVATION], got["n_observation_records"]) == (1, 1)


def test_a_release_another_run_holds_is_exit_6_before_its_inputs_are_read(tmp_path, monkeypatch):
    """``cli._run`` on a local release another live run holds stops with LockedError (exit 6)
    before the inputs' checks: a run on a locked release with inputs it would refuse says the
    release is locked. Mutant: the early peek dropped (``if False``): the inputs' error instead
    (the lock is taken after them)."""
    from cli_run_support import prepared_run, refused_while_another_run_holds_the_lock

    from trd_spark.config import load_config
    from trd_spark.errors import InputDataError

    cfg = load_config(None, overrides={"output_root": str(tmp_path / "out"), "toy_data": None, "release": "r1"})

    def bad_inputs(*_a, **_k):
        raise InputDataError("omop: no such folder", where=str(tmp_path / "omop"))

    refused_while_another_run_holds_the_lock(cfg, prepared_run(monkeypatch, cfg, check_inputs=bad_inputs))


def test_the_condition_in_observation_count_is_a_part_of_every_observation_total():
    """``phenotypes.stage.records_within``: the count of condition concepts in observation is a
    part of observation's records alone, beside its study records and beside its concept-0
    records (disjoint), so no two shown counts give a small difference by arithmetic
    (``stage_record_texts``). Mutant: only the first pair kept (test_field_cases_round33_omop
    checks that one)."""
    from trd_spark.phenotypes.stage import CONDITION_IN_OBSERVATION, CONDITION_IN_OBSERVATION_PART, records_within

    total = "quirks.event_table_records.n_observation_records"
    misplaced = f"quirks.{CONDITION_IN_OBSERVATION_PART}.{CONDITION_IN_OBSERVATION}"
    pairs = records_within({CONDITION_IN_OBSERVATION_PART: {CONDITION_IN_OBSERVATION: 4}})
    assert {(total, (misplaced,)), (total, ("study_event_dates.observation.n_records", misplaced)),
            (total, ("quirks.unmapped_records.n_observation", misplaced))} <= set(pairs)
