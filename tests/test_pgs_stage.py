"""The pgs stage (``pipeline.run_stage``) end to end on a tiny config: two datasets, two scores."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pysam
import pytest
from test_pgs_genotypes import write_tiny_vds

from trd_spark.config import load_config
from trd_spark.errors import MatchRateError
from trd_spark.layout import Layout
from trd_spark.pgs import stage
from trd_spark.pipeline import run_stage
from trd_spark.schemas import PGS_MATCH_SUMMARY, PGS_SCORES, PGS_VARIANT_MATCHES

DATA = Path(__file__).parent / "data" / "pgs"
REPO = Path(__file__).resolve().parent.parent

# A second score, not in the trait panel: one variant at 700 (C>A, every sample 0/1), one missing.
EXTRA_SCORE = """#pgs_id=PGS000950
#trait_reported=Something else
#genome_build=GRCh38
chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight
1\t700\tA\tC\t4.0
1\t7000\tA\tC\t1.0
"""


def write_config(tmp: Path, min_overlap: float, replication: str | None = None) -> Path:
    """The tiny config: both datasets hold the tiny VCF (discovery bgzipped); ``replication``:
    the replication dataset's genotypes as ``{format: ..., path: ...}`` instead."""
    replication = replication or f"{{format: vcf, path: {DATA / 'tiny.vcf'}}}"
    bgz = tmp / "tiny.vcf.bgz"
    pysam.tabix_compress(str(DATA / "tiny.vcf"), str(bgz), force=True)
    scores = tmp / "scores"
    scores.mkdir(exist_ok=True)
    (scores / "PGS000901.txt").write_text((DATA / "PGS000901.txt").read_text())
    (scores / "PGS000950.txt").write_text(EXTRA_SCORE)
    (tmp / "panel.yaml").write_text(
        "domains: [physical]\nscores:\n  - {pgs_id: PGS000901, trait: Tiny trait, domain: physical}\n"
    )
    cfg = f"""
release: t1
output_root: {tmp}/out
datasets:
  - {{name: discovery, role: discovery, genotypes: {{format: vcf, path: {bgz}}}}}
  - {{name: replication_wgs, role: replication, genotypes: {replication}}}
ancestry: {{path: {tmp}/ancestry.tsv}}
pgs:
  scoring_files: ["{scores}/*.txt"]
  trait_panel: {tmp}/panel.yaml
  min_overlap: {min_overlap}
omop: {{path: {tmp}/omop, data_cutoff_date: 2023-07-01}}
phenotypes:
  concept_sets: {REPO / 'conf' / 'concept_sets.yaml'}
  primary_definition: ad3
  trd_definitions:
    - {{name: ad3, rule: antidepressant_sequence, n_trials: 3}}
"""
    path = tmp / "pgs.yaml"
    path.write_text(cfg)
    return path


