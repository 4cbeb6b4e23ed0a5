"""PGS field cases, round 17 (session 27, hunt_pgs): new shapes of the known kinds.

- BGEN sample identity: a BGEN that embeds its sample IDs and has an Oxford ``.sample`` beside it
  that lists them in another order (or another release's samples). The embedded IDs were taken
  without a look at the .sample, while plink2 ``--sample`` and Hail's ``sample_file=`` take the
  .sample's: one of the two puts every score on another person, silently. Now one error naming
  both files and the first sample number that differs; plink2's own output (embedded ``IID``, or
  ``FID_IID`` when the samples have a FID, beside a .sample holding them apart) still reads.
- chrX mean imputation in a mixed-sex sample set: a missing call on X (outside its
  pseudo-autosomal regions) was imputed with the mean dosage over the called samples, a male's
  haploid call counting as 2 copies of 2; plink2 --score (its --freq, with the samples' sex)
  counts a male's call as one allele observation: 2 x 5/7 = 1.4286 where the mean gave 1.4. Now
  the frequency takes the males from the .fam/.psam sex (bed/pgen, as plink2 reads them) or,
  for VCF/MatrixTable/VDS (no sex), from haploid calls on X at the scored rows, on every route
  (native, export, Hail's pass).
- A genotype filter (FT) that failed: an All of Us srWGS VDS (GVS) keeps its VETS-filtered calls
  with FT False (a GVS VCF writes the filter name in FORMAT/FT); GVS recommends them as no-calls
  (its AC/AN follow that), the reader took them as called. Now a missing genotype, in every format
  that carries FT (VCF, MatrixTable, VDS), imputed and counted in n_missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from trd_spark.errors import InputDataError

_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003
chr1\t1000\trs1\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0
chr1\t2000\trs2\tC\tT\t.\tPASS\t.\tGT\t0/0\t0/1\t1/1
"""


def _plink2(*args: str) -> None:
    subprocess.run([shutil.which("plink2") or "plink2", *args, "--threads", "1"], check=True, capture_output=True)


def _bgen(tmp: Path, *, fid: bool) -> Path:
    """plink2's BGEN (8-bit, ref-first) of ``_VCF``, with its .sample; FIDs F1001.. when ``fid``."""
    (tmp / "d.vcf").write_text(_VCF)
    _plink2("--vcf", str(tmp / "d.vcf"), "--make-pgen", "--out", str(tmp / "g"))
    if fid:
        (tmp / "g.psam").write_text("#FID\tIID\n" + "".join(f"F{i}\t{i}\n" for i in (1001, 1002, 1003)))
    _plink2("--pfile", str(tmp / "g"), "--export", "bgen-1.2", "bits=8", "ref-first", "--out", str(tmp / "b"))
    return tmp / "b.bgen"


@pytest.mark.parametrize("fid", [False, True], ids=["iid", "fid-iid"])
def test_bgen_embedded_ids_and_a_reordered_sample_file_are_one_error(tmp_path, fid):
    """plink2 embeds IID (FID_IID with a FID) and writes ID_1 = FID, ID_2 = IID in the .sample:
    they agree and the embedded IDs are read. The same .sample with two samples swapped (or from
    another release) is one InputDataError naming the BGEN, the .sample and sample #2, no ID.
    Before: the embedded IDs, silently (plink2 --sample / Hail sample_file= read the .sample)."""
    from trd_spark.pgs.bgen_reader import BgenFiles, sample_ids

    path = _bgen(tmp_path, fid=fid)
    files = BgenFiles.open(str(path))
    want = [f"F{i}_{i}" if fid else str(i) for i in (1001, 1002, 1003)]
    assert files.embedded_ids == tuple(want)
    assert sample_ids(files) == want
    lines = (tmp_path / "b.sample").read_text().splitlines()
    (tmp_path / "b.sample").write_text("\n".join([*lines[:3], lines[4], lines[3], *lines[5:]]) + "\n")
    with pytest.raises(InputDataError) as e:
        sample_ids(files)
    message = str(e.value)
    assert f"{path}:" in message and "from sample #2 on" in message and str(tmp_path / "b.sample") in message
    assert not any(i in message for i in ("1001", "1002", "1003"))


