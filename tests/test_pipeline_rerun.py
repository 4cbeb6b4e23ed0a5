"""Which stages a run reruns (issue 15): per-stage fingerprints from the stage declarations.

Stages are published with the real ``publish_stage`` (the manifest and run id the runner
reads; a one-line text output instead of the stage's tables), on small input files; then the
config or an input changes and ``stages.plan`` (what ``run_stages`` and ``explain`` decide
with) must name exactly the stages that would rerun, and why.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from trd_spark.cli import headline_table, main
from trd_spark.config import _PATH_FIELDS, REPO_CONF_DIR, RUNTIME_KEYS, Config, LiftoverSettings, load_config
from trd_spark.io import Fs
from trd_spark.layout import EXPORT, STAGES, publish_stage
from trd_spark.pipeline import needs_spark_to_plan, skip_all_without_spark
from trd_spark.preflight import missing_inputs
from trd_spark.releases import LocalFs
from trd_spark.stages import INPUT_PATH, NOT_STAGE_SETTINGS, STAGE_SPECS, config_slice, plan


def _config(tmp: Path) -> Path:
    inputs = tmp / "inputs"
    for name in ("discovery.vcf", "scores/PGS1.txt", "omop/person.parquet", "ancestry.tsv", "related.tsv"):
        (inputs / name).parent.mkdir(parents=True, exist_ok=True)
        (inputs / name).write_text(f"{name}\n")
    # A VCF `run`'s preflight accepts (header, a GT record, whole last line): the no-op rerun runs it.
    (inputs / "discovery.vcf").write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\t"
                                          "FORMAT\tS1\nchr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\n")
    raw = yaml.safe_load((REPO_CONF_DIR / "toy.yaml").read_text())
    raw.pop("toy_data")
    raw["output_root"] = str(tmp / "results")
    raw["spark"]["tmp_dir"] = str(tmp / "tmp")
    raw["datasets"] = [{"name": "discovery", "role": "discovery",
                        "genotypes": {"format": "vcf", "path": str(inputs / "discovery.vcf")}}]
    raw["ancestry"] = {"path": str(inputs / "ancestry.tsv"), "related_samples_to_remove": str(inputs / "related.tsv")}
    raw["pgs"].update(scoring_files=[str(inputs / "scores" / "*.txt")], trait_panel=str(REPO_CONF_DIR / "trait_panel_toy.yaml"))
    raw["omop"]["path"] = str(inputs / "omop")
    raw["phenotypes"]["concept_sets"] = str(REPO_CONF_DIR / "concept_sets.yaml")
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _publish(spark, cfg: Config, stages=STAGES) -> None:
    for stage in stages:
        for out in STAGE_SPECS[stage].outputs:
            with publish_stage(spark, cfg, out) as writer:
                writer.write_text("out.txt", f"{out}\n")


def _reruns(cfg: Config) -> list[str]:
    return [s for s, reasons in plan(cfg, LocalFs()).items() if reasons]


def published_in(spark, folder: Path) -> Config:
    """Every stage published on ``_config(folder)``'s small inputs, nothing to rerun: this
    module's ``published`` and the module-scoped ones of test_rerun_s33 and test_rerun_s34 (each
    of whose tests changes the config in memory only, and puts back what it republishes)."""
    cfg = load_config(_config(folder))
    _publish(spark, cfg)
    assert _reruns(cfg) == []
    return cfg


@pytest.fixture
def published(spark, tmp_path) -> tuple[Path, Config]:
    cfg = published_in(spark, tmp_path)
    assert cfg.source_path is not None
    return Path(cfg.source_path), cfg


def test_small_count_threshold_reruns_every_stage(published):
    """The threshold is the fewest persons a dataset's PC standardisation is fitted on (privacy:
    test_privacy_pc_fallback), and it labels every stage's log lines and gate decisions
    (``stages.LABEL_KEYS``): every stage reruns, pgs and phenotypes too (session 54: they kept
    their runs, and with them their lines under the old threshold, docs/privacy.md)."""
    _, cfg = published
    changed = cfg.model_copy(update={"report": cfg.report.model_copy(update={"small_count_threshold": 21})})
    reasons = plan(changed, LocalFs())
    assert [s for s, r in reasons.items() if r] == ["pgs", "phenotypes", "cohort", "models", "report"]
    for stage in ("pgs", "phenotypes"):
        assert reasons[stage] == ["config changed: report.small_count_threshold"], (stage, reasons[stage])
    for stage in ("cohort", "report"):
        assert "config changed: report.small_count_threshold" in reasons[stage], (stage, reasons[stage])


def test_runtime_settings_rerun_nothing(published):
    _, cfg = published
    spark_settings = cfg.spark.model_copy(update={"master": "yarn", "shuffle_partitions": 999, "driver_memory": "64g"})
    assert _reruns(cfg.model_copy(update={"spark": spark_settings})) == []
    assert _reruns(cfg.model_copy(update={"releases": cfg.releases.model_copy(update={"lock_stale_hours": 1})})) == []


def test_republished_pgs_reruns_cohort_models_report(spark, published):
    _, cfg = published
    _publish(spark, cfg, ["pgs"])  # e.g. `trd-spark pgs` after the scoring file changed
    reasons = plan(cfg, LocalFs())
    assert _reruns(cfg) == ["cohort", "models", "report"]
    assert "upstream pgs was republished" in reasons["cohort"]
    assert reasons["models"] == ["upstream cohort reruns"]


def test_changed_inputs_rerun_their_stage_and_downstream(published, tmp_path):
    _, cfg = published
    related = Path(cfg.ancestry.related_samples_to_remove)
    related.write_text("sample_id\n1001\n")
    assert _reruns(cfg) == ["cohort", "models", "report"]
    assert any("input ancestry.related_samples_to_remove changed" in r for r in plan(cfg, LocalFs())["cohort"])
    related.unlink()  # explain says so (run stops on it in its preflight check)
    assert plan(cfg, LocalFs())["cohort"] == [f"input ancestry.related_samples_to_remove not found ({related})"]
    related.write_text("sample_id\n1001\n")
    # A new scoring file matching the configured glob reruns pgs (and all it feeds).
    (Path(cfg.pgs.scoring_files[0]).parent / "PGS2.txt").write_text("new\n")
    assert _reruns(cfg) == ["pgs", "cohort", "models", "report"]


def test_pgs_standardisation_is_a_cohort_setting(published):
    _, cfg = published
    changed = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"standardisation": "overall"})})
    reasons = plan(changed, LocalFs())
    assert _reruns(changed) == ["cohort", "models", "report"]
    assert reasons["cohort"] == ["config changed: pgs.standardisation"]


def test_an_export_left_by_a_stopped_report_run_reruns_report(published):
    """Privacy round 10, item 1: a report run killed after publishing report/ and before
    replacing export/ left the earlier run's export, complete, and the next run found the
    report up to date (toy run in /tmp/priv21: 'report: up to date, skipped' with export/ of
    the run before), so the export was not the one the current report describes. The report
    records the folders that carry its run id (``notes.published_with_run_id``); another run
    id there reruns it."""
    import json

    from trd_spark.layout import PUBLISHED_WITH_RUN_ID

    _, cfg = published
    folder = Path(cfg.output_root) / cfg.release
    report, export = (json.loads((folder / s / "_manifest.json").read_text()) for s in ("report", EXPORT))
    assert report["run_id"] != export["run_id"]  # published apart: the stage said nothing of export/
    report["notes"] = {**(report.get("notes") or {}), PUBLISHED_WITH_RUN_ID: [EXPORT]}
    (folder / "report" / "_manifest.json").write_text(json.dumps(report))
    assert plan(cfg, LocalFs())["report"] == ["output export is not the one the last report run made (stopped "
                                              "before publishing it)"]
    (folder / EXPORT / "_manifest.json").write_text(json.dumps({**export, "run_id": report["run_id"]}))
    assert _reruns(cfg) == []


def test_incomplete_export_reruns_report(published):
    _, cfg = published
    (Path(cfg.output_root) / cfg.release / EXPORT / "_SUCCESS").unlink()
    assert plan(cfg, LocalFs())["report"] == ["no complete output (export)"]


def _edit_code_parts(cfg: Config, stage: str, edit) -> None:
    """Rewrite ``stage``'s published manifest as if published by other code."""
    path = Path(cfg.output_root) / cfg.release / stage / "_manifest.json"
    m = json.loads(path.read_text())
    edit(m["fingerprint_parts"])
    path.write_text(json.dumps(m))


