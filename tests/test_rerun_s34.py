"""Session 34, stale and needless reruns (the owed items of session 33): inputs keyed by their
content, not their paths; every sidecar a genotype reader takes in the fingerprint.

Stages are published with the real ``publish_stage`` on small inputs (test_pipeline_rerun's
fixture: a one-line output per stage, the manifest and run id the runner reads); then an input
moves or changes and ``stages.plan`` (what ``run`` and ``explain`` decide with) must name
exactly the stages that would rerun.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_pipeline_rerun import _config, _publish, _reruns, published_in

from trd_spark.config import Config, LiftoverSettings, load_config
from trd_spark.releases import LocalFs
from trd_spark.stages import STAGE_SPECS, changed_inputs, config_view, fingerprint_parts, plan


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory) -> Config:
    """test_pipeline_rerun's ``published``, once for the module."""
    return published_in(spark, tmp_path_factory.mktemp("rerun_s34"))


def _moved(cfg: Config, to: Path) -> Config:
    """``cfg`` with its genotype file, its scoring-file folder and a chain file copied (same bytes)
    under ``to`` and its paths pointing there."""
    vcf = Path(cfg.datasets[0].genotypes.path)
    scores = Path(cfg.pgs.scoring_files[0]).parent
    shutil.copy(vcf, to / "renamed.vcf")
    shutil.copytree(scores, to / "scores")
    dataset = cfg.datasets[0].model_copy(update={"genotypes": cfg.datasets[0].genotypes.model_copy(
        update={"path": str(to / "renamed.vcf")})})
    return cfg.model_copy(update={"datasets": [dataset], "pgs": cfg.pgs.model_copy(
        update={"scoring_files": [str(to / "scores" / "*.txt")]})})


def test_genotype_and_scoring_files_moved_with_the_same_bytes_rerun_nothing(spark, published, tmp_path):
    """The pgs stage's slice held the genotype and scoring-file paths and its input fingerprints
    digested each file's path with its bytes, so a callset or scoring folder moved (a new disk, a
    renamed bucket mount) reran pgs, hours at All of Us scale, and every stage after it; the
    cohort, models and report slices held the genotype paths too. Keyed by content now (the
    file's digest and its name under the input decide, as pgsc_calc's content-addressed cache):
    moved, nothing reruns; edited where it now is, pgs onwards, naming the new path; the
    manifest of a run from there says which files were read."""
    cfg = published
    moved = _moved(cfg, tmp_path)
    assert plan(moved, LocalFs()) == {s: [] for s in plan(cfg, LocalFs())}
    # The later stages may not read the genotype paths (they are the pgs stage's inputs).
    for stage in ("cohort", "models", "report"):
        with pytest.raises(LookupError, match="datasets.genotypes.path"):
            _ = config_view(moved, STAGE_SPECS[stage]).datasets[0].genotypes.path
    assert config_view(moved, STAGE_SPECS["pgs"]).datasets[0].genotypes.path == str(tmp_path / "renamed.vcf")
    # A changed file still reruns, naming where it is read from.
    vcf = tmp_path / "renamed.vcf"
    vcf.write_text(vcf.read_text().replace("0/1", "1/1"))
    assert _reruns(moved) == ["pgs", "cohort", "models", "report"]
    assert plan(moved, LocalFs())["pgs"] == [f"input datasets.discovery.genotypes.path changed ({vcf})"]
    (tmp_path / "scores" / "PGS1.txt").write_text("edited\n")
    reasons = plan(moved, LocalFs())["pgs"]
    assert any(r.startswith(f"input pgs.scoring_files.0 changed ({tmp_path / 'scores' / '*.txt'}") for r in reasons)
    # Published from the new place: its manifest names the files read (provenance, not the key).
    _publish(spark, moved, ["pgs"])
    manifest = json.loads((Path(cfg.output_root) / cfg.release / "pgs" / "_manifest.json").read_text())
    assert manifest["inputs"]["datasets.0.genotypes.path"]["path"] == str(vcf)
    assert manifest["fingerprint_parts"]["inputs"]["pgs.scoring_files.0"]["path"] == str(tmp_path / "scores" / "*.txt")
    assert _reruns(moved) == ["cohort", "models", "report"]
    _publish(spark, cfg)
    assert _reruns(cfg) == []


