"""Preflight: missing inputs and unwritable output roots fail before any Spark work."""

from __future__ import annotations

from pathlib import Path

import pytest

from trd_spark.config import load_config
from trd_spark.errors import ConfigError
from trd_spark.preflight import check_inputs, check_output_root, missing_inputs, uri_inputs

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def cfg(tmp_path):
    return load_config(overrides={"output_root": str(tmp_path / "results")})


def test_missing_inputs_name_the_config_key(cfg, tmp_path):
    cfg = cfg.model_copy(update={"toy_data": None})
    ds = cfg.datasets[1].model_copy(update={"genotypes": cfg.datasets[1].genotypes.model_copy(
        update={"path": str(tmp_path / "absent.vcf.bgz")})})
    cfg = cfg.model_copy(update={"datasets": [cfg.datasets[0], ds, cfg.datasets[2]]})
    keys = [k for k, _ in missing_inputs(cfg, ["pgs", "phenotypes", "cohort"])]
    assert "datasets.1.genotypes.path" in keys
    # The error names the dataset, not its place in the list (new-user trial, session 19:
    # 'datasets.1.genotypes.path' had to be counted out in the YAML).
    with pytest.raises(ConfigError, match=r"toy.yaml: datasets\.(discovery|replication_wgs)\.genotypes\.path: no such"):
        check_inputs(cfg, ["pgs"])


RELEASE_CONFIG = """\
release: r1
output_root: {root}/out
releases: {{input_root: {root}/in}}
datasets:
  - {{name: discovery, role: discovery, genotypes: {{format: vcf, path: "{root}/in/{{release}}/d.vcf.bgz"}}}}
ancestry: {{path: "{root}/in/{{release}}/ancestry_preds.tsv"}}
pgs: {{scoring_files: ["{root}/in/{{release}}/scores/"], trait_panel: {repo}/conf/trait_panel_toy.yaml}}
omop: {{format: parquet, path: "{root}/in/{{release}}/omop", data_cutoff_date: 2023-07-01}}
phenotypes:
  concept_sets: {repo}/conf/concept_sets.yaml
  primary_definition: ad3
  trd_definitions: [{{name: ad3, rule: antidepressant_sequence, n_trials: 3}}]
"""


@pytest.mark.parametrize(("release", "outside"), [("r9", True), ("r1", False)])
def test_a_release_not_under_the_input_root_is_named_as_such(tmp_path, capsys, release, outside):
    """A release with no folder under releases.input_root (a typo'd --release, a release not
    copied in yet) stopped run with only its first missing input's key and path (new-user
    trial, session 19); the error and check-config now say that the release is not there and
    which are. A release that is there but lacks an input keeps the plain error."""
    from trd_spark.cli import main

    (tmp_path / "in" / "r1").mkdir(parents=True)
    (tmp_path / "in" / "r2").mkdir()
    path = tmp_path / "c.yaml"
    path.write_text(RELEASE_CONFIG.format(root=tmp_path, repo=REPO))
    cfg = load_config(path, overrides={"release": release})
    words = f"release: 'r9' is not a release under releases.input_root {tmp_path}/in (found: r1, r2); "
    with pytest.raises(ConfigError) as err:
        check_inputs(cfg, ["pgs"])
    assert (words in str(err.value)) == outside
    assert f"datasets.discovery.genotypes.path: no such file or directory: {tmp_path}/in/{release}/d.vcf.bgz" in str(err.value)
    assert main(["check-config", "--config", str(path), "--release", release]) == 0
    err_text = capsys.readouterr().err
    assert (words.removesuffix("; ") + ": its inputs below are not found" in err_text) == outside
    assert "input datasets.discovery.genotypes.path:" in err_text