def test_changed_code_reruns_the_stage_that_runs_it_and_downstream_only(published):
    """The code part is per stage (provenance.code_digests): outputs published by another
    cox.py rerun models (and the report reading them), not pgs/phenotypes/cohort; another hail
    version reruns pgs and everything after it."""
    _, cfg = published
    _edit_code_parts(cfg, "models", lambda p: p["code"].update({"trd_spark.models.cox": "0" * 16}))
    reasons = plan(cfg, LocalFs())
    assert _reruns(cfg) == ["models", "report"]
    assert reasons["models"] == ["code changed: trd_spark.models.cox"]
    assert reasons["report"] == ["upstream models reruns"]
    _edit_code_parts(cfg, "pgs", lambda p: p["code"].update({"lib:hail": "hail==0.2.1"}))
    assert _reruns(cfg) == ["pgs", "cohort", "models", "report"]
    assert plan(cfg, LocalFs())["pgs"] == ["code changed: lib:hail"]


def test_output_published_without_code_digests_reruns(published):
    _, cfg = published
    _edit_code_parts(cfg, "phenotypes", lambda p: p.pop("code"))
    assert plan(cfg, LocalFs())["phenotypes"] == ["published by an older trd-spark (no per-module code digest)"]
    assert _reruns(cfg) == ["phenotypes", "cohort", "models", "report"]