def test_a_renamed_file_inside_a_scoring_folder_reruns(published, tmp_path):
    """Within a folder or glob the files' names still count (the content digest names each file
    under the input): the same bytes under another name in the folder is another input."""
    cfg = published
    moved = _moved(cfg, tmp_path)
    (tmp_path / "scores" / "PGS1.txt").rename(tmp_path / "scores" / "PGS3.txt")
    assert _reruns(moved) == ["pgs", "cohort", "models", "report"]


def test_a_chain_file_moved_reruns_nothing_and_one_added_reruns_pgs(published, tmp_path):
    """``pgs.liftover.chain_file`` is read by content too: the same chain elsewhere reruns
    nothing, setting one where there was none still reruns pgs."""
    cfg = published
    a, b = tmp_path / "a.chain", tmp_path / "b.chain"
    a.write_bytes(b"chain")
    b.write_bytes(b"chain")

    def with_chain(path: Path) -> Config:
        return cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"liftover": LiftoverSettings(
            chain_file=str(path))})})

    parts = fingerprint_parts(with_chain(a), STAGE_SPECS["pgs"], LocalFs())
    again = fingerprint_parts(with_chain(b), STAGE_SPECS["pgs"], LocalFs())
    assert parts["config"] == again["config"] and changed_inputs(parts["inputs"], again["inputs"]) == []
    assert plan(with_chain(b), LocalFs())["pgs"][0] == "config changed: pgs.liftover"


def _dataset(cfg: Config, fmt: str, path: Path) -> Config:
    dataset = cfg.datasets[0].model_copy(update={"genotypes": cfg.datasets[0].genotypes.model_copy(
        update={"format": fmt, "path": str(path)})})
    return cfg.model_copy(update={"datasets": [dataset]})


@pytest.mark.parametrize(("fmt", "name", "sidecar"), [
    ("bgen", "calls.bgen", ".bgi"),  # bgen_reader.variant_index: the variant list and block offsets
    ("vcf", "calls.vcf.gz", ".tbi"),  # genotypes.vcf_half_call_rows reads through the index
    ("vcf", "calls.vcf.gz", ".csi"),
    ("pgen", "calls.pgen", ".pgi"),  # pgenlib reads x.pgen.pgi for a .pgen written with its index apart
])
def test_a_replaced_index_beside_the_genotypes_reruns_pgs(tmp_path, fmt, name, sidecar):
    """A BGEN's ``.bgi``, a VCF's ``.tbi`` / ``.csi`` and a pgen's ``.pgen.pgi`` were in no fingerprint: an index rebuilt
    or replaced (a stale .bgi from another file of the same size and header gives the native
    reader other block offsets) left the scores current. Listed when there (a file without one is
    read without it), so one added, replaced or removed reruns pgs."""
    cfg = load_config(_config(tmp_path))
    genotypes = tmp_path / "inputs" / name
    genotypes.write_bytes(b"genotypes")
    cfg = _dataset(cfg, fmt, genotypes)
    spec = STAGE_SPECS["pgs"]
    key = f"datasets.0.genotypes.path[{'.pgen' if fmt == 'pgen' else ''}{sidecar}]"
    without = fingerprint_parts(cfg, spec, LocalFs())["inputs"]
    assert key not in without
    index = Path(f"{genotypes}{sidecar}")
    index.write_bytes(b"index 1")
    assert (key, str(index)) in spec.external(cfg)
    before = fingerprint_parts(cfg, spec, LocalFs())["inputs"]
    assert changed_inputs(without, before) == [key]
    index.write_bytes(b"index 2")
    assert changed_inputs(before, fingerprint_parts(cfg, spec, LocalFs())["inputs"]) == [key]


@pytest.mark.parametrize("key", ["spark.sql.files.ignoreCorruptFiles", "spark.sql.files.ignoreMissingFiles"])
def test_a_session_that_skips_unreadable_files_is_refused_whatever_set_it(spark, published, key):
    """Only ``spark.extra_conf`` was checked for the settings that make Spark's file reads skip a
    part file they cannot read (its records dropped with no count); ``spark-defaults.conf``,
    ``spark-submit --conf`` or ``PYSPARK_SUBMIT_ARGS`` set them unseen. The running session's
    own setting is checked when the run starts, before any stage reads."""
    from trd_spark.errors import ConfigError
    from trd_spark.pipeline import run_stages

    spark.conf.set(key, " TRUE ")
    try:
        with pytest.raises(ConfigError, match=f"{key}: true in the Spark session, set in .* is refused"):
            run_stages(spark, published, ["pgs"])
    finally:
        spark.conf.unset(key)
    assert _reruns(published) == []  # nothing ran, nothing published


