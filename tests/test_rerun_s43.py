"""Stale or needless reruns, round 33 (session 43, helper "rerun33").

- ``trd_spark.config`` was digested whole into every stage's code (a top-level
  ``_ConfigLoader.add_constructor`` call kept ``provenance`` from reading it by name): an edit of a
  JIT directive, of the YAML loader or of a runtime key's default reran every stage of every
  release. It is read by name now (``provenance.BY_NAME``), without the runtime keys' models
  (``provenance.RUNTIME_SETTINGS``); a manifest recording its whole digest still compares equal.
- Spark settings that change what a query returns but that no session of ours set (decimal
  precision loss, the store assignment policy, ...) came from spark-defaults.conf / ``--conf`` in no
  fingerprint: they are pinned in ``session.RESULT_SPARK_CONF`` now.
"""

from __future__ import annotations

import typing

import pytest
from test_rerun_s39 import _changed, edited  # noqa: F401 - edited: the fixture

from trd_spark import provenance
from trd_spark.layout import STAGES
from trd_spark.stages import STAGE_SPECS


def test_config_is_read_by_name():
    """``config`` holds only definitions (its loader's date constructor is set in the class body)."""
    found = provenance._source("trd_spark.config")  # noqa: SLF001
    assert found is not None
    assert "trd_spark.config" in provenance.BY_NAME
    assert provenance._definitions("trd_spark.config", found[0]) is not None  # noqa: SLF001


def test_an_edit_of_configs_runtime_models_or_loader_reruns_no_stage_and_a_result_default_does(edited):  # noqa: F811
    """A new JIT directive, another ``spark.master`` or ``lock_stale_hours`` default, the loader's
    duplicate-key message: no stage's code digest changes (on 22c6515 each changed all five); an
    edit of a default a stage computes with (liftover's ``min_match``) still changes every one."""
    before = edited("trd_spark.config", "", "")
    after = [
        edited("trd_spark.config", '"java/util/jar/*.*"], c2', '"java/util/jar/*.*", "java/util/zip/*.*"], c2'),
        edited("trd_spark.config", 'master: str = "local[2]"', 'master: str = "local[4]"'),
        edited("trd_spark.config", "lock_stale_hours: float = Field(24.0, gt=0)",
               "lock_stale_hours: float = Field(48.0, gt=0)"),
        edited("trd_spark.config", 'f"duplicate key {key!r} (first at line {seen})"',
               'f"key {key!r} given twice (first at line {seen})"'),
    ]
    assert [_changed(before, a) for a in after] == [[]] * len(after)
    config = edited("trd_spark.config", "min_match: float = Field(0.95,", "min_match: float = Field(0.90,")
    assert _changed(after[-1], config) == list(STAGES)


def test_a_runtime_setting_is_not_followed_from_a_definition_taken_that_mentions_it(tmp_path, monkeypatch):
    """In a throwaway package: a stage takes ``Top``, whose field's type is ``Run``; with ``Run`` in
    ``runtime_settings`` an edit of ``Run`` leaves the stage's digest equal, one of ``Top`` changes it;
    without, the edit of ``Run`` changes it too (the whole closure, as before)."""
    from temp_package import temp_package

    from trd_spark.provenance import code_digests

    shared = "class Run:\n    x = 1\n\n\nclass Top:\n    run: Run\n    value = 1\n"
    files = {"__init__.py": "", "shared.py": shared, "stage.py": "from rt43_pkg.shared import Top\n"}

    def digest(runtime: tuple[str, ...]) -> str:
        code_digests.cache_clear()
        return code_digests("rt43_pkg.stage", package="rt43_pkg", by_name=("rt43_pkg.shared",),
                            runtime_settings=runtime)["rt43_pkg.shared"]

    cut = ("rt43_pkg.shared:Run",)
    with temp_package(tmp_path, monkeypatch, "rt43_pkg", files) as root:
        first, whole = digest(cut), digest(())
        (root / "shared.py").write_text(shared.replace("x = 1", "x = 2"))
        assert digest(cut) == first
        assert digest(()) != whole
        (root / "shared.py").write_text(shared.replace("x = 1", "x = 2").replace("value = 1", "value = 2"))
        assert digest(cut) != first


def test_each_runtime_setting_is_a_runtime_keys_model_or_the_jit_directives():
    """``RUNTIME_SETTINGS`` lists only the models of ``config.RUNTIME_KEYS`` fields (their values are in
    no slice) and the JIT directives (``SparkSettings``' default): a scoring or phenotype model listed
    there would rerun nothing when edited."""
    from trd_spark.config import RUNTIME_KEYS, Config

    models = {a.__name__ for k in RUNTIME_KEYS
              for a in (Config.model_fields[k].annotation, *typing.get_args(Config.model_fields[k].annotation))
              if isinstance(a, type)}
    listed = {e.partition(":")[2] for e in provenance.RUNTIME_SETTINGS}
    assert {e.partition(":")[0] for e in provenance.RUNTIME_SETTINGS} == {"trd_spark.config"}
    assert listed - models == {"JIT_DIRECTIVES"}


