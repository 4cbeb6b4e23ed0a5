"""PGS session 56 (helper pgsvds): ``pgs.reference_fasta`` left-aligns the genotype records near
the score's indels before the match (``reference_fasta.ReferenceFasta``, ``matching.left_aligned_rows``).

Without it a left-aligned score indel whose genotype record is written shifted right is counted
(``not_found_unnormalised``, session 55) and never scored; with it the record is left-aligned as
``bcftools norm -f`` writes it and the site scores. Oracle: plink2 ``--score`` on the same calls
written left-aligned by hand (plink2 2.00a3.5's own ``--fa --normalize`` wrote wrong REF alleles on
this file: benchmarks/RESULTS.md, session 56).

The FASTA (chr1, 7,000 bases, ``fasta_text``): 999 T, 1000 C, 1001-1006 AGAGAG, 1007 T; 2000 A,
2001-2003 TTT, 2004 G; 5000 C, 5001-5100 A (100), 5101 G; 6000 G, 6001-6101 T (101), 6102 C.
"""

from __future__ import annotations

import random
import shutil
import subprocess

import pandas as pd
import pytest

STRETCHES = {999: "TCAGAGAGTC", 2000: "ATTTG", 3000: "AG", 5000: "C" + "A" * 100 + "G", 6000: "G" + "T" * 101 + "C"}


def fasta_text() -> str:
    rng = random.Random(56)
    seq = [rng.choice("ACGT") for _ in range(7000)]
    for start, bases in STRETCHES.items():
        seq[start - 1:start - 1 + len(bases)] = list(bases)
    text = "".join(seq)
    return ">chr1 test\n" + "".join(text[i:i + 60] + "\n" for i in range(0, len(text), 60))


HEAD = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\n")
# (written as the file has it, left-aligned as bcftools norm -f writes it, the calls)
RECORDS = [
    ((1004, "GAG", "G"), (1000, "CAG", "C"), "0/1\t1/1\t0/0"),
    ((2002, "TT", "T,TTT"), (2000, "AT", "A,ATT"), "0/1\t0/2\t1/2"),
    ((3000, "A", "AC"), (3000, "A", "AC"), "0/1\t0/0\t1/1"),
    ((5100, "A", "AA"), (5000, "C", "CA"), "0/1\t0/0\t0/0"),
    ((6101, "T", "TT"), (6000, "G", "GT"), "0/0\t0/1\t1/1"),
]
# Score rows: (position, effect, other, weight, match type with the FASTA, without it)
ROWS = [
    (1000, "C", "CAG", 1.0, "ref_alt", "not_found_unnormalised"),
    (2000, "AT", "A", 0.5, "alt_ref", "not_found_unnormalised"),
    (1000, "CGA", "C", 0.25, "not_found", "not_found"),   # GA inserted: another variant, as the sequence says
    (3000, "AC", "A", 0.125, "ref_alt", "ref_alt"),
    (5000, "CA", "C", 2.0, "ref_alt", "not_found_unnormalised"),   # shifted 100 bases
    (6000, "G", "GT", 4.0, "alt_ref", "not_found"),                # shifted 101: past the window without it
]
SCORE = ("#pgs_id=PGS995602\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\t"
         "effect_weight\n" + "".join(f"1\t{p}\t{e}\t{o}\t{w}\n" for p, e, o, w, *_ in ROWS))


def vcf(left_aligned: bool) -> str:
    return HEAD + "".join(f"chr1\t{r[0]}\tv{i}\t{r[1]}\t{r[2]}\t.\tPASS\t.\tGT\t{gt}\n"
                          for i, (written, norm, gt) in enumerate(RECORDS) for r in [norm if left_aligned else written])


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "ref.fa"
    path.write_text(fasta_text())
    return str(path)


