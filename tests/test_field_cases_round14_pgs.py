"""Field cases, round 14 (session 24): silent faults of real PGS inputs, each counted now.

- Multi-allelic matches: pgsc_calc's match summary says how many matches are at multi-allelic
  target variants (it leaves them out by default, ``--keep_multiallelic``); ours scored them
  (plink2's rule) and counted them nowhere. Now ``match_summary.n_matched_multiallelic`` and
  ``variant_matches.multiallelic`` (added columns; the old ones unchanged).
- Harmonised files: rows whose hm_chr/hm_pos disagree with chr_name/chr_position, or that the
  harmonisation left unplaced, were read by hm_chr/hm_pos silently; now counted in the notes, and
  a WARNING above ``pgs.harmonised_disagreement_warn``.
- A .bed's chromosome-0 rows (PLINK's unplaced code): the native route counted them
  (``notes.unplaced_variants``), Hail's route refused the fileset; now both count and skip them.
- Non-additive flag columns (is_haplotype, is_interaction, ...) in R's spelling (T) or another
  unknown value were read as false: the row summed as additive. Now one error at the line.
- VCF GT half-calls (0/., ./1): Hail reads them as missing calls (plink2 --vcf-half-call missing),
  uncounted. Now the matched records holding one are counted (tabix-indexed VCFs) and warned about.
"""

from __future__ import annotations

import pytest
from test_field_cases_pgs import CASES, case_config, plink2_fileset, split_like_bcftools, vcf_text

from trd_spark.pgs import stage

MULTI = "multiallelic-effect-is-ref"


@pytest.mark.parametrize("shape", ["vcf", "split_vcf", "pgen"])
def test_matches_at_multiallelic_sites_are_counted(hl, spark, tmp_path, shape):
    """The case's G>A,C... sites (two of each score's three variants are at a record with two
    alts; the third at a biallelic one): n_matched_multiallelic 2 per score, and the log flags
    exactly those variants, whether the VCF is read by Hail (whole or split as ``bcftools norm
    -m-`` writes it) or plink2's pgen by the native matcher. Before: no such column (KeyError)."""
    vcf = next((CASES / MULTI / "genotypes").iterdir())
    if shape == "split_vcf":
        vcf = tmp_path / "split.vcf"
        vcf.write_text(split_like_bcftools(vcf_text(MULTI)))
    path = plink2_fileset(vcf, tmp_path / "g", "pgen") if shape == "pgen" else str(vcf)
    cfg = case_config(tmp_path, path, f"{CASES / MULTI}/scores/*", fmt="pgen" if shape == "pgen" else "vcf")
    r = stage.match_dataset(hl, spark, cfg, "d", stage.load_scoring_files(spark, cfg, "GRCh38"))
    summary = r.summary.set_index("pgs_id")
    assert summary["n_matched"].tolist() == [3, 3]
    assert summary["n_matched_multiallelic"].tolist() == [2, 2]
    log = stage.variant_matches_pandas(r.frame, "d")
    flagged = sorted((p, int(pos)) for p, pos, m in zip(log["pgs_id"], log["pos"], log["multiallelic"]) if m)
    assert flagged == [("PGS910201", 1000000), ("PGS910201", 3000000),
                       ("PGS910202", 1000000), ("PGS910202", 3000000)]


HM_HEADER = ("#format_version=2.0\n#pgs_id=PGS990001\n#genome_build={build}\n#weight_type=beta\n#HmPOS_build=GRCh38\n"
             "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_source\thm_rsID\thm_chr\t"
             "hm_pos\thm_inferOtherAllele\n")
# Rows as the PGS Catalog's harmonised files have them: agreeing; the position corrected by the
# Catalog's rsID mapping; another chromosome; unmapped (hm_source, hm_chr, hm_pos empty); a
# chromosome written chr1 / 01 by the author (the same place).
HM_ROWS = ("rs1\t1\t1000\tA\tG\t0.1\tENSEMBL\trs1\t1\t1000\t\n"
           "rs2\t1\t2000\tC\tT\t0.1\tENSEMBL\trs2\t1\t2500\t\n"
           "rs3\t2\t3000\tG\tA\t0.1\tENSEMBL\trs3\t3\t3000\t\n"
           "rs4\t1\t4000\tT\tC\t0.1\t\t\t\t\t\n"
           "rs5\tchr1\t5000\tA\tC\t0.1\tENSEMBL\trs5\t1\t5000\t\n"
           "rs6\t01\t6000\tG\tC\t0.1\tENSEMBL\trs6\t1\t6000\t\n")


