"""Scheduled reruns read no unchanged input and rerun nothing for a file no stage reads
(session 27, helper "reruns17").

A stage is published with the real ``publish_stage`` on small input files (as in
``test_pipeline_rerun``); ``stages.rerun_reasons`` (what ``run`` and ``explain`` decide with) is
then asked again after a user's change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_pipeline_rerun import _config, _same_size_same_mtime

import trd_spark.stages as stages
from trd_spark.config import Config, load_config
from trd_spark.layout import publish_stage
from trd_spark.pgs.scoring_files import other_build_copies, scoring_file_paths
from trd_spark.releases import LocalFs
from trd_spark.stages import STAGE_SPECS, rerun_reasons


def _publish(spark, cfg: Config, stage: str) -> None:
    with publish_stage(spark, cfg, stage) as writer:
        writer.write_text("out.txt", f"{stage}\n")


def _reads_on_rerun(cfg: Config, stage: str) -> tuple[list[str], int]:
    """(rerun reasons, local input files hashed) of ``stage`` as a new process sees it."""
    stages._content_digest.cache_clear()
    reasons = rerun_reasons(cfg, STAGE_SPECS[stage], LocalFs())
    return reasons, stages._content_digest.cache_info().misses


def test_a_rerun_reads_no_unchanged_input_file_and_still_sees_a_replaced_one(spark, tmp_path, monkeypatch):
    """Every local input file up to 256 MiB was hashed again by every plan: at All of Us
    scale (thousands of OMOP part files, VCF shards) a no-op rerun read the whole input.
    Now a file is hashed only when its [size, mtime, ctime, inode] differs from the one its
    stage's manifest recorded with its digest, whatever its size; any write changes ctime,
    so a same-size, same-mtime replacement (in place, or a new file moved over it) is still
    read and reruns the stage, and the same bytes put back rerun nothing. A file changed
    within ``RACY_NS`` of the fingerprint is not recorded (read again next time): a second
    write in the same file-system clock tick can leave its stat as it was. On a file system
    whose ctime does not follow every change (a FUSE mount: ``stages.CTIME_FILE_SYSTEMS``) a
    small file is read every time, as before."""
    cfg = load_config(_config(tmp_path))
    omop = Path(cfg.omop.path)
    parts = [omop / f"condition_occurrence.parquet/part-{i:05d}.parquet" for i in range(40)]
    for i, part in enumerate(parts):
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(b"PAR1 %05d" % i)
    n_files = len(stages._local_files(str(omop)))
    monkeypatch.setattr(stages, "RACY_NS", 10**15, raising=False)  # every file changed "just now": not recorded
    _publish(spark, cfg, "phenotypes")
    assert _reads_on_rerun(cfg, "phenotypes") == ([], n_files)

    monkeypatch.setattr(stages, "RACY_NS", 0, raising=False)  # as for files last changed long before
    _publish(spark, cfg, "phenotypes")
    assert _reads_on_rerun(cfg, "phenotypes") == ([], 0)
    with monkeypatch.context() as fuse:  # as on a gcsfuse mount (ctime = mtime): read every time, as before
        fuse.setattr(stages, "CTIME_FILE_SYSTEMS", frozenset(), raising=False)
        assert _reads_on_rerun(cfg, "phenotypes") == ([], n_files)

    changed = [f"input omop.path changed ({cfg.omop.path}: condition_occurrence.parquet changed)"]
    _same_size_same_mtime(parts[7], "PAR1 99999")  # in place: same inode, new ctime
    assert _reads_on_rerun(cfg, "phenotypes") == (changed, 1)
    _same_size_same_mtime(parts[7], "PAR1 00007")  # the same bytes back: read, nothing reruns
    assert _reads_on_rerun(cfg, "phenotypes") == ([], 1)
    manifest = json.loads((Path(cfg.output_root) / cfg.release / "phenotypes" / "_manifest.json").read_text())
    now = stages.fingerprint_parts(cfg, STAGE_SPECS["phenotypes"], LocalFs())
    assert now["inputs"]["omop.path"]["stat"] != manifest["fingerprint_parts"]["inputs"]["omop.path"]["stat"]
    assert stages.fingerprint(now) == manifest["fingerprint"]  # the stage's identity: bytes, not stats
    assert "stat" not in manifest["inputs"]["omop.path"]  # the records once per manifest
    st = parts[3].stat()
    replacement = parts[3].with_name("incoming.tmp")
    replacement.write_bytes(b"PAR1 88888")
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    replacement.replace(parts[3])  # a new file moved over it: same size and mtime, new inode
    # Part 7 is read again too: its stat is not the recorded one until phenotypes republishes.
    assert _reads_on_rerun(cfg, "phenotypes") == (changed, 2)


def test_files_the_pgs_stage_does_not_read_rerun_nothing(spark, tmp_path):
    """The fingerprint of a ``pgs.scoring_files`` directory covered every file below it, and a
    glob's every match: a checksum sidecar (``*.md5``), a hidden or ``_``-prefixed file, a
    sub-directory's files or a harmonised copy for a build no dataset uses (the stage
    reads none of them) reran the pgs stage (hours on All of Us) and all after it. Now it covers
    exactly the files the stage parses (``scoring_files.files_read``, the stage's own expansion);
    a new scoring file still reruns it, and the reason names it."""
    cfg = load_config(_config(tmp_path))
    catalog = tmp_path / "inputs" / "catalog"
    catalog.mkdir()
    (catalog / "PGS000001_hmPOS_GRCh38.txt.gz").write_bytes(b"gz")
    cfg = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"scoring_files": [
        *cfg.pgs.scoring_files, str(catalog)]})})
    _publish(spark, cfg, "pgs")
    assert rerun_reasons(cfg, STAGE_SPECS["pgs"], LocalFs()) == []

    scores = Path(cfg.pgs.scoring_files[0]).parent
    (scores / "PGS1.txt.md5").write_text("d41d8cd98f00b204e9800998ecf8427e  PGS1.txt\n")
    (scores / "more.txt").mkdir()  # a directory the glob matches
    (scores / "more.txt" / "PGS1.txt").write_text("below a matched directory\n")
    for name in ("PGS000001_hmPOS_GRCh38.txt.gz.md5", ".DS_Store", "_SUCCESS",
                 "PGS000001_hmPOS_GRCh37.txt.gz"):  # GRCh37: no dataset is on it
        (catalog / name).write_text(f"{name}\n")
    (catalog / "old").mkdir()
    (catalog / "old" / "PGS000002.txt").write_text("an older download\n")
    assert rerun_reasons(cfg, STAGE_SPECS["pgs"], LocalFs()) == []
    from trd_spark.stages import input_files  # the files the fingerprint covers

    read = scoring_file_paths(None, cfg.pgs.scoring_files)  # what the stage parses for GRCh38
    read = [p for p in read if p not in other_build_copies(read, "GRCh38")]
    assert [f for files in input_files(cfg, STAGE_SPECS["pgs"]).values() for f in files or []] == read

    (catalog / "PGS000003.txt").write_text("a new score\n")
    assert rerun_reasons(cfg, STAGE_SPECS["pgs"], LocalFs()) == [f"input pgs.scoring_files.1 changed ({catalog})"]
    grch37 = cfg.datasets[0].genotypes.model_copy(update={"reference_genome": "GRCh37"})
    on_both = cfg.model_copy(update={"datasets": [cfg.datasets[0], cfg.datasets[0].model_copy(
        update={"name": "replication", "role": "replication", "genotypes": grch37})]})
    assert str(catalog / "PGS000001_hmPOS_GRCh37.txt.gz") in input_files(on_both, STAGE_SPECS["pgs"])[
        "pgs.scoring_files.1"]  # a dataset on GRCh37 reads that copy: it counts


@pytest.fixture(autouse=True)
def _no_digest_cache_across_tests():
    yield
    stages._content_digest.cache_clear()


def _published_pgs(spark, tmp_path):
    """(config, layout, local fs, file names, a function publishing them): a ``pgs/`` stage
    folder published once through ``publish_stage``, for the object-store rename tests."""
    from trd_spark.layout import Layout

    cfg = load_config(_config(tmp_path))
    layout, local = Layout.of(cfg), LocalFs()
    names = ("match_summary.tsv", "scores.tsv", "weights.tsv", "z_notes.txt")

    def publish_pgs() -> None:
        with publish_stage(spark, cfg, "pgs") as writer:
            for name in names:
                writer.write_text(name, f"{name}\n")

    publish_pgs()
    return cfg, layout, local, names, publish_pgs


def test_a_publish_stopped_while_its_folder_is_copied_leaves_no_complete_looking_folder(spark, tmp_path, monkeypatch):
    """On ``gs://`` a folder rename is a copy of each object (in name order), then a delete.
    The manifest and ``_SUCCESS`` were written into the hidden folder before it was renamed
    into place, and they sort before lower-case names: a run killed during the copy (or a
    reader during it) saw a stage folder marked complete with files missing, which ``releases``
    and the next stage took as published. Now the markers are written after the folder is in
    place, the old folder losing its own first (``layout.swap_in``); a run stopped during the
    copy leaves the stage incomplete, and the next publish completes it. The object store's
    rename is played on the local disk by the same ``publish_stage`` / ``publish_folder`` code
    path: files copied one by one in name order (not Hadoop's local ``.crc`` files, which an
    object store has none of), the run stopped (SIGTERM) halfway."""
    import shutil
    import signal

    from trd_spark.errors import Interrupted
    from trd_spark.io import Fs
    from trd_spark.layout import EXPORT, publish_folder
    from trd_spark.report.stage import drop_checksum_files

    cfg, layout, local, names, publish_pgs = _published_pgs(spark, tmp_path)
    real_rename = Fs.rename

    def object_store_rename(self, src: str, dst: str) -> None:
        if ".inprogress-" not in src:  # the old folder moved aside: let it complete
            return real_rename(self, src, dst)
        files = sorted(p.relative_to(src) for p in Path(src).rglob("*") if p.is_file() and not p.name.startswith("."))
        for rel in files[:len(files) // 2]:
            (Path(dst) / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(src) / rel, Path(dst) / rel)
        raise Interrupted(signal.SIGTERM, "pgs")

    monkeypatch.setattr(Fs, "rename", object_store_rename)
    with pytest.raises(Interrupted):
        publish_pgs()
    assert (Path(layout.stage_dir("pgs")) / "match_summary.tsv").exists()  # the copy got that far
    assert not layout.is_complete(local, "pgs")
    assert rerun_reasons(cfg, STAGE_SPECS["pgs"], local) == ["no complete output (pgs)"]

    export = layout.stage_dir(EXPORT)
    files = {"results.tsv": "x\n", "cohort_flow.tsv": "y\n", "_manifest.json": "{}", "_SUCCESS": ""}
    with pytest.raises(Interrupted):
        publish_folder(Fs(spark), export, files, before_swap=drop_checksum_files)
    assert Path(export).exists() and not layout.is_complete(local, EXPORT)

    monkeypatch.setattr(Fs, "rename", real_rename)
    publish_pgs()
    assert layout.is_complete(local, "pgs") and rerun_reasons(cfg, STAGE_SPECS["pgs"], local) == []
    assert sorted(p.name for p in Path(layout.stage_dir("pgs")).iterdir() if not p.name.startswith(".")) == sorted(
        [*names, "_SUCCESS", "_manifest.json"])
    publish_folder(Fs(spark), export, files, before_swap=drop_checksum_files)  # as publish_export
    assert sorted(p.name for p in Path(export).iterdir()) == sorted(files)  # whole, and no .crc beside the markers
    assert [p.name for p in Path(layout.release_dir).iterdir() if p.name.startswith(".")] == []


# A GCS object resource as objects.list / objects.get return it (JSON API), before and after
# `gcloud storage objects update --custom-metadata=reviewed=yes` (a metadata-only update:
# metageneration and updated move) and after the object is written again with other bytes of
# the same size (a new generation, md5Hash and crc32c).
_OBJECT = {"kind": "storage#object", "id": "aou-cdr/v8/omop/person/part-00000.parquet/1719859200123456",
           "name": "v8/omop/person/part-00000.parquet", "bucket": "aou-cdr", "generation": "1719859200123456",
           "metageneration": "1", "contentType": "application/octet-stream", "storageClass": "STANDARD",
           "size": "1048576", "md5Hash": "1B2M2Y8AsgTpgAmY7PhCfg==", "crc32c": "AAAAAA==", "etag": "CMDp1Z6k9YYDEAE=",
           "timeCreated": "2024-07-01T18:40:00.123Z", "updated": "2024-07-01T18:40:00.123Z"}
_METADATA_UPDATED = {**_OBJECT, "metageneration": "2", "etag": "CMDp1Z6k9YYDEAI=", "metadata": {"reviewed": "yes"},
                     "updated": "2024-09-12T08:00:00.456Z"}
_REWRITTEN = {**_OBJECT, "generation": "1726128000654321", "md5Hash": "rL0Y20zC+Fzt72VPzMSk2A==",
              "crc32c": "4waSgw==", "etag": "CPGH6OCk9YYDEAE=", "timeCreated": "2024-09-12T08:00:00.000Z",
              "updated": "2024-09-12T08:00:00.000Z"}


def test_an_object_stores_metadata_only_update_reruns_nothing_and_new_bytes_do():
    """``io.Fs.fingerprint`` versioned a gs:// object by its mtime, which the GCS connector
    takes from ``updated``: a metadata-only update (a label, custom metadata, an object hold)
    moves it, and every stage after the input reran with "input ... changed" (hours on All of
    Us). Now a file's version is what the store says changes with its bytes
    (``io.listing_version``: md5Hash, else generation, else its CRC32C / Hadoop checksum, the
    mtime only when the store gives none) and the folder's latest mtime is not compared. The
    rule is pure over listing records (no gs:// offline): GCS object resources, a composite
    object (no md5Hash), and ``Fs.fingerprint``'s own records (Hadoop listing + the GCS
    connector's checksum, asked only for a file whose size or mtime moved)."""
    from trd_spark.io import listing_fingerprint, listing_version
    from trd_spark.stages import changed_inputs

    assert listing_version(_METADATA_UPDATED) == listing_version(_OBJECT)
    assert listing_version(_REWRITTEN) != listing_version(_OBJECT)
    composite = {k: v for k, v in _OBJECT.items() if k != "md5Hash"}  # gcloud's parallel composite upload
    assert listing_version({**composite, "metageneration": "2", "updated": "2024-09-12T08:00:00.456Z"}) == (
        listing_version(composite))
    assert listing_version({**composite, "generation": "1726128000654321"}) != listing_version(composite)

    uri = "gs://aou-cdr/v8/omop/person/part-00000.parquet"
    asked: list[str] = []
    crc = {"now": "COMPOSITE-CRC32C:5a4f2c1b"}

    def checksum(u: str) -> str | None:  # what GoogleHadoopFileSystem.getFileChecksum gives, as Fs renders it
        asked.append(u)
        return crc["now"]

    def fingerprint(mtime_ms: int, recorded: dict | None) -> dict:
        entries = [(uri, "part-00000.parquet", 1048576, mtime_ms), (uri + ".2", "part-00001.parquet", 10, 1719859200000)]
        return listing_fingerprint("gs://aou-cdr/v8/omop/person", entries, recorded, checksum)

    first = fingerprint(1719859200123, None)
    assert len(asked) == 2
    same = fingerprint(1719859200123, first["stat"])
    assert asked == [uri, uri + ".2"] and changed_inputs({"omop": first}, {"omop": same}) == []  # nothing asked
    metadata = fingerprint(1726128000456, first["stat"])  # updated moved, bytes did not
    assert asked[2:] == [uri] and changed_inputs({"omop": first}, {"omop": metadata}) == []
    crc["now"] = "COMPOSITE-CRC32C:0e77e3d2"  # new bytes of the same size
    rewritten = fingerprint(1726128000999, metadata["stat"])
    assert changed_inputs({"omop": first}, {"omop": rewritten}) == ["omop"]
    no_checksum = listing_fingerprint("hdfs://nn/omop", [(uri, "part-00000.parquet", 1048576, 1)], None, None)
    moved = listing_fingerprint("hdfs://nn/omop", [(uri, "part-00000.parquet", 1048576, 2)], None, None)
    assert changed_inputs({"omop": no_checksum}, {"omop": moved}) == ["omop"]  # HDFS: a write moves mtime
    # A folder's files a stage reads (pgs.scoring_files: stages.files_fingerprint), kept from one listing:
    # a checksum sidecar added beside them changes nothing.
    scores = [(f"gs://b/scores/PGS00000{i}.txt.gz", f"PGS00000{i}.txt.gz", 100 + i, 1) for i in (1, 2)]
    sidecar = [("gs://b/scores/PGS000001.txt.gz.md5", "PGS000001.txt.gz.md5", 50, 2)]
    read = {uri for uri, *_ in scores}
    kept = listing_fingerprint("gs://b/scores", scores + sidecar, None, checksum, only=read)
    assert kept == listing_fingerprint("gs://b/scores", scores, None, checksum) and kept["files"] == 2


def test_moving_the_native_engines_scratch_directory_reruns_nothing(spark, tmp_path):
    """``pgs.native.export_dir`` is where the native engine writes its temporary PLINK files:
    whether it is set decides on a cluster whether that engine scores hard calls (unset: Hail's
    pass), but which directory it is changes no number. Moving it to another disk reran the
    pgs stage (hours on All of Us) and everything after it; now only setting or unsetting it
    does (``stages.PRESENCE_KEYS``)."""
    cfg = load_config(_config(tmp_path))

    def with_scratch(path: str | None) -> Config:
        return cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={
            "native": cfg.pgs.native.model_copy(update={"export_dir": path})})})

    _publish(spark, with_scratch("/mnt/scratch-a/trd"), "pgs")
    assert rerun_reasons(with_scratch("/mnt/scratch-b/trd"), STAGE_SPECS["pgs"], LocalFs()) == []
    assert rerun_reasons(with_scratch(None), STAGE_SPECS["pgs"], LocalFs()) == [
        "config changed: pgs.native.export_dir"]


