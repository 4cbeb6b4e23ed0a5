"""A stage's rerun fingerprint covers what it reads under its config, no more and no less
(session 28, helper "reruns18").

Stages are published with the real ``publish_stage`` on tiny input folders (as in
``test_pipeline_rerun``) and ``stages.rerun_reasons`` / ``plan`` (what ``run`` and ``explain``
decide with) are asked again after a user's change; no stage runs.
"""

from __future__ import annotations

from pathlib import Path

from test_pipeline_rerun import _config

from trd_spark.config import Config, load_config
from trd_spark.io import LocalFs, listing_fingerprint
from trd_spark.layout import publish_stage
from trd_spark.stages import STAGE_SPECS, changed_inputs, fingerprint_parts, input_files, rerun_reasons


def _publish(spark, cfg: Config, stage: str) -> None:
    with publish_stage(spark, cfg, stage) as writer:
        writer.write_text("out.txt", f"{stage}\n")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _phenotypes(cfg: Config) -> list[str]:
    return rerun_reasons(cfg, STAGE_SPECS["phenotypes"], LocalFs())


def test_phenotypes_rerun_for_the_omop_tables_they_read_and_for_no_other_file(spark, tmp_path):
    """The phenotype stage's fingerprint of ``omop.path`` was a digest of every file below it:
    a new release's ``note`` or ``measurement`` folder (tables the stage never opens), a README,
    a ``_SUCCESS`` marker or ``.crc`` rewritten by a re-export, or ``drug_strength`` without a
    minimum dose reran phenotypes, cohort, models and report. Now it covers the tables
    ``phenotypes.omop.omop_tables_read`` names, each located as the reader locates it
    (``{table}.parquet`` or ``{table}/``) and listed as Spark lists it; a table it reads,
    a part file added to one, an optional table appearing, and drug_strength once a minimum
    dose is configured, still rerun it, and the reason names the tables that changed."""
    cfg = load_config(_config(tmp_path))
    omop = Path(cfg.omop.path)
    parts = [_write(omop / "condition_occurrence" / f"year={y}" / "part-00000.parquet", f"PAR1 {y}") for y in (2019, 2020)]
    _publish(spark, cfg, "phenotypes")
    assert _phenotypes(cfg) == []

    _write(omop / "note" / "part-00000.parquet", "PAR1 note")  # tables the stage never opens
    _write(omop / "measurement.parquet", "PAR1 measurement")
    _write(omop / "README.md", "CDR v8\n")
    _write(omop / "condition_occurrence" / "_SUCCESS", "")  # not data to Spark
    _write(omop / "condition_occurrence" / "year=2019" / ".part-00000.parquet.crc", "crc")
    _write(omop / "condition_occurrence" / "part-00009.parquet._COPYING_", "half a copy")
    _write(omop / "drug_strength.parquet", "PAR1 strengths")  # no minimum dose configured: not read
    assert _phenotypes(cfg) == []

    def changed(entries: str) -> list[str]:  # the reason names the tables (entries of omop.path) that changed
        return [f"input omop.path changed ({cfg.omop.path}: {entries})"]

    parts[1].write_text("PAR1 2020 corrected")
    assert _phenotypes(cfg) == changed("condition_occurrence changed")
    _publish(spark, cfg, "phenotypes")
    _write(omop / "condition_occurrence" / "year=2021" / "part-00000.parquet", "PAR1 2021")  # a part file added
    assert _phenotypes(cfg) == changed("condition_occurrence changed")
    _publish(spark, cfg, "phenotypes")
    _write(omop / "device_exposure" / "part-00000.parquet", "PAR1 rTMS")  # optional table, read when present
    assert _phenotypes(cfg) == changed("device_exposure added")
    _publish(spark, cfg, "phenotypes")
    # A person/ folder beside person.parquet: the reader stops on the two, so it reruns (test_reruns_s55).
    _write(omop / "person" / "part-00000.parquet", "PAR1 other person")
    assert _phenotypes(cfg) == changed("person added")
    (omop / "person.parquet").unlink()  # now the reader takes person/
    assert _phenotypes(cfg) == changed("person added, person.parquet removed")

    trials = cfg.phenotypes.trials.model_copy(update={"ingredient_min_daily_dose": {715939: 10.0}})
    dosed = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"trials": trials})})
    assert str(omop / "drug_strength.parquet") in input_files(dosed, STAGE_SPECS["phenotypes"])["omop.path"]
    _publish(spark, dosed, "phenotypes")
    assert _phenotypes(dosed) == []
    (omop / "drug_strength.parquet").write_text("PAR1 strengths v2")
    assert _phenotypes(dosed) == changed("drug_strength.parquet changed")