@pytest.mark.parametrize("build, differ", [("GRCh38", 2), ("GRCh37", 1)])
def test_harmonised_and_author_positions_that_disagree_are_counted(caplog, build, differ):
    """Read by hm_chr/hm_pos (the dataset's build is #HmPOS_build), the rows whose author
    place differs are counted (on one build: rs2's position and rs3's chromosome; on two builds
    only the chromosome, positions differ by design; chr1/01 are 1), the unmapped row too, each
    in the notes the manifest publishes, and a WARNING names the file when they are more than
    pgs.harmonised_disagreement_warn of the rows. Before: nothing counted, no note, no warning."""
    from trd_spark.pgs.scoring_files import parse_scoring_file

    text = HM_HEADER.format(build=build) + HM_ROWS
    with caplog.at_level("WARNING", logger="trd_spark.pgs.scoring_files"):
        sf = parse_scoring_file(text, source="hm.txt", harmonised_disagreement_warn=0.01)
    assert (sf.n_harmonised_differ, sf.n_harmonised_missing, sf.n_unplaced) == (differ, 1, 1)
    assert sf.variants["pos"].tolist()[:3] == [1000, 2500, 3000]  # the harmonised places are used
    notes = " ".join(sf.notes)
    rows = {1: "1 variant row's", 2: "2 variant rows'"}[differ]  # in agreement with the count
    assert f"{rows} hm_chr/hm_pos differ" in notes and "1 variant row has chr_name" in notes
    assert [r.message.split(":")[0] for r in caplog.records] == ["hm.txt"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="trd_spark.pgs.scoring_files"):
        parse_scoring_file(text, source="hm.txt", harmonised_disagreement_warn=0.9)
    assert not caplog.records


@pytest.mark.parametrize("engine", ["native", "hail"])
def test_chromosome_0_rows_of_a_bed_are_counted_the_same_on_both_routes(hl, spark, tmp_path, caplog, engine):
    """Round 12's fileset (3 chr1 variants, rows 2-3 moved to chromosome 0 in the .bim) matched
    by the stage's match_dataset on the native route (the .bim index) and on Hail's
    (``pgs.native.engine: hail``: import_plink): both keep the count (2) the manifest's
    notes.unplaced_variants takes, match chr1:1000 and leave chr1:2000 not found, and the WARNING
    names the .bim once. Before: Hail's route refused the fileset (chromosome '0' not in
    GRCh38)."""
    from test_field_cases_round12 import unplaced_fileset
    from test_field_cases_round13 import SCORE_HEADER

    prefix, _ = unplaced_fileset(tmp_path)
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "PGS913001.txt").write_text(SCORE_HEADER + "1\t1000\tG\tA\t0.5\n1\t2000\tT\tC\t0.25\n")
    cfg = case_config(tmp_path, prefix, f"{tmp_path}/scores/*", fmt="plink",
                      extra_pgs=f"  native: {{engine: {engine}}}")
    with caplog.at_level("WARNING", logger="trd_spark.pgs.pgen_engine"):
        r = stage.match_dataset(hl, spark, cfg, "d", stage.load_scoring_files(spark, cfg, "GRCh38"))
    assert r.unplaced_variants == 2
    assert r.summary[["n_variants", "n_matched", "n_not_found"]].values.tolist() == [[2, 1, 1]]
    assert [m for m in caplog.messages if "chromosome 0" in m] == [f"{prefix}.bim: 2 variant row(s) on chromosome 0 "
                                                                   "(PLINK's code for unplaced variants) cannot match a "
                                                                   "score: read, left unmatched (as plink2 reads them)"]
    if engine == "hail":  # the rows Hail reads: the placed one only
        assert r.mt is not None and r.mt.count_rows() == 1