def test_run_publishes_scores_and_match_logs(spark, tmp_path):
    """The replication dataset is the discovery VCF as a VDS: the stage densifies it at the
    score loci and must find the same matches and scores."""
    import hail as hl

    write_tiny_vds(hl, str(tmp_path / "tiny.vds"))
    cfg = load_config(write_config(tmp_path, min_overlap=0.5, replication=f"{{format: vds, path: {tmp_path / 'tiny.vds'}}}"))
    run_stage(spark, cfg, "pgs")
    layout = Layout.of(cfg)
    out = Path(layout.stage_dir("pgs"))
    assert (out / "_SUCCESS").exists()
    manifest = json.loads((out / "_manifest.json").read_text())
    # 2 datasets x 4 persons x 2 scores; 2 datasets x (9 + 2) variants; 2 x 2 summary rows
    assert manifest["tables"] == {"variant_matches": 22, "match_summary": 4, "scores": 16}

    scores = spark.read.parquet(layout.table("pgs", "scores"))
    assert scores.columns == PGS_SCORES.names
    s = {(r.dataset, r.person_id, r.pgs_id): r for r in scores.collect()}  # 16 rows
    assert s[("discovery", 102, "PGS000901")].score_sum == pytest.approx(8.75, abs=1e-12)
    assert s[("replication_wgs", 104, "PGS000901")].score_sum == pytest.approx(0.25, abs=1e-12)
    assert s[("discovery", 103, "PGS000950")].score_sum == pytest.approx(4.0, abs=1e-12)
    assert s[("discovery", 103, "PGS000950")].score_avg == pytest.approx(4.0 / 2, abs=1e-12)
    assert (s[("discovery", 102, "PGS000901")].n_matched, s[("discovery", 103, "PGS000950")].n_matched) == (6, 1)

    # The Parquet table is the one score output (no Hail Table per dataset since session 24:
    # nothing read it, and it made the native pass run Hail).
    assert manifest["files"] == ["match_summary.tsv"]
    assert not list(out.glob("*.ht"))

    summary = spark.read.parquet(layout.table("pgs", "match_summary")).toPandas()
    assert summary.columns.tolist() == PGS_MATCH_SUMMARY.names
    extra = summary[(summary.pgs_id == "PGS000950") & (summary.dataset == "discovery")].iloc[0]
    assert (extra.trait, extra.domain, extra.n_matched, extra.n_not_found) == ("Something else", "unassigned", 1, 1)
    tsv = (out / "match_summary.tsv").read_text().splitlines()
    assert tsv[0].split("\t") == PGS_MATCH_SUMMARY.names
    assert "discovery\tPGS000901\tTiny trait\tphysical\t9\t6\t" in "\n".join(tsv)

    matches = spark.read.parquet(layout.table("pgs", "variant_matches"))
    assert matches.columns == PGS_VARIANT_MATCHES.names
    assert matches.filter("match_type = 'ambiguous_dropped'").count() == 2  # rs400 in each dataset
    assert not (Path(layout.release_dir) / stage.FAILED_MATCH_DIR).exists()

    # The share of scored calls missing (person x matched variant), per dataset, in the manifest:
    # PGS000901's 6 matched variants miss 102's call at 200 and 104's at 900, PGS000950's one
    # none, so 2 of 4 x (6 + 1), rounded to 4 digits; each dataset's share is the published
    # table's own ratio. No file beside the scores (the glob names .txt files only): nothing
    # listed as not read.
    assert manifest["notes"]["missing_call_share"]["discovery"] == round(2 / 28, 4)
    sums = scores.groupBy("dataset").sum("n_missing", "n_matched").collect()
    assert manifest["notes"]["missing_call_share"] == {
        r["dataset"]: round(r["sum(n_missing)"] / r["sum(n_matched)"], 4) for r in sums}
    assert manifest["notes"]["scoring_files_not_read"] == []
    # Every scored dataset's rows no sample has a call on (stage.uncalled_variant_counts), here
    # none: listed with 0 (on 163d5e1 no test read the key: the stage could drop it unseen).
    assert manifest["notes"]["uncalled_variants"] == {
        d: {"rows": 0, "by_score": {}, "no_male_chry_rows": 0} for d in ("discovery", "replication_wgs")}

    # Which file made each score: the glob is one input of the rerun fingerprint (one digest,
    # no file names), so the manifest names each file with its sha256sum and the positions used.
    made = manifest["notes"]["scoring_files"]
    assert sorted(made) == ["PGS000901", "PGS000950"]
    assert made["PGS000950"] == {"GRCh38": {
        "path": str(tmp_path / "scores" / "PGS000950.txt"), "bytes": len(EXTRA_SCORE),
        "sha256": hashlib.sha256(EXTRA_SCORE.encode()).hexdigest(), "genome_build": "GRCh38",
        "HmPOS_build": None, "weight_type": None, "variants": 2,
        "positions": {"from": "author", "build": "GRCh38"},
    }}


def test_match_rate_failure_writes_logs_then_raises(spark, tmp_path, caplog):
    """The MatchRateError names the field and the match logs: it is the failure's one ERROR
    line (the CLI logs it); the stage logged a second one of its own before. The stage takes
    the scoring files the runner parsed ahead and handed it in its run context (as the CLI
    does while Spark starts: ``StageContext.handed``), with no global registry."""
    from trd_spark.pgs.scoring_files import SCORING_FILES_AHEAD, parsed_ahead

    cfg = load_config(write_config(tmp_path, min_overlap=0.75))
    with caplog.at_level("INFO", logger="trd_spark"), pytest.raises(MatchRateError) as e, \
            parsed_ahead(cfg.pgs, ["GRCh38"]) as ahead:
        run_stage(spark, cfg, "pgs", handed={SCORING_FILES_AHEAD: ahead})
    assert any(r.getMessage().startswith("pgs: matching") for r in caplog.records)  # the stage's log is seen
    assert [r.getMessage() for r in caplog.records
            if "parsed while the session started" in r.getMessage()] != []  # the handed parse, taken
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    msg = str(e.value)
    assert e.value.exit_code == 4
    assert msg.startswith("pgs.min_overlap: ") and msg.endswith(f"(match logs: {Layout.of(cfg).release_dir}/"
                                                                 f"{stage.FAILED_MATCH_DIR})")
    # PGS000901 matches 6/9 and PGS000950 1/2, in both datasets
    for ds in ("discovery", "replication_wgs"):
        assert f"score PGS000901 in dataset {ds}: matched 6/9" in msg
        assert f"score PGS000950 in dataset {ds}: matched 1/2" in msg
    layout = Layout.of(cfg)
    assert not Path(layout.stage_dir("pgs")).exists()
    failed = Path(layout.release_dir) / stage.FAILED_MATCH_DIR
    assert spark.read.parquet(str(failed / "variant_matches.parquet")).count() == 22
    assert "PGS000950" in (failed / "match_summary.tsv").read_text()