def _as_before_s43(text: str) -> str:
    """``config.py``'s text laid out as before session 43: ``_construct_timestamp`` after the loader
    class, registered by a top-level ``add_constructor`` call, no ``yaml_constructors`` in the class."""
    lines = text.splitlines(keepends=True)
    table = [i for i, line in enumerate(lines) if line.startswith("    yaml_constructors = ")]
    assert len(table) == 1
    del lines[table[0]]
    text = "".join(lines)
    start = text.index("def _construct_timestamp(")
    end = text.index("\n\n\n", start) + 3
    function, text = text[start:end], text[:start] + text[end:]
    at = text.index("def _read_yaml(")
    call = '_ConfigLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)\n\n\n'
    return text[:at] + function + call + text[at:]


def test_a_manifest_recording_configs_whole_digest_compares_equal_while_config_is_unchanged():
    """A stage published before config was read by name recorded its whole digest: equal to
    today's config laid out as then, it is taken as today's part (no rerun of every stage for the
    change of reading); a whole digest of another config (a default edited) is still a change."""
    from trd_spark.provenance import _module_code, code_digests, recorded_code

    text, _ = provenance._source("trd_spark.config")  # noqa: SLF001
    old = _as_before_s43(text)
    assert provenance._definitions("trd_spark.config", old) is None  # noqa: SLF001 - the old, unreadable layout
    now = code_digests(STAGE_SPECS["pgs"].module)
    whole = _module_code("trd_spark.config", old, False)[0]
    assert recorded_code({**now, "trd_spark.config": whole}, now) == now
    edited_default = old.replace("min_match: float = Field(0.95,", "min_match: float = Field(0.90,")
    other = _module_code("trd_spark.config", edited_default, False)[0]
    assert recorded_code({**now, "trd_spark.config": other}, now)["trd_spark.config"] == other


# The result-changing Spark settings session 43 pins (Spark 3.5's defaults), each with a value a
# cluster's spark-defaults.conf or --conf could give it instead.
OTHER_VALUE_S43 = {
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.legacy.statisticalAggregate": "true",
    "spark.sql.legacy.sizeOfNull": "false",
    "spark.sql.legacy.typeCoercion.datetimeToString.enabled": "true",
    "spark.sql.parquet.fieldId.read.enabled": "true",
    "spark.sql.parquet.int96TimestampConversion": "true",
    "spark.sql.parquet.mergeSchema": "true",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.parser.escapedStringLiterals": "true",
    "spark.sql.mapKeyDedupPolicy": "LAST_WIN",
    "spark.sql.legacy.percentileDiscCalculation": "true",
    "spark.sql.storeAssignmentPolicy": "LEGACY",
}


@pytest.mark.parametrize("key", sorted(OTHER_VALUE_S43))
def test_a_running_session_with_another_value_of_a_pinned_result_setting_is_refused(spark, key):
    """Each key is enforced: with another value set on the running session (a notebook's, or a
    cluster default a reused session kept), ``start_session`` raises one ConfigError naming the key
    and both values (``check_result_settings`` over ``RESULT_SPARK_CONF``), and accepts the session
    again once the pinned value is back. No query runs. On 22c6515 none of these keys was pinned
    (DID NOT RAISE); a key dropped from ``RESULT_SPARK_CONF`` fails its case the same way."""
    from test_fixesC_s41 import _settings

    from trd_spark.errors import ConfigError
    from trd_spark.session import start_session

    pinned = spark.conf.get(key)
    spark.conf.set(key, OTHER_VALUE_S43[key])
    try:
        with pytest.raises(ConfigError, match=f"Spark setting {key}: {OTHER_VALUE_S43[key]} in the running session, "
                                              f"{pinned} in the config"):
            start_session(_settings())
    finally:
        spark.conf.set(key, pinned)
    assert start_session(_settings()) is spark


def test_a_session_computing_decimals_without_precision_loss_is_refused(spark):
    """``spark.sql.decimalOperations.allowPrecisionLoss`` false (a cluster default, or a notebook's
    session the run reuses) gives another quotient of two decimals; ``start_session`` refuses such a
    running session with one ConfigError naming the key (on 22c6515 it was reused as it was)."""
    from test_fixesC_s41 import _settings

    from trd_spark.errors import ConfigError
    from trd_spark.session import start_session

    key = "spark.sql.decimalOperations.allowPrecisionLoss"
    query = "SELECT CAST(3 AS DECIMAL(38, 14)) / CAST(9 AS DECIMAL(38, 14)) AS q"
    pinned = spark.sql(query).collect()[0].q
    spark.conf.set(key, "false")
    try:
        other = spark.sql(query).collect()[0].q
        with pytest.raises(ConfigError, match=f"Spark setting {key}: false in the running session, true in the config"):
            start_session(_settings())
    finally:
        spark.conf.set(key, "true")
    assert other != pinned
    assert start_session(_settings()) is spark