class _Bucket(LocalFs):
    """A gs:// OMOP folder held in memory ({uri: (size, mtime_ms)}), answering as ``io.Fs``
    does (``exists``, recursive ``list_files`` without hidden names, ``fingerprint`` from one
    listing); local paths as ``LocalFs``."""

    def __init__(self, objects: dict[str, tuple[int, int]]):
        self.objects = objects

    def exists(self, path: str) -> bool:
        if not path.startswith("gs://"):
            return super().exists(path)
        return any(u == path or u.startswith(path + "/") for u in self.objects)

    def list_files(self, path: str) -> dict[str, int]:
        if path in self.objects:  # Hadoop's listFiles of a file: the file itself, at ""
            return {"": self.objects[path][0]}
        return {u[len(path) + 1:]: size for u, (size, _) in sorted(self.objects.items())
                if u.startswith(path + "/") and not any(p.startswith(".") for p in u[len(path) + 1:].split("/"))}

    def glob_files(self, pattern: str) -> list[str]:
        return sorted(u for u in self.objects if u.startswith(pattern))

    def fingerprint(self, path: str, recorded=None, only=None) -> dict[str, object]:
        entries = [(u, u[len(path) + 1:], size, mtime) for u, (size, mtime) in self.objects.items()
                   if u.startswith(path + "/")]
        return listing_fingerprint(path, entries, recorded, None, only)


def test_an_omop_folder_on_an_object_store_is_fingerprinted_by_the_tables_read(tmp_path):
    """On gs:// the OMOP folder's fingerprint is taken from its listing (``io.Fs.fingerprint``),
    kept to the files of the tables the stage reads (``files_fingerprint``'s ``only``): a new
    table of the release changes nothing, a part of a table read does."""
    cfg = load_config(_config(tmp_path))
    cfg = cfg.model_copy(update={"omop": cfg.omop.model_copy(update={"path": "gs://cdr/v8/omop"})})
    spec = STAGE_SPECS["phenotypes"]
    bucket = _Bucket({"gs://cdr/v8/omop/person/part-0.parquet": (100, 1),
                      "gs://cdr/v8/omop/person/_SUCCESS": (0, 1),
                      "gs://cdr/v8/omop/concept.parquet": (50, 1)})
    assert input_files(cfg, spec, bucket) == {"omop.path": ["gs://cdr/v8/omop/concept.parquet",
                                                            "gs://cdr/v8/omop/person/part-0.parquet"]}
    before = fingerprint_parts(cfg, spec, bucket)["inputs"]
    assert before["omop.path"]["files"] == 2
    bucket.objects["gs://cdr/v8/omop/note/part-0.parquet"] = (999, 2)
    bucket.objects["gs://cdr/v8/omop/person/_SUCCESS"] = (0, 2)
    assert changed_inputs(before, fingerprint_parts(cfg, spec, bucket)["inputs"]) == []
    bucket.objects["gs://cdr/v8/omop/person/part-1.parquet"] = (10, 2)
    assert changed_inputs(before, fingerprint_parts(cfg, spec, bucket)["inputs"]) == ["omop.path"]