def test_left_align_as_bcftools_norm(fasta):
    """``ReferenceFasta.left_align`` moves each written record to the hand-written left-aligned
    one (a multi-allelic record as one), leaves a left-aligned one alone, and reads a repeat's
    extent; a REF that is not the FASTA's, a contig or a position it lacks is one InputDataError
    naming the FASTA, the genotypes and the record. Before this commit there was no such module."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.reference_fasta import ReferenceFasta

    ref = ReferenceFasta.open(fasta, "genotypes (vcf) d.vcf")
    for (p, r, a), (q, s, b), _ in RECORDS:
        assert ref.left_align("chr1", p, [r, *a.split(",")]) == (q, [s, *b.split(",")])
    assert [ref.shift_extent("chr1", 1000, "AG"), ref.shift_extent("chr1", 5000, "A"),
            ref.shift_extent("chr1", 6000, "T"), ref.shift_extent("chr1", 1000, "GA")] == [6, 100, 101, 0]
    for contig, pos, alleles, says in [("chr1", 1004, ["GTG", "G"], "its REF is not"),
                                       ("chr2", 1004, ["GAG", "G"], "has no sequence chr2"),
                                       ("chr1", 6999, ["ACGT", "A"], "has 7000 bases")]:
        with pytest.raises(InputDataError) as e:
            ref.left_align(contig, pos, alleles)
        text = str(e.value)
        assert says in text and fasta in text and "d.vcf" in text and f"{contig}:{pos} " in text, text


def test_rows_left_aligned_before_the_match(hl, fasta):
    """On the rows a Hail route collects (the VCF's records split as ``genotype_rows_at`` splits
    them) the match without the FASTA counts the shifted records (``not_found_unnormalised``; 6000,
    shifted 101 bases, plain ``not_found``) and with it (``left_aligned_rows``, the windows from the
    FASTA) matches them: four records moved, the multi-allelic one as one record (its rows' file
    record now 2000 AT>A,ATT), the rows in the same order. Before this commit neither function
    took a FASTA."""
    import json

    from test_pgs_vds_shift_s56 import sites_frame

    from trd_spark.pgs.matching import ShiftWindows, left_aligned_rows, match_sites_frame, split_file_rows
    from trd_spark.pgs.reference_fasta import ReferenceFasta

    rg = hl.get_reference("GRCh38")
    written = pd.DataFrame({"contig": "chr1", "position": [w[0] for w, _, _ in RECORDS],
                            "alleles_json": [json.dumps([w[1], *w[2].split(",")]) for w, _, _ in RECORDS]})
    rows = split_file_rows(written, rg.contigs)
    sites = sites_frame([r[:4] for r in ROWS])
    without = match_sites_frame(sites, rows, keep_ambiguous=False)["match_type"].tolist()
    assert without == [r[5] for r in ROWS]
    ref = ReferenceFasta.open(fasta, "d.vcf")
    near = ShiftWindows.of(hl, sites, "GRCh38", ref)
    seen, moved = left_aligned_rows(rows, ref, near, rg.global_positions_dict)
    assert moved == 4 and len(seen) == len(rows)
    assert (seen["position"] != rows["position"]).sum() == 5  # 3000's row is left alone
    multi = seen[rows["site_position"].to_numpy() == 2002]
    assert set(zip(multi["site_position"], multi["site_ref"], multi["site_alt"])) == {(2000, "AT", "A"),
                                                                                       (2000, "AT", "ATT")}
    got = match_sites_frame(sites, seen, keep_ambiguous=False, left_aligned=True)["match_type"].tolist()
    assert got == [r[4] for r in ROWS]


def test_missing_fasta_is_one_error(tmp_path):
    """A path that is no FASTA: one InputDataError naming the key (no such module before)."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.reference_fasta import ReferenceFasta

    with pytest.raises(InputDataError, match="pgs.reference_fasta"):
        ReferenceFasta.open(str(tmp_path / "none.fa"), "d")