def test_a_uri_written_with_a_trailing_slash_is_the_same_input(tmp_path):
    """``gsutil ls`` prints a folder as ``gs://bucket/omop/``; pasted into the config, the
    trailing slash (which Hadoop's Path drops: the same files) made the phenotypes slice and
    the input's fingerprint differ from the same config without it, and phenotypes, cohort,
    models and report reran. The loaded config now writes such a URI without it."""
    import yaml

    from trd_spark.stages import config_slice

    config = _config(tmp_path)
    raw = yaml.safe_load(config.read_text())
    loaded = []
    for i, omop in enumerate(("gs://aou-cdr/v8/omop", "gs://aou-cdr/v8/omop/", "gs://aou-cdr/v8/omop//")):
        raw["omop"]["path"] = omop
        path = tmp_path / f"config{i}.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        loaded.append(load_config(path))
    spec = STAGE_SPECS["phenotypes"]
    assert {c.omop.path for c in loaded} == {"gs://aou-cdr/v8/omop"}
    assert config_slice(loaded[1], spec) == config_slice(loaded[0], spec) == config_slice(loaded[2], spec)
    assert spec.external(loaded[1]) == spec.external(loaded[0])


def test_a_new_release_reads_no_input_file_the_last_release_recorded(spark, tmp_path, monkeypatch):
    """A scheduled run on a new release has no manifest of its own yet, so every local input
    was hashed in full (a shared genotype callset or OMOP parts the new release did not
    change: terabytes at All of Us scale). A stat record names its file and holds its whole
    stat, so one taken in another release under the same output root is as sound: the new
    release reads only the files whose stat differs. A damaged manifest of another release is
    passed over."""
    cfg = load_config(_config(tmp_path))
    for i in range(5):
        part = Path(cfg.omop.path) / f"drug_exposure.parquet/part-{i:05d}.parquet"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(b"PAR1 %05d" % i)
    n_files = sum(len(stages._local_files(path)) for _, path in STAGE_SPECS["phenotypes"].external(cfg))
    monkeypatch.setattr(stages, "RACY_NS", 0, raising=False)
    _publish(spark, cfg, "phenotypes")
    damaged = Path(cfg.output_root) / "toy-r0" / "phenotypes" / "_manifest.json"
    damaged.parent.mkdir(parents=True)
    damaged.write_text('{"fingerprint_parts": ')
    new_release = cfg.model_copy(update={"release": "toy-r2"})

    def hashed(release_cfg: Config) -> int:
        stages._content_digest.cache_clear()
        stages.fingerprint_parts(release_cfg, STAGE_SPECS["phenotypes"], LocalFs())
        return stages._content_digest.cache_info().misses

    assert hashed(new_release) == 0
    (Path(cfg.omop.path) / "person.parquet").write_text("a new release's person table\n")
    assert hashed(new_release) == 1 and n_files > 1