def test_every_config_key_is_in_a_stage_slice_or_runtime():
    """A setting no stage declares would change outputs without a rerun: every key of the
    config model must be claimed by a slice (or be a runtime key)."""
    declared = {k for spec in STAGE_SPECS.values() for k in spec.config} | set(RUNTIME_KEYS) | set(NOT_STAGE_SETTINGS)

    def covered(key: str) -> bool:
        return any(key == d or key.startswith(d + ".") for d in declared)

    for top, field in Config.model_fields.items():
        if field.exclude and top not in ("concept_sets", "trait_panel"):
            continue
        sub = getattr(field.annotation, "model_fields", None)
        keys = [f"{top}.{k}" for k in sub] if sub else [top]
        assert all(covered(k) for k in keys), [k for k in keys if not covered(k)]


def test_every_path_field_is_a_stage_input_or_named_as_not_one():
    """A new path setting (e.g. a per-dataset sample map) under a stage's input prefixes is
    fingerprinted without further declaration; any other must be listed here on purpose."""
    not_inputs = {("output_root",), ("spark", "tmp_dir"), ("toy_data", "dir"), ("releases", "input_root"),
                  ("pgs", "trait_panel"), ("phenotypes", "concept_sets"),  # contents are in the slices
                  ("pgs", "download", "directory"),
                  ("pgs", "native", "export_dir"),  # a scratch directory the stage writes, not an input
                  ("pgs", "native", "memory_dir"),  # where the native pass keeps its files (tuning)
                  # earlier runs' exports the report's audit reads, like those under its own root: an
                  # export published later is audited against this one, so their change reruns nothing
                  ("report", "audit_output_roots", "*")}
    for f in _PATH_FIELDS:
        owners = [s.name for s in STAGE_SPECS.values() if any(f[:len(p)] == p for p in s.inputs)]
        assert owners or f in not_inputs, f


def test_new_keys_under_pgs_rerun_pgs_unless_another_stage_owns_them(published):
    _, cfg = published
    got = config_slice(cfg, STAGE_SPECS["pgs"])["pgs"]
    assert "min_overlap" in got and "missing_genotypes" in got
    assert "standardisation" not in got and "trait_panel" not in got and "download" not in got


def test_touched_chain_file_reruns_pgs(spark, published, tmp_path):
    _, cfg = published
    chain = tmp_path / "inputs" / "hg19ToHg38.over.chain.gz"
    chain.write_bytes(b"chain")
    cfg = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"liftover": LiftoverSettings(chain_file=str(chain))})})
    assert plan(cfg, LocalFs())["pgs"][0] == "config changed: pgs.liftover"
    _publish(spark, cfg)
    assert _reruns(cfg) == []
    chain.write_bytes(b"another chain")
    assert plan(cfg, LocalFs())["pgs"] == [f"input pgs.liftover.chain_file changed ({chain})"]