def test_export_folders_a_killed_run_left_are_removed_and_a_live_runs_are_not(tmp_path):
    """The native engine's hard-call export (``pgs.native.export_dir``: every sample's calls at
    the matched rows) is removed when its stage ends, but a SIGKILLed run left it, and nothing
    ever removed it (gigabytes per run on a shared disk). Each export folder now holds its
    owner (host, pid, process identity, start time) and the next run removes the folders no
    live run owns: this host's with the process gone or its pid reused, another host's older
    than ``releases.lock_stale_hours``, one without a readable owner by its age; a concurrent
    run's folder (this host's live process, another host's recent run, a folder just made and
    not yet claimed) and anything not named as an export stay."""
    import json
    import os
    import socket
    import subprocess
    import time

    from trd_spark.pgs import scratch
    from trd_spark.pgs.stage import scoring_scratch
    from trd_spark.stages import config_view

    cfg = load_config(_config(tmp_path))
    base = tmp_path / "export"
    native = cfg.pgs.native.model_copy(update={"export_dir": str(base)})
    cfg = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"native": native})})
    day_ago = time.time() - 25 * 3600
    gone = subprocess.Popen(["true"])  # a process that has ended: its pid names none now
    gone.wait()
    here, live = socket.gethostname(), os.getppid()

    def folder(name: str, owner: dict | str | None, mtime: float | None = None) -> Path:
        path = base / name
        path.mkdir(parents=True)
        (path / "hard_calls.bed").write_bytes(b"l\x1b\x01")
        if owner is not None:
            (path / scratch.OWNER).write_text(owner if isinstance(owner, str) else json.dumps(owner))
        if mtime is not None:
            for p in (path, *path.iterdir()):
                os.utime(p, (mtime, mtime))
        return path

    removed = {
        folder("pgs_export_killed", {"host": here, "pid": gone.pid, "started": time.time()}),
        folder("pgs_export_pid_reused", {"host": here, "pid": live, "process": "another-boot:1", "started": time.time()}),
        folder("pgs_export_other_host_old", {"host": "worker-7", "pid": live, "started": day_ago}, day_ago),
        folder("pgs_export_no_owner_old", None, day_ago),
        folder("pgs_export_half_written_old", "", day_ago),
    }
    kept = {
        folder("pgs_export_live", {"host": here, "pid": live, "process": scratch._process_identity(live),
                                   "started": day_ago}),
        folder("pgs_export_other_host_running", {"host": "worker-7", "pid": 1, "started": time.time() - 3600}),
        folder("pgs_export_not_yet_claimed", None),
        folder("plink_cache_old", None, day_ago),
    }
    with scoring_scratch(None, None, config_view(cfg, STAGE_SPECS["pgs"])) as export:
        assert {p for p in base.iterdir() if p.name != Path(export).name} == kept
        assert json.loads((Path(export) / scratch.OWNER).read_text())["pid"] == os.getpid()
    assert set(base.iterdir()) == kept and not removed & set(base.iterdir())


def test_a_reworded_concept_set_description_reruns_nothing_and_a_concept_edit_does(spark, tmp_path):
    """A concept set's ``description`` documents the set and computes nothing, yet it was in the
    phenotype stage's slice (the concept-set file's whole content): rewording it reran
    phenotypes, cohort, models and report. It is now in no slice (``stages.DOCUMENTATION_KEYS``)
    and no stage may read it; a concept's ``name`` stays content (an ingredient's name when the
    release's ``concept`` table lacks it), and so do the concepts."""
    import pytest

    from trd_spark.stages import config_view

    cfg = load_config(_config(tmp_path))
    _publish(spark, cfg, "phenotypes")

    def with_set(**changes) -> Config:
        sets = cfg.concept_sets.model_copy(deep=True)
        sets.concept_sets["mdd"] = sets.concept_sets["mdd"].model_copy(update=changes)
        return cfg.model_copy(update={"concept_sets": sets})

    assert _phenotypes(with_set(description="Major depression, reworded")) == []
    include = cfg.concept_sets.concept_sets["mdd"].include
    renamed = [include[0].model_copy(update={"name": "Depressive disorder (renamed)"}), *include[1:]]
    edited = ["config changed: concept_sets.concept_sets.mdd.include"]
    assert _phenotypes(with_set(include=renamed)) == edited
    assert _phenotypes(with_set(include=include[1:])) == edited
    view = config_view(cfg, STAGE_SPECS["phenotypes"])
    assert view.concept_sets.concept_sets["mdd"].domain == "condition"
    with pytest.raises(LookupError, match="concept_sets.concept_sets.description"):
        _ = view.concept_sets.concept_sets["mdd"].description


def test_the_pgs_stage_scratch_of_another_host_or_a_reused_pid_is_judged_by_its_owner(tmp_path):
    """``stage_scratch`` removed every ``pgs_stage_<pid>_*`` folder whose pid ran no process on
    this machine: in a temp dir two hosts share (a mounted ``spark.tmp_dir``) that was the other
    host's live run's scratch (its score tables, read lazily: that run then failed), and a
    killed run's folder stayed for as long as its pid named some other process. The folder now
    holds its owner (``scratch.claim``), judged as the export folders' are; a folder without a
    record keeps the rule by the pid in its name."""
    import json
    import os
    import socket
    import subprocess
    import time

    from trd_spark.pgs.stage import SCRATCH_PREFIX, stage_scratch

    class _Hail:  # stage_scratch asks Hail only for its temp dir
        def tmp_dir(self) -> str:
            return str(tmp_path / "hail-tmp")

    base = tmp_path / "hail-tmp"
    gone = subprocess.Popen(["true"])
    gone.wait()

    def folder(name: str, owner: dict | None) -> Path:
        path = base / name
        path.mkdir(parents=True)
        if owner is not None:
            (path / "_owner.json").write_text(json.dumps(owner))
        return path

    other_host = folder(f"{SCRATCH_PREFIX}{gone.pid}_worker7", {"host": "worker-7", "pid": gone.pid,
                                                                "started": time.time() - 60})
    reused = folder(f"{SCRATCH_PREFIX}{os.getppid()}_reused", {"host": socket.gethostname(), "pid": os.getppid(),
                                                              "process": "another-boot:1", "started": time.time()})
    legacy_dead = folder(f"{SCRATCH_PREFIX}{gone.pid}_old", None)
    legacy_live = folder(f"{SCRATCH_PREFIX}{os.getppid()}_old", None)
    with stage_scratch(_Hail()) as scratch:
        assert {p for p in base.iterdir() if p != Path(scratch)} == {other_host, legacy_live}
        assert not reused.exists() and not legacy_dead.exists()
        assert json.loads((Path(scratch) / "_owner.json").read_text())["pid"] == os.getpid()
    assert not Path(scratch).exists()