def test_a_publish_stopped_while_the_old_folder_is_moved_aside_leaves_no_complete_looking_folder(spark, tmp_path,
                                                                                                  monkeypatch):
    """The other half of the object-store rename (the test above: the new folder's copy): a
    previous complete ``pgs/`` is moved aside first, and on ``gs://`` that is a copy then a
    delete of each object, in an order the connector chooses. Stopped midway through the
    deletes, ``pgs/`` held some of its files; had it kept ``_SUCCESS`` and its manifest it would
    look complete with files missing (``layout.swap_in`` deletes the old folder's markers
    before moving it: that step is what this checks; the deletes are played here in reverse
    name order, markers last, and stopped halfway)."""
    import shutil
    import signal

    from trd_spark.errors import Interrupted
    from trd_spark.io import Fs

    cfg, layout, local, names, publish_pgs = _published_pgs(spark, tmp_path)
    real_rename = Fs.rename

    def object_store_rename(self, src: str, dst: str) -> None:
        if ".inprogress-" in src:  # the new folder moved in: not reached
            return real_rename(self, src, dst)
        shutil.copytree(src, dst)  # every object copied, then deleted from the end, stopped halfway
        files = sorted((p for p in Path(src).rglob("*") if p.is_file() and not p.name.startswith(".")), reverse=True)
        for path in files[:len(files) // 2]:
            path.unlink()
        raise Interrupted(signal.SIGTERM, "pgs")

    monkeypatch.setattr(Fs, "rename", object_store_rename)
    with pytest.raises(Interrupted):
        publish_pgs()
    assert (Path(layout.stage_dir("pgs")) / "match_summary.tsv").exists()  # the deletes got that far
    assert not layout.is_complete(local, "pgs")
    assert rerun_reasons(cfg, STAGE_SPECS["pgs"], local) == ["no complete output (pgs)"]