def test_run_wires_liftover_rsid_and_uri_options_from_config(spark, tmp_path):
    """The stage reads ``pgs.liftover``, ``pgs.match_rsid`` and URI globs from the config: a
    GRCh37 file lifted with a chain file and an rsID-only file score like their GRCh38
    positional equivalents (test_pgs_inputs checks the functions; this checks the wiring)."""
    import gzip

    from test_pgs_inputs import CHAIN, DIRECT_ROWS, LIFT_ROWS, score_text

    scores = tmp_path / "scores"
    scores.mkdir()
    (scores / "PGS000037.txt").write_text(score_text("PGS000037", "GRCh37", LIFT_ROWS))
    (scores / "PGS000038.txt").write_text(score_text("PGS000038", "GRCh38", DIRECT_ROWS))
    rsid_only = "".join(f"{r}\t{ea}\t{oa}\t{w}\n" for r, _, ea, oa, w in DIRECT_ROWS)
    (scores / "PGS000039.txt").write_text(
        "#pgs_id=PGS000039\n#trait_reported=Tiny trait\n#genome_build=GRCh38\n"
        "rsID\teffect_allele\tother_allele\teffect_weight\n" + rsid_only)
    chain = tmp_path / "37to38.over.chain.gz"
    chain.write_bytes(gzip.compress(CHAIN.encode()))
    vcf = tmp_path / "ids.vcf.bgz"
    ids_vcf = tmp_path / "ids.vcf"
    ids_vcf.write_text((DATA / "tiny.vcf").read_text().replace("\tv", "\trs"))
    pysam.tabix_compress(str(ids_vcf), str(vcf), force=True)

    text = write_config(tmp_path, min_overlap=0.5).read_text()
    text = text.replace(f'scoring_files: ["{scores}/*.txt"]', f'scoring_files: ["file://{scores}/PGS00003*.txt"]')
    text = text.replace("  min_overlap: 0.5\n", f"  min_overlap: 0.5\n  match_rsid: true\n"
                                                 f"  liftover: {{chain_file: {chain}}}\n")
    text = text.replace(f"path: {tmp_path / 'tiny.vcf.bgz'}", f"path: {vcf}")
    text = text.replace(f"  - {{name: replication_wgs, role: replication, genotypes: {{format: vcf, path: {DATA / 'tiny.vcf'}}}}}\n", "")
    cfg_path = tmp_path / "wired.yaml"
    cfg_path.write_text(text)
    cfg = load_config(cfg_path)
    assert cfg.pgs.match_rsid and cfg.pgs.liftover is not None and len(cfg.datasets) == 1
    run_stage(spark, cfg, "pgs")

    layout = Layout.of(cfg)
    summary = spark.read.parquet(layout.table("pgs", "match_summary")).toPandas().set_index("pgs_id")  # 3 rows
    assert summary.loc["PGS000037", "n_matched"] == 4 and summary.loc["PGS000037", "n_not_found"] == 1
    assert summary.loc["PGS000038", "n_matched"] == 4 and summary.loc["PGS000039", "n_matched"] == 4
    rows = spark.read.parquet(layout.table("pgs", "scores")).collect()  # 4 persons x 3 scores
    by = {(r.person_id, r.pgs_id): r.score_sum for r in rows}
    for person in (101, 102, 103, 104):
        direct = by[(person, "PGS000038")]
        assert by[(person, "PGS000037")] == pytest.approx(direct, rel=1e-12)
        assert by[(person, "PGS000039")] == pytest.approx(direct, rel=1e-12)
    assert any(abs(by[(p, "PGS000038")]) > 0 for p in (101, 102, 103, 104))

    # The manifest says which positions each score used: lifted from GRCh37, placed by rsID.
    made = json.loads((Path(layout.stage_dir("pgs")) / "_manifest.json").read_text())["notes"]["scoring_files"]
    assert made["PGS000037"]["GRCh38"]["positions"] == {"from": "author", "build": "GRCh37"}
    assert made["PGS000039"]["GRCh38"]["positions"] == {"from": "rsid", "build": None}
    assert made["PGS000039"]["GRCh38"]["path"] == f"file://{scores}/PGS000039.txt"
    assert made["PGS000039"]["GRCh38"]["sha256"] == hashlib.sha256((scores / "PGS000039.txt").read_bytes()).hexdigest()