def test_a_toy_release_not_generated_yet_is_no_release_outside_the_root(tmp_path, capsys):
    """conf/toy_releases.yaml with toy-r1 generated and toy-r2 not: toy-r2 is generated on its
    first run, so check-config must not call it 'not a release under releases.input_root'."""
    from trd_spark.cli import main
    from trd_spark.preflight import release_outside_root

    text = (REPO / "conf" / "toy_releases.yaml").read_text().replace("../out/toy_releases", str(tmp_path))
    text = text.replace("trait_panel_toy.yaml", str(REPO / "conf" / "trait_panel_toy.yaml")).replace(
        "concept_sets: concept_sets.yaml", f"concept_sets: {REPO / 'conf' / 'concept_sets.yaml'}")
    path = tmp_path / "toy_releases.yaml"
    path.write_text(text)
    (tmp_path / "inputs" / "toy-r1").mkdir(parents=True)
    assert release_outside_root(load_config(path, overrides={"release": "toy-r2"})) is None
    assert main(["check-config", "--config", str(path), "--release", "toy-r2"]) == 0
    assert "is not a release under" not in capsys.readouterr().err


def test_present_inputs_pass(cfg, tmp_path):
    omop = tmp_path / "omop"
    omop.mkdir()
    cfg = cfg.model_copy(update={"omop": cfg.omop.model_copy(update={"path": str(omop)})})
    check_inputs(cfg, ["phenotypes"])  # raises if the directory were not found
    assert missing_inputs(cfg, ["phenotypes"]) == []


def test_uris_are_left_to_the_readers(cfg):
    cfg = cfg.model_copy(update={"omop": cfg.omop.model_copy(update={"path": "gs://bucket/omop"})})
    assert missing_inputs(cfg, ["phenotypes"]) == []