def plink2_sums(tmp_path) -> dict[int, float]:
    """plink2 --score of the matched rows on the hand-left-aligned VCF (IDs chrom:pos)."""
    (tmp_path / "norm.vcf").write_text(vcf(True))
    rows = [r for r in ROWS if r[4] != "not_found"]
    (tmp_path / "p2.tsv").write_text("ID\tA1\tW\n" + "".join(f"1:{p}\t{e}\t{w}\n" for p, e, _, w, *_ in rows))
    subprocess.run(["plink2", "--vcf", str(tmp_path / "norm.vcf"), "--set-all-var-ids", "@:#", "--score",
                    str(tmp_path / "p2.tsv"), "1", "2", "3", "header-read", "cols=+scoresums", "no-mean-imputation",
                    "--threads", "1", "--out", str(tmp_path / "p2")], check=True, capture_output=True)
    out = pd.read_csv(tmp_path / "p2.sscore", sep="\t").rename(columns={"#IID": "IID"})
    return {int(i): float(s) for i, s in zip(out["IID"], out["W_SUM"], strict=True)}


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 is the oracle")
def test_fasta_scores_shifted_records_as_plink2_on_the_normalised_file(hl, spark, tmp_path, fasta):
    """The stage with ``pgs.reference_fasta`` on the VCF (Hail's rows, the shifted ones collected
    in the FASTA's windows) and on its .pgen (plink2 keeps the records as written; the native
    variant list): every score indel whose record is written shifted right is matched, 6000's
    shifted 101 bases too, and the sums equal plink2's on the hand-left-aligned VCF. Before this
    commit the config key did not exist (without it: 3 not_found_unnormalised, 6000 not_found)."""
    from test_field_cases_pgs import case_config, published_frame

    from trd_spark.pgs import stage

    want = plink2_sums(tmp_path)
    assert sorted(want) == [1001, 1002, 1003]
    (tmp_path / "d.vcf").write_text(vcf(False))
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "PGS995602.txt").write_text(SCORE)
    subprocess.run(["plink2", "--vcf", str(tmp_path / "d.vcf"), "--make-pgen", "--threads", "1", "--out",
                    str(tmp_path / "g")], check=True, capture_output=True)
    for name, fmt, path in (("vcf", "vcf", tmp_path / "d.vcf"), ("pgen", "pgen", tmp_path / "g")):
        run = tmp_path / f"run_{name}"
        run.mkdir()
        cfg = case_config(run, str(path), f"{tmp_path}/scores/*.txt", fmt=fmt,
                          extra_pgs=f"  reference_fasta: {fasta}\n  missing_genotypes: zero\n")
        files = stage.load_scoring_files(spark, cfg, "GRCh38")
        r = stage.match_dataset(hl, spark, cfg, "d", files)
        sites = r.frame.sites
        got = dict(zip(zip(sites["pos"].astype(int), sites["effect_allele"]), sites["match_type"]))
        assert got == {(p, e): t for p, e, _, _, t, _ in ROWS}, name
        scores = published_frame(stage.scores_of_dataset(hl, spark, cfg, r))
        assert len(scores) == 3, name
        for row in scores.itertuples():
            assert row.score_sum == pytest.approx(want[int(row.person_id)], abs=1e-6), (name, row.person_id)


def test_fasta_is_a_pgs_input_by_content(tmp_path, fasta):
    """``pgs.reference_fasta`` is an input of the pgs stage, fingerprinted by content (the same
    FASTA elsewhere reruns nothing; an edited one reruns pgs), its path out of the config slices
    (the report's too). Before this commit the key did not exist."""
    from test_field_cases_pgs import case_config

    from trd_spark.io import LocalFs
    from trd_spark.stages import STAGE_SPECS, config_slice, fingerprint_parts

    cfg = case_config(tmp_path, str(tmp_path / "d.vcf"), f"{tmp_path}/s/*.txt", extra_pgs=f"  reference_fasta: {fasta}\n")
    got = fingerprint_parts(cfg, STAGE_SPECS["pgs"], LocalFs())["inputs"]["pgs.reference_fasta"]
    assert got["exists"] and got["files"] == 1
    assert fasta not in str(config_slice(cfg, STAGE_SPECS["pgs"])) and fasta not in str(config_slice(cfg, STAGE_SPECS["report"]))