def test_where_a_skipping_setting_came_from_is_named(published, tmp_path, monkeypatch):
    """The error names the source when it can be seen from the driver: the config, the
    ``PYSPARK_SUBMIT_ARGS`` of a pyspark start, the ``spark-defaults.conf`` Spark reads."""
    from trd_spark.stages import spark_setting_source

    key = "spark.sql.files.ignoreCorruptFiles"
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    assert spark_setting_source(key, published).startswith("the session's Spark configuration")
    (tmp_path / "spark-defaults.conf").write_text(f"spark.driver.memory 4g\n{key}   true\n")
    assert spark_setting_source(key, published) == str(tmp_path / "spark-defaults.conf")
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", f"--conf {key}=true pyspark-shell")
    assert spark_setting_source(key, published) == "the environment's PYSPARK_SUBMIT_ARGS"
    conf = published.spark.model_copy(update={"extra_conf": {key: "true"}})
    assert spark_setting_source(key, published.model_copy(update={"spark": conf})) == f"spark.extra_conf.{key}"


def test_a_module_a_stage_imports_by_name_must_be_in_its_code_digest(published):
    """``stages`` imports a stage's module and its ``input_files`` function by a computed name;
    provenance takes such a name to be one of the modules ``stages`` spells in its strings. A
    declaration naming a module that is not (computed, or declared elsewhere) ran code no
    fingerprint held: now refused where it is imported."""
    import dataclasses

    from trd_spark.provenance import code_digests
    from trd_spark.stages import input_files

    spec = STAGE_SPECS["pgs"]
    assert "trd_spark.report.html" not in code_digests(spec.module)
    stray = dataclasses.replace(spec, input_files="trd_spark.report.html:render_report")
    with pytest.raises(LookupError, match="stage pgs imports trd_spark.report.html by name"):
        input_files(published, stray, LocalFs())
    assert list(input_files(published, spec, LocalFs())) == ["pgs.scoring_files.0"]
    # A stage's own module is the root of its digest (``runner`` imports it through the same check).
    assert spec.module in code_digests(spec.module) and callable(spec.runner())


def test_a_registry_filled_by_a_top_level_call_counts_its_entries(tmp_path, monkeypatch):
    """A module read by name (``provenance.BY_NAME``) counted a name as its own definition and
    the names it uses; a top-level ``X = register(rule)`` filling a registry (as a decorator of
    its own, already counted whole) changed what the registry holds without any statement
    defining the registry mentioning it: an edit to ``rule`` reran nothing that takes the
    registry. The call now counts for every name it reaches."""
    from temp_package import shared_digests, temp_package

    shared = ("RULES = {}\n\n\ndef register(f):\n    RULES[f.__name__] = f\n    return f\n\n\n"
              "def rule():\n    return 1\n\n\nX = register(rule)\n\n\ndef other():\n    return 2\n")
    files = {"__init__.py": "", "shared.py": shared, "user.py": "from rerun34_pkg.shared import RULES\n",
             "apart.py": "from rerun34_pkg.shared import other\n"}

    def digests() -> dict[str, str]:
        return shared_digests("rerun34_pkg", ("user", "apart"))

    with temp_package(tmp_path, monkeypatch, "rerun34_pkg", files) as root:
        before = digests()
        (root / "shared.py").write_text(shared.replace("return 1", "return 3"))
        after = digests()
        assert after["user"] != before["user"]  # the registry holds the edited rule
        assert after["apart"] == before["apart"]  # still by name: a name that reaches no rule


def test_an_audit_root_holding_no_export_stops_the_run_at_its_start(published, tmp_path):
    """A ``report.audit_output_roots`` root that exists but holds no export (a typo'd root, a
    release folder given instead of its output root) was caught only by the report stage, after
    hours of the others; preflight checked only that it was a directory. One rule now
    (``layout.audit_root_problem``), at the run's start and in the report."""
    from trd_spark.errors import ConfigError
    from trd_spark.preflight import check_inputs

    def auditing(*roots: Path | str) -> Config:
        return published.model_copy(update={"report": published.report.model_copy(
            update={"audit_output_roots": [str(r) for r in roots]})})

    release_folder = Path(published.output_root) / published.release
    for wrong in (tmp_path, release_folder):
        with pytest.raises(ConfigError, match=f"report.audit_output_roots: {wrong} holds no export"):
            check_inputs(auditing(published.output_root, wrong), ["report"])
    check_inputs(auditing(published.output_root), ["report"])  # holds the published export
    check_inputs(auditing(tmp_path), ["models"])  # the report not to run: not looked at