def test_output_root_that_is_a_file(cfg, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = cfg.model_copy(update={"output_root": str(blocker / "results")})
    with pytest.raises(ConfigError, match="output_root: cannot write to"):
        check_output_root(cfg)


def test_too_little_free_space(cfg):
    with pytest.raises(ConfigError, match="output_root: only .* MB free"):
        check_output_root(cfg, min_free_bytes=1 << 60)
    assert not (Path(cfg.output_root) / cfg.release).exists()  # no empty release folder left
    check_output_root(cfg)
    assert Path(cfg.output_root).is_dir()


def test_cli_run_fails_before_spark_on_missing_input(tmp_path, capsys):
    """Exit 2 with one line naming the key; nothing is published under the output root."""
    import yaml

    from trd_spark.cli import main
    from trd_spark.config import DEFAULT_CONFIG

    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw.pop("toy_data")
    raw["output_root"] = str(tmp_path / "results")
    raw["omop"]["path"] = str(tmp_path / "no-omop-here")
    raw["phenotypes"]["concept_sets"] = str(DEFAULT_CONFIG.parent / "concept_sets.yaml")
    raw["pgs"]["trait_panel"] = str(DEFAULT_CONFIG.parent / "trait_panel_toy.yaml")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    for command in (["phenotypes"], ["run"]):
        assert main([*command, "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert ("omop.path" if command == ["phenotypes"] else "genotypes.path") + ": no such file or directory" in err
        # Nothing that looks like a release (new-user trial, session 13: results/<release>/logs
        # was left): the inputs are checked before the output root is touched.
        assert not (tmp_path / "results").exists(), list((tmp_path / "results").rglob("*"))


VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
VCF_RECORDS = "".join(f"chr1\t{100 + i}\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\n" for i in range(50))


def _bgzip(path: Path, text: str, *, eof: bool = True) -> None:
    import pysam

    with pysam.BGZFile(str(path), "wb", None) as f:
        f.write(text.encode())
    if not eof:  # an interrupted copy: the 28-byte end-of-file block is missing
        path.write_bytes(path.read_bytes()[:-28])


def _gzip(path: Path, text: str) -> None:
    """``text`` as a plain gzip file (``gzip file.vcf``: one member, no BGZF blocks)."""
    import gzip

    path.write_bytes(gzip.compress(text.encode()))


def _vcf_config(tmp_path: Path, vcf: Path) -> Path:
    """A one-dataset config reading ``vcf`` (real-data layout: no toy_data), its other pgs
    inputs present."""
    import yaml

    from trd_spark.config import DEFAULT_CONFIG

    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw.pop("toy_data")
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "PGS1.txt").write_text("x\n")
    raw["output_root"] = str(tmp_path / "results")
    raw["datasets"] = [{"name": "discovery", "role": "discovery", "genotypes": {"format": "vcf", "path": str(vcf)}}]
    raw["pgs"].update(scoring_files=[str(tmp_path / "scores" / "*.txt")],
                      trait_panel=str(DEFAULT_CONFIG.parent / "trait_panel_toy.yaml"))
    raw["phenotypes"]["concept_sets"] = str(DEFAULT_CONFIG.parent / "concept_sets.yaml")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config


@pytest.mark.parametrize(("name", "write", "problem"), [
    ("no-eof.vcf.bgz", lambda p: _bgzip(p, VCF_HEADER + VCF_RECORDS, eof=False), "no BGZF end-of-file block"),
    ("cut-line.vcf.bgz", lambda p: _bgzip(p, VCF_HEADER + VCF_RECORDS + "chr1\t999\t.\tA\tG\t.\tPA"),
     "last line has no final newline"),
    ("cut-fields.vcf.bgz", lambda p: _bgzip(p, VCF_HEADER + VCF_RECORDS + "chr1\t999\t.\tA\tG\t.\tPASS\t.\tGT\n"),
     "last line has 9 tab-separated fields, the #CHROM line 11"),
    ("cut-line.vcf", lambda p: p.write_text(VCF_HEADER + VCF_RECORDS + "chr1\t999\t.\tA\tG\t.\tPASS\t.\tGT\t0/"),
     "last line has no final newline"),
    ("cut-fields.vcf", lambda p: p.write_text(VCF_HEADER + VCF_RECORDS + "chr1\t999\t.\tA\n"),
     "last line has 4 tab-separated fields"),
    # An empty copy (0 bytes) read "not compressed but named as BGZF"; a header without records
    # reached the pgs stage, which failed on a scratch file never written (session 30).
    ("empty.vcf.bgz", lambda p: p.write_bytes(b""), "0 bytes, not even a VCF header"),
    ("empty.vcf", lambda p: p.write_bytes(b""), "0 bytes, not even a VCF header"),
    ("header-only.vcf.bgz", lambda p: _bgzip(p, VCF_HEADER), "has its header but no variant record"),
    ("header-only.vcf", lambda p: p.write_text(VCF_HEADER), "has its header but no variant record"),
    ("chrom-line-only.vcf", lambda p: p.write_text(VCF_HEADER.split("\n", 1)[1]), "has its header but no variant"),
    # A plain gzip file (not BGZF) is read from its start: its header alone was not caught (session 31)
    ("header-only.vcf.gz", lambda p: _gzip(p, VCF_HEADER), "has its header but no variant record"),
    ("whole.vcf.gz", lambda p: _gzip(p, VCF_HEADER + VCF_RECORDS), None),
    ("whole.vcf.bgz", lambda p: _bgzip(p, VCF_HEADER + VCF_RECORDS), None),
    ("whole.vcf", lambda p: p.write_text(VCF_HEADER + VCF_RECORDS), None),
    ("one-record.vcf", lambda p: p.write_text(VCF_HEADER + VCF_RECORDS.splitlines(keepends=True)[0]), None),
])
def test_vcf_cut_short_is_one_error_before_anything_is_written(tmp_path, capsys, name, write, problem):
    """A VCF cut short (an interrupted copy; a bgzip file without its 28-byte end-of-file
    block, or a last line cut) stops `run` (here `pgs`) in preflight with exit 3 and one error line naming
    the file, before the output root is created (was found in the pgs stage, after Spark
    started and, at scale, minutes of work). Whole files pass the check."""
    from trd_spark.cli import main
    from trd_spark.errors import InputDataError
    from trd_spark.preflight import check_vcf_inputs

    vcf = tmp_path / name
    write(vcf)
    config = _vcf_config(tmp_path, vcf)
    cfg = load_config(config)
    if problem is None:
        check_vcf_inputs(cfg)
        return
    with pytest.raises(InputDataError, match=problem):
        check_vcf_inputs(cfg)
    assert main(["pgs", "--config", str(config)]) == 3
    errors = [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"{vcf}: " in errors[0] and problem in errors[0], errors
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("shards", [("chr1", "chrY"), ("chrY",)])
def test_a_shard_without_records_is_valid_a_dataset_without_any_is_not(tmp_path, shards):
    """A dataset of per-chromosome shards may have one without variant records (chrY of a
    subset): it passes; when no shard has a record there is nothing to score, one error naming
    the first file and the dataset."""
    from trd_spark.errors import InputDataError
    from trd_spark.preflight import check_vcf_inputs

    for contig in shards:
        _bgzip(tmp_path / f"d.{contig}.vcf.bgz", VCF_HEADER + (VCF_RECORDS if contig == "chr1" else ""))
    cfg = load_config(_vcf_config(tmp_path, tmp_path / "d.*.vcf.bgz"))
    if "chr1" in shards:
        check_vcf_inputs(cfg)
        return
    with pytest.raises(InputDataError, match=r"d\.chrY\.vcf\.bgz: the VCF has its header but no variant record: "
                                             r"nothing to score for datasets\.discovery\.genotypes\.path"):
        check_vcf_inputs(cfg)


def test_each_vcf_tail_is_read_once(tmp_path, monkeypatch):
    """The last-line check and the header-only check look at one reading of each file's tail
    (session 30's read-through: each read it, so every VCF's last 1 MiB / last BGZF block was
    read and decompressed twice). Counted per file on an uncompressed and a BGZF shard."""
    import trd_spark.preflight as preflight

    reads: list[str] = []
    for name in ("_plain_tail", "_bgzf_last_block_text"):
        real = getattr(preflight, name)
        monkeypatch.setattr(preflight, name, lambda path, real=real: reads.append(path) or real(path))
    (tmp_path / "d.chr1.vcf").write_text(VCF_HEADER + VCF_RECORDS)
    _bgzip(tmp_path / "d.chr2.vcf.bgz", VCF_HEADER + VCF_RECORDS)
    preflight.check_vcf_inputs(load_config(_vcf_config(tmp_path, tmp_path / "d.chr*")))
    assert sorted(reads) == [str(tmp_path / "d.chr1.vcf"), str(tmp_path / "d.chr2.vcf.bgz")]


def test_a_plain_gzip_vcf_is_read_only_up_to_its_first_record(tmp_path, monkeypatch):
    """``header_only`` reads a plain gzip file from its start and stops at its first record
    line: of a file of 8 MB decompressed, it decompresses no more than the header and one
    chunk (bytes counted as ``GzipFile.read`` returns them); a header alone is True."""
    import gzip

    from trd_spark.preflight import _GZIP_CHUNK, header_only

    records = "".join(f"chr1\t{100 + i}\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\n" for i in range(200_000))
    path = tmp_path / "big.vcf.gz"
    _gzip(path, VCF_HEADER + records)
    read: list[int] = []
    real = gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, "read", lambda self, size=-1: read.append(len(b := real(self, size))) or b)
    assert header_only(str(path), "gzip") is False
    assert 0 < sum(read) <= len(VCF_HEADER) + _GZIP_CHUNK < len(records) // 100, read
    _gzip(path, VCF_HEADER)
    assert header_only(str(path), "gzip") is True


def test_too_long_release_name_is_one_config_error(tmp_path, capsys):
    """A 300-character release name (valid characters) exceeds the file system's name limit:
    one ConfigError line naming the key and the path, before any Spark work."""
    from trd_spark.cli import main

    name = "C" * 300
    assert main(["run", "--release", name, "--output-root", str(tmp_path / "out")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]
    assert len(errors) == 1, errors
    assert "ConfigError" in errors[0] and "release: cannot create" in errors[0] and "File name too long" in errors[0]
    assert str(tmp_path / "out") in errors[0] and "(300 characters)" in errors[0]


def test_storage_faults_are_one_line_with_the_path():
    import errno

    from trd_spark.cli import storage_error

    err = storage_error(OSError(errno.ENOSPC, "No space left on device", "/out/r1/.lock"), where="/out/r1")
    assert err.exit_code == 9 and str(err) == "/out/r1/.lock: No space left on device"
    # A Java IOException through Py4J / Hail names no path: the release's output directory.
    java = RuntimeError("Py4JJavaError: ... java.io.IOException: No space left on device\n\tat org.apache...")
    assert str(storage_error(java, where="/out/r1")) == "/out/r1: No space left on device"
    assert storage_error(ValueError("something else"), where="/out/r1") is None


@pytest.mark.parametrize(("fmt", "exts", "as_matrix_file"), [
    ("plink", (".bed", ".bim", ".fam"), False),
    ("plink", (".bed", ".bim", ".fam"), True),
    ("pgen", (".pgen", ".pvar", ".psam"), False),
    ("pgen", (".pgen", ".pvar", ".psam"), True),
], ids=["bed-prefix", "bed-file", "pgen-prefix", "pgen-file"])
def test_plink_fileset_is_three_inputs_each_fingerprinted(cfg, tmp_path, fmt, exts, as_matrix_file):
    """A PLINK dataset's ``path`` is the prefix or the .bed/.pgen (README). New-user trial,
    session 16: a prefix matched no file, so the pgs stage's input fingerprint was
    ``exists: false`` whatever the genotypes held (a replaced .bed, an edited .bim: "up to
    date, skipped"), and a pgen prefix stopped ``run`` with exit 2 "no such file or directory".
    Now the matrix, variant and sample files are each an input: present ones pass preflight,
    an edit of the variant file changes the pgs fingerprint, a missing sample file is named."""
    from trd_spark.stages import STAGE_SPECS, input_fingerprint

    prefix = tmp_path / "g"
    for ext in exts:
        Path(f"{prefix}{ext}").write_text(f"{ext} v1\n")
    path = f"{prefix}{exts[0]}" if as_matrix_file else str(prefix)
    ds = cfg.datasets[0].model_copy(update={"genotypes": cfg.datasets[0].genotypes.model_copy(
        update={"format": fmt, "path": path})})
    cfg = cfg.model_copy(update={"toy_data": None, "datasets": [ds, *cfg.datasets[1:]]})
    pgs = STAGE_SPECS["pgs"]
    key = "datasets.0.genotypes.path"

    def fingerprints() -> dict[str, object]:
        return {k: input_fingerprint(p) for k, p in pgs.external(cfg) if k.startswith(key)}

    before = fingerprints()
    assert all(f["exists"] for f in before.values()), before
    Path(f"{prefix}{exts[1]}").write_text(f"{exts[1]} v2\n")  # same size, other bytes
    assert fingerprints() != before
    assert [(k, p) for k, p in pgs.external(cfg) if k.startswith(key)] == [
        (key, f"{prefix}{exts[0]}"), (f"{key}[{exts[1]}]", f"{prefix}{exts[1]}"),
        (f"{key}[{exts[2]}]", f"{prefix}{exts[2]}")]
    assert [k for k, _ in missing_inputs(cfg, ["pgs"]) if k.startswith(key)] == []
    Path(f"{prefix}{exts[2]}").unlink()
    assert [(k, p) for k, p in missing_inputs(cfg, ["pgs"]) if k.startswith(key)] == [
        (f"{key}[{exts[2]}]", f"{prefix}{exts[2]}")]


AOU_ENV = {"WORKSPACE_BUCKET": "gs://fc-secure-x", "WORKSPACE_CDR": "fc-aou-cdr-prod-ct.C2022Q4R9",
           "GOOGLE_PROJECT": "aou-rw-1234abcd"}


def _no_spark(*_args):
    raise AssertionError("Spark would start here (cli._spark_fs)")


@pytest.mark.parametrize("command", [["run", "--release", "latest"], ["check-config", "--release", "latest"],
                                     ["releases"]])
def test_release_listing_without_input_root_stops_before_spark(monkeypatch, capsys, command):
    """conf/aou.yaml has no releases.input_root and a gs:// output root: `--release latest` and
    `releases` were exit 2 after Spark started (new-user trial, session 16); now before."""
    from trd_spark import cli

    for k, v in AOU_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(cli, "_spark_fs", _no_spark)
    assert cli.main([*command, "--config", str(REPO / "conf" / "aou.yaml")]) == 2
    err = capsys.readouterr().err
    assert "releases.input_root is not set" in err and "aou.yaml" in err


def test_check_config_counts_the_object_store_inputs_it_does_not_check(monkeypatch, capsys):
    """check-config said 'every declared local input found' and nothing of the gs:// inputs."""
    from trd_spark.cli import main
    from trd_spark.layout import STAGES

    for k, v in AOU_ENV.items():
        monkeypatch.setenv(k, v)
    cfg = load_config(REPO / "conf" / "aou.yaml")
    keys = [k for k, _ in uri_inputs(cfg, list(STAGES))]
    # conf/aou.yaml: 3 datasets, ancestry + 2 relatedness files, the scoring-file directory
    assert len(keys) == 7 and {"ancestry.path", "datasets.0.genotypes.path"} <= set(keys)
    assert main(["check-config", "--config", str(REPO / "conf" / "aou.yaml")]) == 0
    out = capsys.readouterr().out
    assert "inputs: every declared local input found; 7 gs:// inputs not checked (read by the stages)" in out


@pytest.mark.parametrize(("n", "outside", "line"), [
    (0, 0, "  warnings: 0 in this run"),
    (3, 0, "  warnings: 3 in this run; see the WARNING lines above"),
    (3, 1, "  warnings: 3 in this run (1 outside stages); see the WARNING lines above"),
])
def test_run_summary_points_at_warning_lines_only_when_there_are_some(n, outside, line):
    from trd_spark.cli import warnings_line

    assert warnings_line(n, outside) == line


@pytest.mark.parametrize("sample_name", ["g.sample", "g.bgen.sample"])
def test_bgen_sample_file_is_an_input_fingerprinted(cfg, tmp_path, sample_name):
    """A BGEN without embedded sample IDs takes them from the .sample beside it (ID_2,
    ``bgen_reader.sample_ids``). Session 17 review: the .sample was no input of the pgs stage,
    so a corrected .sample (IDs in another order) left pgs "up to date, skipped" with scores under
    the old IDs. Now it is fingerprinted when it exists, and not asked for when it does not (a
    BGEN with embedded IDs needs none)."""
    from trd_spark.stages import STAGE_SPECS, input_fingerprint

    bgen = tmp_path / "g.bgen"
    bgen.write_text("bgen v1\n")
    ds = cfg.datasets[0].model_copy(update={"genotypes": cfg.datasets[0].genotypes.model_copy(
        update={"format": "bgen", "path": str(bgen)})})
    cfg = cfg.model_copy(update={"toy_data": None, "datasets": [ds, *cfg.datasets[1:]]})
    pgs, key = STAGE_SPECS["pgs"], "datasets.0.genotypes.path"

    def inputs() -> list[tuple[str, str]]:
        return [(k, p) for k, p in pgs.external(cfg) if k.startswith(key)]

    assert inputs() == [(key, str(bgen))]  # no .sample: not an input, not missing
    assert [k for k, _ in missing_inputs(cfg, ["pgs"]) if k.startswith(key)] == []
    sample = tmp_path / sample_name
    sample.write_text("ID_1 ID_2 missing\n0 0 0\n0 s1 0\n0 s2 0\n")
    suffix = sample_name.removeprefix("g")
    assert inputs() == [(key, str(bgen)), (f"{key}[{suffix}]", str(sample))]
    before = {k: input_fingerprint(p) for k, p in inputs()}
    sample.write_text("ID_1 ID_2 missing\n0 0 0\n0 s2 0\n0 s1 0\n")  # same size, IDs swapped
    assert {k: input_fingerprint(p) for k, p in inputs()} != before
    # A file:// path is local: only the .sample that exists, which preflight finds
    ds = ds.model_copy(update={"genotypes": ds.genotypes.model_copy(update={"path": f"file://{bgen}"})})
    cfg = cfg.model_copy(update={"datasets": [ds, *cfg.datasets[1:]]})
    assert inputs() == [(key, f"file://{bgen}"), (f"{key}[{suffix}]", f"file://{sample}")]
    assert [k for k, _ in missing_inputs(cfg, ["pgs"]) if k.startswith(key)] == []


def test_explain_of_a_file_uri_input_starts_no_spark(tmp_path):
    """``explain`` fingerprints a file:// input with ``os`` (``stages.input_fingerprint``), as a
    no-op ``run`` decides (``pipeline.needs_spark_to_plan``). Session 17 review: the CLI's own
    test counted any URI, so a file:// input started Spark (and its JVM) for nothing. Run in a
    fresh interpreter, which has launched no JVM afterwards (``SparkContext._gateway``: set
    when pyspark starts one; this test process may hold the test session's)."""
    import subprocess
    import sys

    import yaml

    from trd_spark.config import DEFAULT_CONFIG

    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw.pop("toy_data")
    raw["output_root"] = str(tmp_path / "results")
    raw["omop"]["path"] = f"file://{tmp_path}/omop"
    raw["phenotypes"]["concept_sets"] = str(DEFAULT_CONFIG.parent / "concept_sets.yaml")
    raw["pgs"]["trait_panel"] = str(DEFAULT_CONFIG.parent / "trait_panel_toy.yaml")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    code = ("import sys; from pyspark import SparkContext; from trd_spark.cli import main; "
            f"rc = main(['explain', '--config', {str(config)!r}, '--stage', 'phenotypes']); "
            "print('JVM started' if SparkContext._gateway is not None else 'no JVM'); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"reads omop.path: file://{tmp_path}/omop" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "no JVM", proc.stdout


def test_a_file_uri_input_is_checked_as_a_local_file(cfg, tmp_path):
    """A ``file://`` input is a local file (``stages.input_fingerprint`` reads it with ``os``):
    preflight checks it, and check-config does not count it among the URIs it leaves to the
    readers. Session 17 review: a missing file:// input passed preflight unchecked."""
    omop = tmp_path / "omop"
    cfg = cfg.model_copy(update={"omop": cfg.omop.model_copy(update={"path": f"file://{omop}"})})
    assert ("omop.path", f"file://{omop}") in missing_inputs(cfg, ["phenotypes"])
    assert uri_inputs(cfg, ["phenotypes"]) == []
    omop.mkdir()
    assert [k for k, _ in missing_inputs(cfg, ["phenotypes"]) if k == "omop.path"] == []


@pytest.mark.parametrize(("path", "local"), [
    ("/data/g.bgen", "/data/g.bgen"), ("rel/g.vcf", "rel/g.vcf"), ("file:///data/g.bgen", "/data/g.bgen"),
    ("gs://b/g.bgen", None), ("hdfs://nn/g.bgen", None), ("s3a://b/g.bgen", None),
])
def test_local_path_is_the_one_file_uri_rule(path, local):
    """``config.local_path``: the rule preflight, the rerun fingerprint and needs_spark_to_plan
    share (each wrote ``is_uri(p) and not p.startswith('file://')`` itself in session 17)."""
    from trd_spark.config import local_path

    assert local_path(path) == local


def _scoring_file(path: Path, header: str) -> str:
    """A scoring file of one variant with ``header`` as its # lines (gzip when named .gz)."""
    import gzip

    text = f"{header}\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n1\t100\tA\tG\t0.1\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return str(path)


def test_scoring_files_against_the_trait_panel_at_check_time(cfg, tmp_path, caplog, capsys):
    """A file whose #pgs_id has no panel entry was scored with domain 'unassigned', and a panel
    score without a file showed up as 'pgs_absent' fits at the models stage, both unsaid by
    check-config and at run start: now one counted WARNING line naming them (an error with
    pgs.strict_panel), read from the files' headers only."""
    from trd_spark.cli import _report_panel_mismatch
    from trd_spark.preflight import check_panel, panel_mismatch

    scores = tmp_path / "scores"
    scores.mkdir()
    _scoring_file(scores / "PGS900001.txt.gz", "#pgs_id=PGS900001\n#genome_build=GRCh38")
    _scoring_file(scores / "mine.txt", "###PGS CATALOG SCORING FILE\n# PGS ID = PGS999999")  # format 1.0 key
    _scoring_file(scores / "noid.txt", "#genome_build=GRCh38")  # the pgs stage names this one
    panel = [s.pgs_id for s in cfg.trait_panel.scores]
    assert "PGS900001" in panel and "PGS999999" not in panel
    cfg = cfg.model_copy(update={"toy_data": None, "pgs": cfg.pgs.model_copy(update={"scoring_files": [str(scores)]})})

    found = panel_mismatch(cfg)
    assert found.not_in_panel == ["PGS999999"]
    assert found.without_file == [i for i in panel if i != "PGS900001"] and found.uri_patterns == []
    with caplog.at_level("WARNING", logger="trd_spark.preflight"):
        check_panel(cfg)
    lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert lines == [
        "pgs.scoring_files vs pgs.trait_panel: 1 scoring file score(s) not in the trait panel (scored with "
        "domain 'unassigned'): PGS999999; "
        f"{len(panel) - 1} trait-panel score(s) without a scoring file (their fits would fail as "
        f"'pgs_absent'): {', '.join(panel[1:])}"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="trd_spark.cli"):
        _report_panel_mismatch(cfg)
    assert [r.getMessage() for r in caplog.records] == lines

    strict = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"strict_panel": True})})
    with pytest.raises(ConfigError, match=r"trait_panel_toy\.yaml: pgs\.scoring_files vs .*PGS999999.*strict_panel"):
        check_panel(strict)

    # A gs:// entry is not read: panel scores without a local file may be there.
    on_gcs = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"scoring_files": [str(scores), "gs://b/s/"]})})
    found = panel_mismatch(on_gcs)
    assert found.not_in_panel == ["PGS999999"] and found.without_file == []
    assert found.uri_note() == ("pgs.scoring_files: 1 gs:// / hdfs:// entry not read for the trait-panel check "
                                "(panel scores without a file are not looked for)")
    # Only gs:// entries (conf/aou.yaml): nothing local read, nothing to warn about. check-config
    # logged "WARNING trd_spark: None" (and counted it) for the shipped AoU config (session 19 trial).
    caplog.clear()
    only_gcs = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"scoring_files": ["gs://b/s/"]})})
    for config in (only_gcs, only_gcs.model_copy(update={"pgs": only_gcs.pgs.model_copy(update={"strict_panel": True})})):
        _report_panel_mismatch(config)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert capsys.readouterr().out == 2 * ("pgs.scoring_files: 1 gs:// / hdfs:// entry not read for the trait-panel "
                                           "check (panel scores without a file are not looked for)\n")
    # An entry matching no file (named by missing_inputs; toy data not generated yet): nor are they.
    absent = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"scoring_files": [str(scores), "/no/such/*.gz"]})})
    assert panel_mismatch(absent).without_file == [] and panel_mismatch(absent).unmatched == ["/no/such/*.gz"]

    # Files and panel agreeing: no warning, one line from check-config.
    (scores / "mine.txt").unlink()
    for i in panel[1:]:
        _scoring_file(scores / f"{i}.txt", f"#pgs_id={i}")
    assert panel_mismatch(cfg).message() is None
    caplog.clear()
    check_panel(strict)
    _report_panel_mismatch(cfg)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert capsys.readouterr().out == ("scoring files vs trait panel: every local scoring file's score is in the panel "
                                       "and every panel score has a file\n")