# Males 1001, 1002, 1003, 1007 (haploid X calls; 1003's is missing), females 1004-1006.
# chrX:3000000 (non-PAR) A>G: 1 0 . | 0/1 ./. 1/1 | 1 -> G frequency 5/7 with males haploid
# (plink2 --freq with the sex), so 1003 and 1005 are imputed 2 x 5/7 G copies (the mean over
# samples gave 7/5). chrX:1000000 (PAR1) C>T is diploid for everyone: its plain mean 2 x 5/10.
_X_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
##contig=<ID=chrX,length=156040895>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\t1004\t1005\t1006\t1007
chr1\t1000\trs1\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\t0/1\t./.\t1/1\t0/0
chrX\t1000000\trs2\tC\tT\t.\tPASS\t.\tGT\t0/1\t1/1\t./.\t0/0\t./.\t0/1\t0/1
chrX\t3000000\trs3\tA\tG\t.\tPASS\t.\tGT\t1\t0\t.\t0/1\t./.\t1/1\t1
"""
_X_SCORE = ("#pgs_id=PGS991701\n#genome_build=GRCh38\n"
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
            "1\t1000\tG\tA\t1.0\nX\t1000000\tT\tC\t0.5\nX\t3000000\tG\tA\t1.0\n")


@pytest.fixture(scope="module")
def x_case(tmp_path_factory):
    """The VCF, its pgen (sex from a .psam, PAR split as plink2 --split-par hg38 does) and .bed,
    the scoring file, and plink2 --score's sums on the pgen (--read-freq of its own --freq)."""
    tmp = tmp_path_factory.mktemp("x")
    (tmp / "d.vcf").write_text(_X_VCF)
    (tmp / "sex.txt").write_text("#IID\tSEX\n" + "".join(f"{i}\t{1 if i in (1001, 1002, 1003, 1007) else 2}\n"
                                                        for i in range(1001, 1008)))
    _plink2("--vcf", str(tmp / "d.vcf"), "--update-sex", str(tmp / "sex.txt"), "--split-par", "hg38",
            "--make-pgen", "--out", str(tmp / "g"))
    _plink2("--pfile", str(tmp / "g"), "--make-bed", "--out", str(tmp / "g"))
    _plink2("--pfile", str(tmp / "g"), "--freq", "--out", str(tmp / "f"))
    (tmp / "w.tsv").write_text("ID\tA1\tW\nrs1\tG\t1.0\nrs2\tT\t0.5\nrs3\tG\t1.0\n")
    _plink2("--pfile", str(tmp / "g"), "--read-freq", str(tmp / "f.afreq"), "--score", str(tmp / "w.tsv"), "1", "2",
            "3", "header-read", "cols=+scoresums", "--out", str(tmp / "s"))
    with open(tmp / "s.sscore") as f:
        plink2 = {int(r[0]): float(r[-1]) for r in (line.split() for line in f) if not r[0].startswith("#")}
    (tmp / "score.txt").write_text(_X_SCORE)
    return tmp, plink2


@pytest.mark.parametrize("shape", ["pgen-summed-in-spark", "vcf", "vcf-hail-pass", "bed-hail-pass"])
def test_chrx_missing_calls_are_imputed_with_males_counted_haploid(hl, spark, tmp_path, x_case, shape):
    """plink2 --score with the samples' sex (x_case): 1003 and 1005 get 2 x 5/7 G copies at
    chrX:3000000 (2 x 5/10 T copies x 0.5 at the PAR row, diploid for everyone). Every route
    gives them: the native engine on the pgen (.psam SEX) and on the .bed Hail reads (.fam sex),
    the VCF exported for the native engine and scored by Hail's pass (males: haploid X calls).
    The pgen's partials are summed in Spark (driver_sum_mb 0), so its tasks get their rows and
    the males in their pickles, as on a cluster; the VCF's export is scored by tasks mapping them
    from local files (a local master's driver sum).
    Before: 1.4 for rs3 on every route (a male's haploid 1 read as 2 copies of 2)."""
    from test_field_cases_pgs import case_config, run_scores

    tmp, plink2 = x_case
    path, fmt = {"pgen-summed-in-spark": (tmp / "g", "pgen"),
                 "bed-hail-pass": (tmp / "g", "plink")}.get(shape, (tmp / "d.vcf", "vcf"))
    extra = {"vcf-hail-pass": "  native: {engine: hail}", "bed-hail-pass": "  native: {engine: hail}",
             "pgen-summed-in-spark": "  native: {driver_sum_mb: 0}"}.get(shape, "")
    got = run_scores(hl, spark, case_config(tmp_path, str(path), str(tmp / "score.txt"), fmt=fmt, extra_pgs=extra))
    sums = dict(zip(got["person_id"].astype(int), got["score_sum"], strict=True))
    assert sums == pytest.approx(plink2, abs=1e-5)  # plink2 prints 6 significant digits
    assert sums[1003] == pytest.approx(0.0 + 0.5 * 2 * 0.5 + 2 * 5 / 7, abs=1e-12)
    assert sums[1005] == pytest.approx(1.0 * 2 * 0.5 + 0.5 * 2 * 0.5 + 2 * 5 / 7, abs=1e-12)