def test_a_changed_input_folder_names_ten_entries_and_counts_the_others(tmp_path):
    """A rerun reason names at most ``stages.NAMED_ENTRIES`` (10) changed entries of a local input
    folder, then "N more": a folder of per-chromosome files (a BGEN per chromosome) re-exported
    whole would otherwise put every file in one log line. Entries in name order; the digest of
    the folder (what decides the rerun) covers them all."""
    from trd_spark.stages import NAMED_ENTRIES, _entry_changes, files_fingerprint

    folder = tmp_path / "bgen"
    files = [_write(folder / f"chr{c:02d}.bgen", "v1") for c in range(1, 14)]

    def fingerprint() -> dict:
        return files_fingerprint(str(folder), sorted(str(f) for f in folder.iterdir()))

    before = fingerprint()
    for f in files[:12]:
        f.write_text("v2")
    files[12].unlink()
    _write(folder / "chr23.bgen", "v1")
    assert NAMED_ENTRIES == 10
    assert _entry_changes(before, fingerprint()) == (
        ", ".join(f"chr{c:02d}.bgen changed" for c in range(1, 11)) + ", 4 more")
    assert changed_inputs({"g": before}, {"g": fingerprint()}) == ["g"]


def test_the_native_pass_spill_folders_a_killed_run_left_are_removed(tmp_path):
    """The native pass's local folder (``pgen_engine._spill_dir``: the weighted rows and the
    tasks' partial sums under Spark's first ``spark.local.dir``, hundreds of MB at All of Us
    scale) was removed by its own run only, so a SIGKILLed run's stayed for good, as the export
    folders under ``pgs.native.export_dir`` did (c024917's sibling). It now holds its owner
    record and the next pass removes the ones whose process is gone; a live run's, another
    host's and one without a record (an older version's) stay. No Spark: the pass asks its
    session only for the master and ``spark.local.dir``."""
    import json
    import os
    import socket
    import subprocess
    import time
    from types import SimpleNamespace

    from trd_spark.pgs import scratch
    from trd_spark.pgs.pgen_engine import SPILL_PREFIX, _spill_dir

    local = tmp_path / "spark-local"
    conf = {"spark.local.dir": f"{local},{tmp_path / 'second'}"}
    session = SimpleNamespace(sparkContext=SimpleNamespace(master="local[2]",
                                                           getConf=lambda: SimpleNamespace(get=conf.get)),
                              conf=SimpleNamespace(get=lambda key, default=None: conf.get(key, default)))
    gone = subprocess.Popen(["true"])
    gone.wait()
    here, live = socket.gethostname(), os.getppid()

    def folder(name: str, owner: dict | None) -> Path:
        path = local / name
        path.mkdir(parents=True)
        (path / "slope.npy").write_bytes(b"\x93NUMPY")
        if owner is not None:
            (path / scratch.OWNER).write_text(json.dumps(owner))
        return path

    killed = folder(f"{SPILL_PREFIX}killed", {"host": here, "pid": gone.pid, "started": time.time()})
    kept = {folder(f"{SPILL_PREFIX}live", {"host": here, "pid": live, "process": scratch._process_identity(live),
                                           "started": time.time()}),
            folder(f"{SPILL_PREFIX}other_host", {"host": "worker-7", "pid": gone.pid, "started": time.time() - 86400}),
            folder(f"{SPILL_PREFIX}no_owner", None),
            folder("blockmgr-1", None)}
    with _spill_dir(session) as spill:
        assert spill is not None and Path(spill).parent == local
        assert not killed.exists() and {p for p in local.iterdir() if p != Path(spill)} == kept
        assert json.loads((Path(spill) / scratch.OWNER).read_text())["pid"] == os.getpid()
    assert not Path(spill).exists() and set(local.iterdir()) == kept
