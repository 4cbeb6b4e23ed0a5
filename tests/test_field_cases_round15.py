"""Field cases round 15: outputs of an older release read by a scheduled rerun, damaged
archived export manifests (and the VCF / OMOP Parquet / .psam shapes below).

Tiny inputs built inline; the session's Spark (``Fs``) where a file system is needed; no toy run."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from chance import without_paths

from trd_spark.errors import InputDataError


def _one_line(e: pytest.ExceptionInfo, path: str) -> str:
    line = str(e.value)
    assert e.value.exit_code == 3 and "\n" not in line and line.startswith(f"{path}"), line
    return line


# --------------------------------------------------------------- outputs of an older release
def test_report_reads_an_older_releases_match_summary_with_what_it_holds(spark, tmp_path):
    """A scheduled ``trd-spark report`` on an earlier release whose pgs stage ran before
    ``n_matched_multiallelic`` existed: the report selected every current match-summary column
    by name and stopped with a KeyError traceback. It now reads the columns it shows
    (match_rates.tsv), which any release holds, and publishes; a match summary lacking one of
    those stops with one line naming the table and the column."""
    from models_sim import PGS_IDS, make_config

    from trd_spark.layout import Layout, publish_stage
    from trd_spark.pipeline import run_stage
    from trd_spark.schemas import COHORT_FLOW, LOGISTIC_RESULTS, PGS_MATCH_SUMMARY

    cfg = make_config(tmp_path)
    old = [c for c in PGS_MATCH_SUMMARY.names if c != "n_matched_multiallelic"]
    match = pd.DataFrame([("discovery", p, "trait", "sleep", 100, 90, 80, 10, 0, 5, 5, 0, 0.9) for p in PGS_IDS],
                         columns=old)
    flow = [("all", 1, "persons with EHR and genomes", 1000)]
    with publish_stage(spark, cfg, "phenotypes") as w:
        w.write_table("cohort_flow", spark.createDataFrame(flow, COHORT_FLOW.struct), COHORT_FLOW)
    with publish_stage(spark, cfg, "models") as w:
        w.write_table("logistic", spark.createDataFrame([], LOGISTIC_RESULTS.struct), LOGISTIC_RESULTS)
    with publish_stage(spark, cfg, "pgs") as w:  # as an older pgs stage wrote it (no schema check then)
        w.write_table("match_summary", spark.createDataFrame(match))
    files = run_stage(spark, cfg, "report")
    rates = pd.read_csv(files["match_rates.tsv"], sep="\t")
    assert list(rates["pgs_id"]) == sorted(PGS_IDS) and set(rates["n_matched"]) == {90}

    with publish_stage(spark, cfg, "pgs") as w:  # older still: no matched_fraction
        w.write_table("match_summary", spark.createDataFrame(match.drop(columns="matched_fraction")))
    path = Layout.of(cfg).table("pgs", "match_summary")
    with pytest.raises(InputDataError) as e:
        run_stage(spark, cfg, "report")
    assert "has no column matched_fraction" in _one_line(e, path)


def test_release_comparison_reads_an_older_export_without_the_trait_column():
    """``compare-releases`` put A's and B's exported results side by side selecting ``trait``
    from both: an export made before its tables carried the trait stopped with a KeyError, and a
    model only in B had a blank trait. The trait now comes from whichever export names it."""
    from trd_spark.report.compare import exported_estimates

    row = {"dataset": "d", "definition": "ad3", "contrast": "TRD_vs_non_MDD", "pgs_id": "PGS1",
           "odds_ratio": "1.2", "ci_low": "1.0", "ci_high": "1.4", "p": "0.04"}
    a = pd.DataFrame([row])  # older export: no trait
    b = pd.DataFrame([{**row, "trait": "sleep"}, {**row, "pgs_id": "PGS2", "trait": "bmi"}])
    out = exported_estimates({"results.tsv": a}, {"results.tsv": b})
    assert list(out["trait"]) == ["sleep", "bmi"] and list(out["effect_a"].isna()) == [False, True]


def test_release_comparison_refuses_an_export_lacking_an_estimate_column(spark, tmp_path):
    """An exported results.tsv without a column the comparison reads (``ci_high``): one line
    naming the file and the column, never a KeyError."""
    from trd_spark.io import Fs
    from trd_spark.layout import EXPORT, Layout
    from trd_spark.report.compare import release_estimates

    la, lb = Layout(str(tmp_path), "r1"), Layout(str(tmp_path), "r2")
    header = "dataset\tdefinition\tcontrast\tpgs_id\ttrait\todds_ratio\tci_low\tci_high\tp\n"
    for lay, text in ((la, header.replace("\tci_high", "")), (lb, header)):
        (tmp_path / lay.release / EXPORT).mkdir(parents=True)
        (tmp_path / lay.release / EXPORT / "results.tsv").write_text(text)
    with pytest.raises(InputDataError) as e:
        release_estimates(Fs(spark), la, lb)
    assert "has no column ci_high" in _one_line(e, la.file(EXPORT, "results.tsv"))


# --------------------------------------------------------- damaged archived export manifests
@pytest.mark.parametrize("damage, expected", [
    pytest.param(lambda text: text[: len(text) // 2], r":\d+:\d+: not valid JSON", id="truncated"),
    pytest.param(lambda text: "[]", r": holds a JSON list, not the object", id="not-an-object"),
    pytest.param(lambda text: json.dumps({**json.loads(text), "small_count_threshold": "20"}),
                 r": field 'small_count_threshold' holds a JSON str, not the int", id="threshold-text"),
])
def test_a_damaged_archived_export_manifest_is_one_line_naming_the_file(spark, tmp_path, damage, expected):
    """The report reads every earlier export's ``_manifest.json`` (``released_exports``: the
    threshold it was made under) and ``compare-releases`` the current one's
    (``export_threshold``). A truncated file gave a JSONDecodeError traceback; a list an
    AttributeError; a threshold written as text was read as "none recorded" by one reader and
    as 20 by the other. Each is now one InputDataError line (exit 3) naming the file."""
    from test_report_reexport import export_files, release

    from trd_spark.config import load_config
    from trd_spark.io import Fs
    from trd_spark.layout import Layout
    from trd_spark.report.compare import export_threshold
    from trd_spark.report.stage import archive_export, publish_export, released_exports

    fs, cfg = Fs(spark), load_config(None, overrides={"output_root": str(tmp_path), "release": "r1"})
    for run_id in ("run1", "run2"):
        archive_export(fs, cfg)
        publish_export(fs, cfg, export_files(release(30)), run_id=run_id)
    assert set(released_exports(fs, cfg)) == {"r1@run1", "r1@run2"}
    assert export_threshold(fs, Layout.of(cfg), 99) == 20

    kept = tmp_path / "r1" / "export_history" / "run1" / "_manifest.json"
    kept.write_text(damage(kept.read_text()))
    with pytest.raises(InputDataError) as e:
        released_exports(fs, cfg)
    assert re.match(re.escape(str(kept)) + expected, _one_line(e, str(kept)))

    current = tmp_path / "r1" / "export" / "_manifest.json"
    current.write_text(damage(current.read_text()))
    with pytest.raises(InputDataError) as e:
        export_threshold(fs, Layout.of(cfg), 20)
    assert re.match(re.escape(str(current)) + expected, _one_line(e, str(current)))


# ------------------------------------------------------------ .psam with ## lines (plink2 reads them)
PSAM_CASES = {
    "meta-lines-then-header": "##source=imputation-server\n##note=x y\n#FID\tIID\tSEX\nf1\ts1\t1\nf2\ts2\t2\nf3\ts3\tNA\n",
    "other-comment-then-header": "#made by a script\n#IID\tSEX\ns1\t1\ns2\t2\ns3\tNA\n",
    "meta-lines-then-fam-order": "##x\nf1 s1 0 0 1 -9\nf2 s2 0 0 2 -9\nf3 s3 0 0 0 -9\n",
}


@pytest.mark.parametrize("case", sorted(PSAM_CASES))
def test_psam_comment_lines_before_the_header_are_read_as_plink2_reads_them(tmp_path, case):
    """plink2's .psam spec: the *last* header line starts with #FID or #IID; the lines starting
    with '#' before it (``##source=...``, as imputation servers and converters write them) are
    skipped, and without a header the samples are .fam-ordered. We stopped with 'header has no
    IID column' (or read a headerless file's comment as a sample). The IIDs now equal plink2's own
    (``plink2 --pfile P --write-samples``) on the same fileset, and a short line is still named
    by its line number in the file (counting the comment lines)."""
    import shutil
    import subprocess

    from trd_spark.pgs.pgen_engine import PlinkFiles, psam_samples

    vcf = tmp_path / "g.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
                   "s1\ts2\ts3\n1\t100\tv1\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\t0/0\n")
    plink2 = shutil.which("plink2") or "/usr/bin/plink2"
    subprocess.run([plink2, "--vcf", str(vcf), "--make-pgen", "--out", str(tmp_path / "g")], check=True,
                   capture_output=True)
    (tmp_path / "g.psam").write_text(PSAM_CASES[case])
    subprocess.run([plink2, "--pfile", str(tmp_path / "g"), "--write-samples", "--out", str(tmp_path / "ids")],
                   check=True, capture_output=True)
    ids = pd.read_csv(tmp_path / "ids.id", sep="\t", dtype=str).rename(columns=lambda c: c.lstrip("#"))
    assert psam_samples(PlinkFiles("pgen", str(tmp_path / "g"))) == list(ids["IID"]) == ["s1", "s2", "s3"]

    lines = PSAM_CASES[case].splitlines(keepends=True)
    # A line with one field more than the header / first sample (pandas would shift its columns).
    lines[-2] = lines[-2].rstrip("\n") + ("\tx\n" if "\t" in lines[-2] else " x\n")
    (tmp_path / "g.psam").write_text("".join(lines))
    with pytest.raises(InputDataError) as e:
        psam_samples(PlinkFiles("pgen", str(tmp_path / "g")))
    assert str(e.value).startswith(f"{tmp_path / 'g.psam'}:{len(lines) - 1}: "), str(e.value)


# ------------------------------------------------------------------ VCF GT half-calls, per mode
HALF_CALL_VCF = (
    "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t101\t102\t103\t104\t105\n"
    "chr1\t100\tv1\tA\tG\t.\t.\t.\tGT\t0/.\t./1\t.|0\t1|.\t0/1\n"
    "chr1\t200\tv2\tC\tT\t.\t.\t.\tGT\t1/1\t0/0\t./.\t0/1\t./0\n"
    "chr1\t300\tv3\tG\tA\t.\t.\t.\tGT:DP\t1/.:5\t0/0:3\t0/1:2\t./.:1\t10/.:4\n"
)


@pytest.mark.parametrize("mode", ["missing", "haploid", "reference"])
def test_vcf_half_calls_are_read_as_plink2_reads_them_in_each_mode(hl, tmp_path, mode):
    """``pgs.vcf_half_call`` (plink2 ``--vcf-half-call``): each mode's ALT dosages on the Hail
    route equal plink2's (``plink2 --vcf F --vcf-half-call MODE --export A``: its counted allele
    is REF here, ALT = 2 - it; NA = missing) for every sample and record: unphased and phased,
    either allele missing, GT before other subfields. Before, Hail read every half-call as
    missing whatever was asked (there was no choice: plink2's haploid/reference had no equal).
    The last entry's allele 10 is out of range for the record: plink2 and we both read it as
    missing only in mode missing, so it is left out of the comparison (both refuse it otherwise)."""
    import shutil
    import subprocess

    from trd_spark.config import GenotypeSource
    from trd_spark.pgs.genotypes import read_genotypes

    text = HALF_CALL_VCF.replace("\t10/.:4", "\t0/0:4")
    vcf = tmp_path / "h.vcf"
    vcf.write_text(text)
    plink2 = shutil.which("plink2") or "/usr/bin/plink2"
    subprocess.run([plink2, "--vcf", str(vcf), "--vcf-half-call", mode, "--export", "A", "--out",
                    str(tmp_path / "p")], check=True, capture_output=True)
    raw = pd.read_csv(tmp_path / "p.raw", sep="\t", dtype={"IID": str})
    assert [c for c in raw.columns if c.startswith("v")] == ["v1_A", "v2_C", "v3_G"]  # REF counted
    plink = {(pos, iid): None if pd.isna(raw.loc[i, col]) else 2.0 - raw.loc[i, col]
             for pos, col in ((100, "v1_A"), (200, "v2_C"), (300, "v3_G")) for i, iid in enumerate(raw["IID"])}
    mt = read_genotypes(hl, GenotypeSource(format="vcf", path=str(vcf)), vcf_half_call=mode)
    ours = {(r.locus.position, r.s): r.DOSAGE for r in mt.entries().collect()}
    assert ours == plink
    # Not the same answer in every mode: the half-call of 102 at 100 (./1) is what differs.
    assert ours[(100, "102")] == {"missing": None, "haploid": 2.0, "reference": 1.0}[mode]


def test_vcf_half_call_error_mode_refuses_found_half_calls_and_an_unindexed_vcf(tmp_path, caplog):
    """``pgs.vcf_half_call: error`` (plink2's default): matched records with a half-call stop the
    stage with one line naming the dataset's files and the record count (no sample, no person
    count); a VCF without a tabix/CSI index cannot be looked at, and a run that cannot check
    does not pass as checked: also one line, saying how to index it. The other modes log the
    count and how the half-calls were read."""
    import logging

    import pysam

    from trd_spark.config import GenotypeSource
    from trd_spark.pgs.genotypes import vcf_half_call_rows
    from trd_spark.pgs.stage import check_half_calls

    (tmp_path / "i.vcf").write_text(HALF_CALL_VCF)
    indexed = GenotypeSource(format="vcf", path=pysam.tabix_index(str(tmp_path / "i.vcf"), preset="vcf"))
    plain = tmp_path / "h.vcf"
    plain.write_text(HALF_CALL_VCF)
    rows = [("chr1", 100), ("chr1", 200), ("chr1", 300)]
    half = vcf_half_call_rows(indexed, rows)
    assert half == 3
    with pytest.raises(InputDataError) as e:
        check_half_calls(half, "error", "discovery", "dataset discovery genotypes h.vcf.gz")
    assert "3 matched VCF record(s) hold GT half-calls" in _one_line(e, "dataset discovery genotypes h.vcf.gz")
    check_half_calls(vcf_half_call_rows(indexed, [("chr1", 150)]), "error", "d", "w")  # none matched: passes

    unindexed = GenotypeSource(format="vcf", path=str(plain))
    assert vcf_half_call_rows(unindexed, rows) is None
    with pytest.raises(InputDataError) as e:
        check_half_calls(None, "error", "discovery", "dataset discovery genotypes h.vcf")
    assert "needs the VCF's tabix/CSI index" in _one_line(e, "dataset discovery genotypes h.vcf")

    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.stage"):
        check_half_calls(half, "haploid", "discovery", "w")
        check_half_calls(None, "reference", "discovery", "w")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == ["  discovery: 3 matched VCF records hold GT half-calls (0/., ./1): read as homozygous for the "
                      "called allele (0/. as 0/0, ./1 as 1/1), as plink2 --vcf-half-call haploid (pgs.vcf_half_call; "
                      "plink2's default refuses the file)"]
    assert any("not counted" in r.getMessage() and "reference" in r.getMessage() for r in caplog.records)


def test_vcf_half_call_config_key_takes_plink2s_mode_names_only():
    """The key accepts plink2's four mode names and defaults to missing (config docs say why)."""
    from pydantic import ValidationError

    from trd_spark.config import PgsSettings, load_config

    pgs = load_config(None).pgs
    assert pgs.vcf_half_call == "missing"
    for mode in ("missing", "haploid", "reference", "error"):
        assert PgsSettings.model_validate({**pgs.model_dump(), "vcf_half_call": mode}).vcf_half_call == mode
    with pytest.raises(ValidationError, match="vcf_half_call"):
        PgsSettings.model_validate({**pgs.model_dump(), "vcf_half_call": "h"})


# ------------------------------------------------------- OMOP Parquet part files of two schemas
@pytest.mark.parametrize("second, column, said", [
    pytest.param({"observation_period_start_date": "date"}, "observation_period_end_date", "has no column",
                 id="column-missing"),
    pytest.param({"person_id": "string"}, "person_id", "is string in this part file but bigint", id="id-as-string"),
    pytest.param({"observation_period_start_date": "timestamp"}, "observation_period_start_date",
                 "is timestamp", id="date-as-timestamp"),
])
def test_omop_parquet_part_files_with_another_schema_are_one_error_naming_file_and_column(
        spark, tmp_path, second, column, said):
    """An OMOP table exported in parts whose schemas differ (a column absent from one part,
    person_id written as text by one writer and as a number by another, a date as a timestamp):
    Spark read every part by the first part's schema, so the absent column came back as nulls
    (persons without an observation period end: their records dropped or kept by accident) and
    a differing type failed inside a Spark task with a Java trace. Now one InputDataError names
    the part file and the column before any record is read."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    from trd_spark.config import OmopInput
    from trd_spark.phenotypes.omop import read_omop_table

    table = tmp_path / "omop" / "observation_period"
    table.mkdir(parents=True)
    start, end = dt.date(2015, 1, 1), dt.date(2023, 1, 1)
    pq.write_table(pa.table({"observation_period_id": pa.array([1], pa.int64()), "person_id": pa.array([1001], pa.int64()),
                             "observation_period_start_date": pa.array([start]),
                             "observation_period_end_date": pa.array([end])}), table / "part-00000.parquet")
    cols: dict[str, pa.Array] = {"observation_period_id": pa.array([2], pa.int64())}
    cols["person_id"] = pa.array(["1002"]) if second.get("person_id") == "string" else pa.array([1002], pa.int64())
    kind = second.get("observation_period_start_date", "date")
    cols["observation_period_start_date"] = (pa.array([dt.datetime(2016, 1, 1)], pa.timestamp("us"))
                                             if kind == "timestamp" else pa.array([start]))
    if column != "observation_period_end_date":
        cols["observation_period_end_date"] = pa.array([end])
    pq.write_table(pa.table(cols), table / "part-00001.parquet")

    omop = OmopInput(format="parquet", path=str(tmp_path / "omop"), data_cutoff_date=dt.date(2023, 7, 1))
    with pytest.raises(InputDataError) as e:
        read_omop_table(spark, omop, "observation_period").collect()
    line = str(e.value)
    assert e.value.exit_code == 3 and "\n" not in line, line
    assert "part-00001.parquet: OMOP table observation_period" in line and column in line and said in line, line
    assert "1002" not in without_paths(line, tmp_path)

    (table / "part-00001.parquet").unlink()  # one schema: read as before
    assert read_omop_table(spark, omop, "observation_period").count() == 1