# chr1:1000 A>G: 1001 0/1 PASS, 1002 1/1 failing its genotype filter (GVS's VETS tag), 1003 0/0
# with no filter applied ('.'), 1004 0/1 PASS; chr1:2000 C>T has no FT at all.
_FT_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=FT,Number=1,Type=String,Description="Genotype filter">
##contig=<ID=chr1,length=248956422>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\t1004
chr1\t1000\trs1\tA\tG\t.\tPASS\t.\tGT:FT\t0/1:PASS\t1/1:high_CALIBRATION_SENSITIVITY_SNP\t0/0:.\t0/1:PASS
chr1\t2000\trs2\tC\tT\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\t0/0
"""
_FT_SCORE = ("#pgs_id=PGS991702\n#genome_build=GRCh38\n"
             "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
             "1\t1000\tG\tA\t1.0\n1\t2000\tT\tC\t0.5\n")


def _write_ft_vds(hl, path: str) -> None:
    """_FT_VCF as an All of Us (GVS) VariantDataset: LGT/LA, FT a bool (True = PASS) in the
    variant data; hom-ref calls as reference blocks (1003 at 1000, 1002 and 1004 at 2000)."""
    locus = hl.tlocus("GRCh38")
    var = [(1000, "1001", [0, 1], True), (1000, "1002", [1, 1], False), (1000, "1004", [0, 1], True),
           (2000, "1001", [0, 1], True), (2000, "1003", [1, 1], True)]
    var_rows = [{"locus": hl.Locus("chr1", pos, "GRCh38"), "alleles": ["A", "G"] if pos == 1000 else ["C", "T"],
                 "s": s, "LGT": hl.Call(gt), "LA": [0, 1], "FT": ft} for pos, s, gt, ft in var]
    blocks = {"1001": [(100, 100)], "1002": [(100, 100), (1500, 2500)], "1003": [(900, 1100)],
              "1004": [(100, 100), (1500, 2500)]}
    ref_rows = [{"locus": hl.Locus("chr1", a, "GRCh38"), "s": s, "END": b} for s, bs in blocks.items() for a, b in bs]
    v = hl.Table.parallelize(var_rows, hl.tstruct(locus=locus, alleles=hl.tarray(hl.tstr), s=hl.tstr, LGT=hl.tcall,
                                                  LA=hl.tarray(hl.tint32), FT=hl.tbool))
    r = hl.Table.parallelize(ref_rows, hl.tstruct(locus=locus, s=hl.tstr, END=hl.tint32))
    ref_mt = r.to_matrix_table(row_key=["locus"], col_key=["s"])
    ref_mt = ref_mt.annotate_rows(ref_allele="N")
    hl.vds.VariantDataset(ref_mt, v.to_matrix_table(row_key=["locus", "alleles"], col_key=["s"])).write(path)


@pytest.mark.parametrize("shape", ["vcf", "vds"])
def test_a_call_failing_its_genotype_filter_is_a_missing_genotype(hl, spark, tmp_path, shape):
    """1002's 1/1 at chr1:1000 failed FT: a missing genotype, imputed with the mean of the other
    calls (1 + 0 + 1) / 3 G copies and counted in n_missing; a missing FT (no filter, a reference
    block, a record without FT) passes. Hand: 1001 1 + 0.5, 1002 2/3 + 0, 1003 0 + 1, 1004 1 + 0.
    GVS (All of Us srWGS) recommends it (bcftools filter -i "FORMAT/FT='PASS,.'" --set-GTs .).
    Before: 1002 scored 2 (the failed call read as called), n_missing 0."""
    from test_field_cases_pgs import case_config, run_scores

    (tmp_path / "score.txt").write_text(_FT_SCORE)
    if shape == "vcf":
        path = tmp_path / "d.vcf"
        path.write_text(_FT_VCF)
    else:
        path = tmp_path / "g.vds"
        _write_ft_vds(hl, str(path))
    got = run_scores(hl, spark, case_config(tmp_path, str(path), str(tmp_path / "score.txt"), fmt=shape))
    got = got.set_index(got["person_id"].astype(int))
    assert got["score_sum"].to_dict() == pytest.approx({1001: 1.5, 1002: 2 / 3, 1003: 1.0, 1004: 1.0}, abs=1e-12)
    assert got["n_missing"].to_dict() == {1001: 0, 1002: 1, 1003: 0, 1004: 0}


def test_the_genotype_filter_can_be_ignored_as_plink2_ignores_it(hl, spark, tmp_path):
    """pgs.apply_genotype_filter false: FT is not read, so 1002's failed 1/1 counts as called,
    as plink2 (which reads no FT) scores the same VCF. Hand: 1001 1 + 0.5, 1002 2 + 0, 1003
    0 + 1, 1004 1 + 0; no missing call. Checked against plink2 --score on this VCF too."""
    import shutil
    import subprocess

    from test_field_cases_pgs import case_config, run_scores

    (tmp_path / "score.txt").write_text(_FT_SCORE)
    (tmp_path / "d.vcf").write_text(_FT_VCF)
    cfg = case_config(tmp_path, str(tmp_path / "d.vcf"), str(tmp_path / "score.txt"),
                      extra_pgs="  apply_genotype_filter: false")
    got = run_scores(hl, spark, cfg)
    got = got.set_index(got["person_id"].astype(int))
    hand = {1001: 1.5, 1002: 2.0, 1003: 1.0, 1004: 1.0}
    assert got["score_sum"].to_dict() == pytest.approx(hand, abs=1e-12)
    assert got["n_missing"].to_dict() == {1001: 0, 1002: 0, 1003: 0, 1004: 0}
    plink2 = shutil.which("plink2")
    assert plink2, "plink2 is the oracle (apt-get install plink2)"
    rows = [ln.split("\t") for ln in _FT_SCORE.splitlines() if ln and not ln.startswith("#")]
    head = rows[0]
    col = {name: i for i, name in enumerate(head)}
    with open(tmp_path / "p2.score", "w") as out:
        for r in rows[1:]:
            out.write(f"{r[col['chr_name']]}:{r[col['chr_position']]}\t{r[col['effect_allele']]}\t{r[col['effect_weight']]}\n")
    subprocess.run([plink2, "--vcf", str(tmp_path / "d.vcf"), "--set-all-var-ids", "@:#", "--new-id-max-allele-len",
                    "1000", "--score", str(tmp_path / "p2.score"), "cols=+scoresums", "no-mean-imputation",
                    "--out", str(tmp_path / "p2")], check=True, capture_output=True)
    lines = (tmp_path / "p2.sscore").read_text().splitlines()
    sums = {int(ln.split()[0].split("_")[-1]): float(ln.split()[-1]) for ln in lines[1:]}
    assert sums == pytest.approx(hand, abs=1e-6)


@pytest.mark.parametrize("ft_type", ["string", "array"])
def test_a_genotype_filter_passes_as_pass_dot_or_missing_in_either_ft_type(hl, ft_type):
    """FT as a MatrixTable may hold it: a string (a VCF's Number=1 FT) or an array of strings
    (Number=.), with '.' written out (an MT built by another tool: Hail's import_vcf reads a
    VCF's '.' as missing, so the VCF case above passes it as a missing FT and a '.' that failed
    went unseen). Per sample: PASS, '.' and a missing FT pass; LowGQ fails; an array passes
    when every filter does (['PASS', 'LowGQ'] fails). Failed: GT missing."""
    from trd_spark.pgs.genotypes import without_failed_genotypes

    values = [["PASS"], ["."], None, ["LowGQ"], [".", "PASS"], ["PASS", "LowGQ"]]
    if ft_type == "string":
        values = [None if v is None else v[0] for v in values[:4]]
    mt = hl.utils.range_matrix_table(1, len(values))
    mt = mt.annotate_entries(GT=hl.call(0, 1), FT=hl.literal(values)[mt.col_idx])
    got = without_failed_genotypes(hl, mt, None, "t").GT.collect()
    assert [g is not None for g in got] == [True, True, True, False, True, False][:len(values)]