class _Bucket:
    """A ``gs://bucket`` held in a local folder: the ``FsLike`` calls a release lock makes, each on
    the local file the URI names (an object's mtime is the file's)."""

    def __init__(self, root):
        from trd_spark.releases import LocalFs

        self.root, self.local = root, LocalFs()

    def at(self, uri: str) -> str:
        assert uri.startswith("gs://bucket/"), uri
        return str(self.root / uri.removeprefix("gs://bucket/"))

    def __getattr__(self, name: str):
        call = getattr(self.local, name)
        return lambda path, *a: call(self.at(path), *a)


def _gcs_lock(tmp_path, monkeypatch, host: str):
    """A ``ReleaseLock`` of release r1 under ``gs://bucket/out`` (``_Bucket``) whose owner record
    names ``host`` (another host's run: judged by the storage's times, not by its pid)."""
    from trd_spark.config import load_config
    from trd_spark.releases import ReleaseLock

    cfg = load_config(None, overrides={"output_root": "gs://bucket/out", "toy_data": None, "release": "r1"})
    with monkeypatch.context() as m:
        m.setattr("trd_spark.releases.socket.gethostname", lambda: host)
        return ReleaseLock(cfg, _Bucket(tmp_path))


def test_a_gcs_lock_is_refreshed_by_its_runs_heartbeat_never_rewritten(tmp_path, monkeypatch):
    """On gs:// a refresh writes the run's own heartbeat file, never the lock (its bytes and time
    stay), and another host's lock is as old as its last heartbeat: not stale after two days
    while its heartbeat is fresh, stale once that is old too. The heartbeat goes with the lock.
    On 22c6515 the refresh rewrote the lock (check, then overwrite)."""
    import os
    import time
    from pathlib import Path

    from trd_spark.releases import lock_is_stale

    lock = _gcs_lock(tmp_path, monkeypatch, "elsewhere")
    lock.acquire()
    local = Path(lock.fs.at(lock.path))
    two_days_ago = time.time() - 48 * 3600
    os.utime(local, (two_days_ago, two_days_ago))
    written = local.read_bytes()
    assert lock_is_stale(lock.fs, lock.path, 24)
    assert lock.refresh()
    assert (local.read_bytes(), local.stat().st_mtime) == (written, two_days_ago)
    beat = Path(lock.fs.at(lock.heartbeat))
    assert beat.exists() and beat.name.startswith(".lock.heartbeat-")
    assert not lock_is_stale(lock.fs, lock.path, 24)
    os.utime(beat, (two_days_ago, two_days_ago))
    assert lock_is_stale(lock.fs, lock.path, 24)
    lock.release_lock()
    assert not local.exists() and not beat.exists()


def test_a_gcs_takeover_landing_between_the_refreshs_check_and_write_is_kept(tmp_path, monkeypatch):
    """Another run takes the lock over right after this run's refresh read its own record there:
    the refresh writes its heartbeat only, so the taker's lock stays (on 22c6515 the refresh's
    overwrite put this run's record back over it: both runs wrote the release), and this run's
    next publish check sees it is no longer its lock."""
    import json
    from pathlib import Path

    lock = _gcs_lock(tmp_path, monkeypatch, "elsewhere")
    lock.acquire()
    local = Path(lock.fs.at(lock.path))
    theirs = json.dumps({"host": "taker", "pid": 7, "process": None, "started": 1.0, "refreshed": 1.0})
    read = lock.fs.read_text

    def read_then_taken_over(path: str) -> str:
        text = read(path)
        local.write_text(theirs)  # the takeover lands just after the refresh's check read
        return text

    lock.fs.read_text = read_then_taken_over
    lock.refresh()
    lock.fs.read_text = read
    assert local.read_text() == theirs
    assert lock.holds() is False


def test_a_heartbeat_the_storage_would_not_remove_leaves_a_debug_line_naming_no_run(tmp_path, monkeypatch, caplog):
    """At release a heartbeat whose delete fails is left behind (harmless: no other run judges
    a lock by it) with one DEBUG line giving the error's type, neither the file's name nor the
    run's host or pid (reader s43 finding 7: on 655acd8 it was left with no trace)."""
    import logging
    from pathlib import Path

    lock = _gcs_lock(tmp_path, monkeypatch, "elsewhere")
    lock.acquire()
    assert lock.refresh()
    delete = lock.fs.delete

    def refuse_heartbeats(path: str) -> None:
        if ".heartbeat-" in path:
            raise PermissionError(path)
        delete(path)

    lock.fs.delete = refuse_heartbeats
    with caplog.at_level(logging.DEBUG, logger="trd_spark.releases"):
        lock.release_lock()
    assert not Path(lock.fs.at(lock.path)).exists() and Path(lock.fs.at(lock.heartbeat)).exists()
    lines = [r.getMessage() for r in caplog.records if "heartbeat" in r.getMessage()]
    assert lines == ["release r1: a heartbeat file beside the lock was not removed (PermissionError)"]
    assert not any(w in lines[0] for w in ("elsewhere", str(lock.owner["pid"]), Path(lock.heartbeat).name))