def test_slice_uses_loaded_contents_not_paths(published):
    _, cfg = published
    got = config_slice(cfg, STAGE_SPECS["phenotypes"])
    assert "mdd" in got["concept_sets"]["concept_sets"]
    # An input's path is in no slice: its fingerprint keys it by content (the same folder moved reruns nothing).
    assert got["omop"]["path"] == INPUT_PATH


def test_preflight_checks_every_declared_input(published):
    _, cfg = published
    Path(cfg.ancestry.related_samples_to_remove).unlink()
    assert missing_inputs(cfg, ["pgs", "phenotypes"]) == []
    assert missing_inputs(cfg, ["cohort"]) == [("ancestry.related_samples_to_remove", cfg.ancestry.related_samples_to_remove)]


def test_explain_prints_reads_writes_and_why(published, capsys):
    config, cfg = published
    Path(cfg.ancestry.related_samples_to_remove).write_text("sample_id\n")
    assert main(["explain", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    blocks = dict(re.findall(r"^(\w+): (.*)$", out, flags=re.M))
    assert blocks["pgs"] == "up to date" and blocks["phenotypes"] == "up to date"
    assert blocks["cohort"].startswith("would rerun: input ancestry.related_samples_to_remove changed")
    assert blocks["models"] == "would rerun: upstream cohort reruns"
    assert f"  reads ancestry.related_samples_to_remove: {cfg.ancestry.related_samples_to_remove}" in out
    assert "  reads pgs: scores, match_summary, variant_matches" in out
    assert f"  writes {cfg.output_root}/{cfg.release}/cohort/: analysis_frame.parquet" in out
    assert f"  writes {cfg.output_root}/{cfg.release}/export/" in out

    assert main(["explain", "--config", str(config), "--stage", "phenotypes"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("phenotypes: up to date\n  config: omop, phenotypes, concept_sets, report.small_count_threshold "
                          "(except phenotypes.concept_sets)\n")
    assert "\ncohort:" not in out and "reads ancestry" not in out


def test_run_without_complete_upstream_is_one_error(spark, tmp_path, capsys):
    cfg = load_config(_config(tmp_path))
    _publish(spark, cfg, ["pgs"])
    from trd_spark.errors import ConfigError
    from trd_spark.pipeline import run_stages

    with pytest.raises(ConfigError, match="stage cohort reads the phenotypes outputs, which are not complete"):
        run_stages(spark, cfg, ["cohort"])
    assert Fs(spark).exists(f"{cfg.output_root}/{cfg.release}/pgs/_SUCCESS")


def test_upstream_table_with_wrong_schema_is_one_error_before_the_stage(spark, tmp_path):
    cfg = load_config(_config(tmp_path))
    with publish_stage(spark, cfg, "pgs") as writer:
        writer.write_table("scores", spark.range(3).withColumnRenamed("id", "person_id"))
    _publish(spark, cfg, ["phenotypes"])
    from trd_spark.errors import InputDataError
    from trd_spark.pipeline import run_stages

    path = f"{cfg.output_root}/{cfg.release}/pgs/scores.parquet"
    with pytest.raises(InputDataError, match=rf"^{re.escape(path)}: table scores does not match its schema: "
                                             r"missing column dataset; missing column pgs_id"):
        run_stages(spark, cfg, ["cohort"])
    assert not (Path(cfg.output_root) / cfg.release / "cohort").exists()


def _same_size_same_mtime(path: Path, text: str) -> None:
    """Replace ``path``'s content in place, keeping its size and modification time (a copy
    with ``touch -r``, a tarball re-extracted, two writes within the file system's clock tick)."""
    st = path.stat()
    assert len(text.encode()) == st.st_size
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_input_replaced_with_same_size_and_mtime_reruns_and_a_touch_does_not(spark, published):
    """Input files are fingerprinted by content (SHA-256), as Snakemake / Nextflow's deep cache
    do: an edited weight of the same width with the old mtime kept reruns pgs (before: size and
    mtime only, so skipped as up to date); rewriting the same bytes (a new mtime, even one in the
    future: clock skew) reruns nothing."""
    _, cfg = published
    scoring = Path(cfg.pgs.scoring_files[0]).parent / "PGS1.txt"
    original = scoring.read_text()
    _same_size_same_mtime(scoring, original.replace("PGS1", "PGS9"))
    reasons = plan(cfg, LocalFs())
    assert reasons["pgs"] == [f"input pgs.scoring_files.0 changed ({cfg.pgs.scoring_files[0]})"]
    assert _reruns(cfg) == ["pgs", "cohort", "models", "report"]
    scoring.write_text(original)
    future = time.time_ns() + 3 * 86_400 * 10**9
    os.utime(scoring, ns=(future, future))
    assert _reruns(cfg) == []


def test_explain_names_the_scoring_files_that_changed(spark, published):
    """The fingerprint takes a glob of scoring files as one digest, so the reason named only
    the glob: now the pgs manifest's ``notes.scoring_files`` (each file's path and SHA-256)
    name the edited and removed files, and the glob's files the scores were not read from
    (a new file here)."""
    from trd_spark.stages import file_sha256

    _, cfg = published
    scores = Path(cfg.pgs.scoring_files[0]).parent
    (scores / "PGS2.txt").write_text("PGS2\n")
    made = {f"PGS{i}": {"GRCh38": {"path": str(scores / f"PGS{i}.txt"), "sha256": file_sha256(str(scores / f"PGS{i}.txt"))}}
            for i in (1, 2)}
    with publish_stage(spark, cfg, "pgs", notes={"scoring_files": made}) as writer:
        writer.write_text("out.txt", "pgs\n")
    assert plan(cfg, LocalFs())["pgs"] == []
    (scores / "PGS1.txt").write_text("PGS1 edited\n")
    (scores / "PGS2.txt").unlink()
    (scores / "PGS3.txt").write_text("PGS3\n")
    assert plan(cfg, LocalFs())["pgs"] == [
        f"input pgs.scoring_files.0 changed ({cfg.pgs.scoring_files[0]}: {scores / 'PGS1.txt'} edited; "
        f"{scores / 'PGS2.txt'} removed; not among the files the published scores were read from: {scores / 'PGS3.txt'})"]


def test_large_input_is_hashed_when_its_stat_changes_and_reruns_only_on_new_bytes(spark, published, monkeypatch,
                                                                                 caplog):
    """A local input over ``CONTENT_DIGEST_MAX_BYTES`` (genotypes: a PLINK .bed re-made with
    other calls has the same size) is fingerprinted by content too, read only when its
    [size, mtime, ctime, inode] differs from the one its stage's manifest recorded: the same
    bytes under a new stat (chmod, a copy) rerun nothing, new bytes with the old size and mtime
    rerun pgs. Before, such a file was size + mtime only and the edit was skipped as up to date.
    The limit is lowered here so that the 16-byte scoring file counts as large."""
    import trd_spark.stages as stages

    _, cfg = published
    monkeypatch.setattr(stages, "CONTENT_DIGEST_MAX_BYTES", 4)
    monkeypatch.setattr(stages, "RACY_NS", 0)  # the file was written seconds ago: recorded all the same
    caplog.set_level("INFO", logger="trd_spark.stages")
    scoring = Path(cfg.pgs.scoring_files[0]).parent / "PGS1.txt"
    assert _reruns(cfg) == []  # the same content digest as when it counted as small
    _publish(spark, cfg)  # the manifests now record the file's stat with its digest
    caplog.clear()
    assert _reruns(cfg) == [] and "hashing" not in caplog.text
    original = scoring.read_text()
    _same_size_same_mtime(scoring, original.replace("PGS1", "PGS9"))
    assert plan(cfg, LocalFs())["pgs"] == [f"input pgs.scoring_files.0 changed ({cfg.pgs.scoring_files[0]})"]
    assert f"hashing {scoring}" in caplog.text
    _same_size_same_mtime(scoring, original)
    scoring.chmod(0o600)
    caplog.clear()
    assert _reruns(cfg) == [] and f"hashing {scoring}" in caplog.text


def test_parquet_input_gaining_or_losing_a_part_file_reruns_phenotypes(spark, published):
    _, cfg = published
    table = Path(cfg.omop.path) / "drug_exposure.parquet"  # a table the stage reads (test_rerun_reads: others)
    table.mkdir()
    (table / "part-00000.parquet").write_text("a")
    assert _reruns(cfg) == ["phenotypes", "cohort", "models", "report"]
    _publish(spark, cfg)
    (table / "part-00001.parquet").write_text("b")
    assert _reruns(cfg) == ["phenotypes", "cohort", "models", "report"]
    _publish(spark, cfg)
    (table / "part-00000.parquet").unlink()
    assert plan(cfg, LocalFs())["phenotypes"] == [f"input omop.path changed ({cfg.omop.path}: drug_exposure.parquet changed)"]


def test_published_output_edited_or_deleted_reruns_its_stage(spark, published):
    """Each manifest records what its folder held when published (per file bytes and SHA-256;
    per table directory file count, bytes and a digest of names and sizes): an output deleted,
    edited by hand or a part file gone reruns that stage and all after it (before: only
    ``_SUCCESS`` was looked at, so the stage was skipped and downstream read the edited data)."""
    _, cfg = published
    pgs = Path(cfg.output_root) / cfg.release / "pgs"
    _same_size_same_mtime(pgs / "out.txt", "PGS\n")
    reasons = plan(cfg, LocalFs())
    assert reasons["pgs"] == ["output pgs changed since it was published (out.txt)"]
    assert _reruns(cfg) == ["pgs", "cohort", "models", "report"]
    _publish(spark, cfg)
    (Path(cfg.output_root) / cfg.release / EXPORT / "out.txt").unlink()
    assert plan(cfg, LocalFs())["report"] == ["output export changed since it was published (out.txt)"]
    _publish(spark, cfg, ["report"])
    with publish_stage(spark, cfg, "cohort") as writer:
        writer.write_table("analysis_frame", spark.range(4).coalesce(2))
    _publish(spark, cfg, ["models", "report"])
    assert _reruns(cfg) == []
    part = next((pgs.parent / "cohort" / "analysis_frame.parquet").glob("part-*.parquet"))
    part.unlink()
    assert plan(cfg, LocalFs())["cohort"] == ["output cohort changed since it was published (analysis_frame.parquet)"]


def test_stage_run_alone_refuses_upstream_output_changed_since_published(spark, published):
    _, cfg = published
    (Path(cfg.output_root) / cfg.release / "pgs" / "out.txt").write_text("edited by hand\n")
    from trd_spark.errors import ConfigError
    from trd_spark.pipeline import run_stages

    with pytest.raises(ConfigError, match=r"stage cohort reads the pgs outputs, which changed since they were "
                                          r"published \(out.txt\): run `trd-spark pgs`"):
        run_stages(spark, cfg, ["cohort"])


def test_renamed_release_directory_reruns_the_report_that_names_the_release(published):
    """The report prints the release's name (its title, methods table, export manifest):
    outputs moved to another release's folder (a renamed or copied directory, with inputs that
    do not name the release) rerun the report, not the stages whose outputs do not name it."""
    _, cfg = published
    root = Path(cfg.output_root)
    (root / cfg.release).rename(root / "renamed")
    moved = cfg.model_copy(update={"release": "renamed"})
    assert plan(moved, LocalFs())["report"] == ["config changed: release"]
    assert _reruns(moved) == ["report"]


def test_spark_conf_that_changes_results_reruns_every_stage_and_tuning_reruns_nothing(published):
    """``spark.extra_conf`` is a runtime setting, but a session time zone turns the OMOP
    timestamps into other dates (and ANSI mode changes casts): before, it reran nothing."""
    _, cfg = published
    tuning = {"spark.sql.autoBroadcastJoinThreshold": "-1", "spark.executor.memoryOverhead": "2g",
              "spark.sql.adaptive.skewJoin.enabled": "false", "spark.hadoop.fs.gs.block.size": "1m"}
    assert _reruns(cfg.model_copy(update={"spark": cfg.spark.model_copy(update={"extra_conf": tuning})})) == []
    zone = {**tuning, "spark.sql.session.timeZone": "America/New_York"}
    changed = cfg.model_copy(update={"spark": cfg.spark.model_copy(update={"extra_conf": zone})})
    reasons = plan(changed, LocalFs())
    assert _reruns(changed) == list(STAGES)
    assert reasons["pgs"] == ["config changed: spark.extra_conf.spark.sql.session.timeZone"]


def test_input_folder_of_links_to_tables_is_fingerprinted_through_the_links(spark, published, tmp_path):
    """An OMOP folder whose tables are symbolic links to the CDR copy: a part file added there
    reruns phenotypes (before: os.walk did not follow the links, the folder's fingerprint had
    no file of the linked table, and nothing reran)."""
    _, cfg = published
    table = tmp_path / "cdr" / "condition_occurrence.parquet"
    table.mkdir(parents=True)
    (table / "part-00000.parquet").write_text("a")
    (Path(cfg.omop.path) / "condition_occurrence.parquet").symlink_to(table, target_is_directory=True)
    (Path(cfg.omop.path) / "loop").symlink_to(Path(cfg.omop.path), target_is_directory=True)  # a cycle: walked once
    _publish(spark, cfg)
    assert _reruns(cfg) == []
    (table / "part-00001.parquet").write_text("b")
    assert plan(cfg, LocalFs())["phenotypes"] == [
        f"input omop.path changed ({cfg.omop.path}: condition_occurrence.parquet changed)"]


def _publish_models_with_logistic(spark, cfg: Config) -> None:
    """Republish models (and the report after it) with a two-row logistic table: the headline
    table a completed `run` prints (models and report outputs otherwise as ``_publish``; the
    export's results.tsv shows both fits' estimates)."""
    from pyspark.sql import types as T

    from trd_spark.schemas import LOGISTIC_RESULTS

    dummy = {T.StringType: "x", T.BooleanType: True, T.DoubleType: 0.5}
    row = {f.name: dummy.get(type(f.dataType), 7) for f in LOGISTIC_RESULTS.struct.fields}
    discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
    frame = pd.DataFrame([{**row, "dataset": discovery, "definition": cfg.phenotypes.primary_definition,
                           "contrast": "trd_vs_nonmdd", "pgs_id": pgs_id, "odds_ratio": odds_ratio, "p": 0.0123,
                           "n": 900, "n_cases": 100}  # groups of >= 20: the headline shows the estimates
                          for pgs_id, odds_ratio in (("PGS000001", 1.25), ("PGS000002", 0.8))])
    with publish_stage(spark, cfg, "models") as writer:
        writer.write_pandas("logistic", frame, LOGISTIC_RESULTS)
    # The headline shows the estimates the export shows (cli.exported_estimates): both here.
    with publish_stage(spark, cfg, "report") as writer:
        writer.write_text("out.txt", "report\n")
    with publish_stage(spark, cfg, "export") as writer:
        writer.write_text("results.tsv", frame.to_csv(sep="\t", index=False))


def test_noop_rerun_starts_no_spark_and_a_changed_input_reruns(spark, published):
    """`trd-spark run` with every stage current decides so from the manifests and the local
    input fingerprints, without a JVM (starting a session only to find nothing to do): the
    subprocess's run log has no "Java ... from" / "Spark ..., Hail" session lines, every
    stage's skip line as before, the headline (read with pyarrow: the same text as Spark's).
    A changed input still makes the decision need a session, and so does a gs:// input."""
    config, cfg = published
    _publish_models_with_logistic(spark, cfg)
    proc = subprocess.run([sys.executable, "-m", "trd_spark.cli", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    run_log = next((Path(cfg.output_root) / cfg.release / "logs").glob("*-run.log")).read_text()
    for i, stage in enumerate(STAGES, 1):
        assert f"[{i}/5] {stage}: up to date, skipped (use --force to rerun)" in run_log
    assert "all 5 stages up to date: no Spark session started" in run_log
    assert not re.search(r"Java \d+ from|Spark \d[\d.]*, Hail", run_log), run_log
    assert proc.stdout.strip() == headline_table(spark, cfg, None).strip()
    assert "PGS000001" in proc.stdout and "1.25" in proc.stdout
    assert skip_all_without_spark(cfg) is not None
    Path(cfg.ancestry.path).write_text("sample_id\tpc1\n")  # a changed input: cohort onwards rerun
    assert skip_all_without_spark(cfg) is None
    assert _reruns(cfg) == ["cohort", "models", "report"]
    Path(cfg.ancestry.path).write_text("ancestry.tsv\n")  # back as published: current again
    assert [r.status for r in skip_all_without_spark(cfg, ["cohort", "models"])] == ["skipped", "skipped"]
    on_gcs = cfg.model_copy(update={"omop": cfg.omop.model_copy(update={"path": "gs://bucket/omop"})})
    assert needs_spark_to_plan(on_gcs) and skip_all_without_spark(on_gcs) is None
    assert not needs_spark_to_plan(on_gcs, ["pgs"])  # pgs reads no OMOP input