FLAG_HEADER = ("#pgs_id=PGS990002\n#genome_build=GRCh38\n#weight_type=beta\n"
               "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\t{flag}\n")


@pytest.mark.parametrize("flag", ["is_haplotype", "is_interaction", "is_dominant"])
@pytest.mark.parametrize("value, outcome", [
    ("FALSE", "read"), ("F", "read"), ("0", "read"), ("", "read"), ("NA", "read"),
    ("TRUE", "non-additive"), ("T", "non-additive"), ("y", "non-additive"),
    ("maybe", "not a boolean"), ("2", "not a boolean"),
])
def test_non_additive_flags_are_read_in_every_boolean_spelling(flag, value, outcome):
    """A flag column's value in R's spelling (T) or any other not in the three we knew (true, 1,
    yes) was read as false: a haplotype / interaction / dominant row summed as an additive
    variant, silently. Now every usual true spelling is the non-additive error and a value that
    is no boolean one error naming its line. Before: 'T' and 'y' were read (no error)."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.scoring_files import parse_scoring_file

    text = FLAG_HEADER.format(flag=flag) + f"1\t100\tA\tG\t0.1\t{value}\n"
    if flag == "is_haplotype" and outcome == "non-additive":
        # A flagged row is left out as a haplotype's weight since session 35 (round 25): this file
        # of one such row has nothing left to score.
        with pytest.raises(InputDataError, match="f.txt:5: no variant row to score"):
            parse_scoring_file(text, source="f.txt")
    elif outcome == "read":
        assert parse_scoring_file(text, source="f.txt").variants["effect_weight"].tolist() == [0.1]
    elif flag == "is_dominant" and outcome == "non-additive":
        # A dominant row is scored with plink2's dominant model since session 36 (round 27).
        sf = parse_scoring_file(text, source="f.txt")
        assert sf.effect_types is not None and sf.effect_types.tolist() == [1]
    else:
        with pytest.raises(InputDataError, match=f"f.txt:5: column {flag}: {outcome}"):
            parse_scoring_file(text, source="f.txt")


HALF_CALLS = "vcf-half-calls-spanning-deletion"


@pytest.mark.parametrize("indexed", [True, False])
def test_half_calls_at_matched_vcf_records_are_counted(hl, spark, tmp_path, caplog, indexed):
    """The half-call case's VCF (chr4:1000000 holds 0/. and ./1; chr4:2000000 C>T,* and
    chr4:3000000 none), its score matching all three records: with a tabix index the stage's
    match counts 1 record (the manifest's notes.vcf_half_call_rows) and warns; without one it
    says it did not count (INFO) and keeps None. plink2's default (--vcf-half-call error) names
    the same record as the oracle. Before: not counted anywhere (no such field)."""
    import shutil
    import subprocess

    import pysam

    src = CASES / HALF_CALLS / "genotypes" / "data.vcf"
    refused = subprocess.run([shutil.which("plink2"), "--vcf", str(src), "--make-pgen", "--threads", "1", "--out",
                              str(tmp_path / "p")], capture_output=True, text=True)
    assert refused.returncode != 0 and "half-call" in refused.stdout + refused.stderr
    vcf = str(src)
    if indexed:
        vcf = pysam.tabix_index(shutil.copy(src, str(tmp_path / "data.vcf")), preset="vcf", force=True)
    cfg = case_config(tmp_path, vcf, f"{CASES / HALF_CALLS}/scores/*")
    with caplog.at_level("INFO", logger="trd_spark.pgs.stage"):
        r = stage.match_dataset(hl, spark, cfg, "d", stage.load_scoring_files(spark, cfg, "GRCh38"))
    assert r.summary["n_matched"].tolist() == [3]
    assert r.half_call_rows == (1 if indexed else None)
    assert stage.half_call_row_counts([r]) == ({"d": 1} if indexed else {})
    said = [m for m in caplog.messages if "half-call" in m]
    assert len(said) == 1 and ("1 matched VCF records hold GT half-calls" in said[0] if indexed
                               else "not counted" in said[0])
