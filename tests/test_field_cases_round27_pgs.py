"""PGS field cases, round 27 (session 36, helper pgs27).

- Scoring-file rows flagged ``is_dominant`` / ``is_recessive``: until now one error at the row
  (every engine summed weight x dosage). pgsc_calc scores such rows: its matcher splits a scoring
  file by effect type and runs plink2 ``--score`` with the ``dominant`` / ``recessive`` modifier
  on each part (pgsc_calc modules/local/plink2_score.nf), and the sums are added. plink2's models
  (2.00a3.5, checked here; plink2_matrix_calc.cc): dominant min(dosage, 1), recessive
  max(dosage - 1, 0) of the effect allele, and a missing call, mean-imputed, adds w x the effect
  allele's frequency (not 2 x, as the additive model: half the additive imputed dosage), 0 with
  ``no-mean-imputation``; ALLELE_CT and DENOM count as for additive rows. Now every engine scores
  them so (``matching.weight_matrices``' dominant / recessive matrices): the native engine on
  .bed and .pgen, a VCF's hard calls exported for it, and Hail's pass (``pgs.native.engine:
  hail`` on the .bed; session 36 fixesB: the native engine over a MatrixTable's entry parts and
  over BGEN expected dosages). Each equals plink2 run on the files split by effect type, summed, to
  plink2's printed precision (mean imputation; ``no-mean-imputation`` on the .pgen). A row flagged
  both is one error (as pgscatalog-core's effect_type); a dominant row matched on chrY/chrM, or on
  chrX outside its PARs, is one error (plink2 2.00a3.5 refuses the modifiers on haploid
  chromosomes, X included; a PAR row is scored as plink2 scores it).

The toy genotypes are written here (6 samples, 5 chr1 SNVs with missing calls), the .bed and
.pgen by plink2 from the VCF.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from test_field_cases_pgs import case_config, plink2_fileset, run_scores
from test_field_cases_round17_pgs import x_case  # noqa: F401  (round 17's chrX case, a module fixture reused)

from trd_spark.errors import InputDataError
from trd_spark.pgs.scoring_files import parse_scoring_file

SAMPLES = (1001, 1002, 1003, 1004, 1005, 1006)
# chr1 SNVs: (position, REF, ALT, calls); a missing call at each weighted site.
GENOTYPES = [
    (100, "C", "T", "0/0 0/1 1/1 ./. 0/1 1/1"),
    (200, "G", "A", "0/1 1/1 0/0 0/1 ./. 0/0"),
    (300, "T", "C", "1/1 0/1 0/0 0/0 0/1 ./."),
    (400, "A", "G", "0/0 0/1 1/1 1/1 ./. 0/0"),
    (500, "T", "G", "0/1 ./. 1/1 0/0 0/1 1/1"),
]
# Per score: (position, effect, other, weight, effect type). Both ALT and REF effect alleles in
# each model; site 100 is additive in one score and dominant in the other (one genotype row,
# two models), site 300 recessive and additive.
SCORES = {
    "PGS992701": [(100, "T", "C", 0.5, "additive"), (200, "G", "A", 0.3, "dominant"),
                  (300, "C", "T", -0.7, "recessive"), (400, "A", "G", 0.2, "recessive"),
                  (500, "G", "T", 0.15, "dominant")],
    "PGS992702": [(100, "T", "C", 0.4, "dominant"), (300, "C", "T", 0.25, "additive"),
                  (500, "T", "G", -0.6, "recessive")],
}


def _plink2(*args: str) -> None:
    subprocess.run([shutil.which("plink2") or "plink2", *args, "--threads", "1"], check=True, capture_output=True)


def _scoring_file(pgs_id: str, rows) -> str:
    flag = {"additive": "\t", "dominant": "TRUE\t", "recessive": "\tTRUE"}
    return (f"#pgs_id={pgs_id}\n#genome_build=GRCh38\n"
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tis_dominant\tis_recessive\n"
            + "".join(f"1\t{p}\t{e}\t{o}\t{w}\t{flag[t]}\n" for p, e, o, w, t in rows))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The VCF, its .bed and .pgen (plink2), the scoring files, and plink2's sums per
    (imputation, score, person): ``plink2 --vcf --read-freq --score part 1 2 3 header-read
    cols=+scoresums [dominant|recessive] [no-mean-imputation]`` on each effect type's part,
    summed (plink2 imputes from < 50 samples only with --read-freq of its own --freq)."""
    tmp = tmp_path_factory.mktemp("domrec")
    (tmp / "d.vcf").write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(map(str, SAMPLES)) + "\n"
        + "".join(f"chr1\t{p}\tchr1:{p}\t{r}\t{a}\t.\tPASS\t.\tGT\t" + "\t".join(c.split()) + "\n"
                  for p, r, a, c in GENOTYPES))
    bed = plink2_fileset(tmp / "d.vcf", tmp / "b", "plink")
    pgen = plink2_fileset(tmp / "d.vcf", tmp / "p", "pgen")
    (tmp / "scores").mkdir()
    for pgs_id, rows in SCORES.items():
        (tmp / "scores" / f"{pgs_id}.txt").write_text(_scoring_file(pgs_id, rows))
    _plink2("--vcf", str(tmp / "d.vcf"), "--freq", "--out", str(tmp / "f"))
    sums: dict[tuple[str, str, int], float] = {}
    for missing, extra in (("mean_impute", []), ("zero", ["no-mean-imputation"])):
        for pgs_id, rows in SCORES.items():
            for model in ("additive", "dominant", "recessive"):
                part = [r for r in rows if r[4] == model]
                if not part:
                    continue
                name = f"{pgs_id}_{model}_{missing}"
                (tmp / f"{name}.tsv").write_text("ID\tA1\tW\n" + "".join(f"chr1:{p}\t{e}\t{w}\n"
                                                                         for p, e, _, w, _ in part))
                _plink2("--vcf", str(tmp / "d.vcf"), "--read-freq", str(tmp / "f.afreq"), "--score",
                        str(tmp / f"{name}.tsv"), "1", "2", "3", "header-read", "cols=+scoresums",
                        *([] if model == "additive" else [model]), *extra, "--out", str(tmp / name))
                out = pd.read_csv(tmp / f"{name}.sscore", sep="\t").rename(columns={"#IID": "IID"})
                for person, value in zip(out["IID"], out["W_SUM"]):
                    key = (missing, pgs_id, int(person))
                    sums[key] = sums.get(key, 0.0) + float(value)
    return tmp, bed, pgen, sums


@pytest.mark.parametrize("shape, missing", [
    ("bed", "mean_impute"), ("pgen", "zero"), ("vcf", "mean_impute"), ("bed-hail", "mean_impute"),
    ("mt", "mean_impute"), ("bgen", "mean_impute"),
])
def test_dominant_and_recessive_rows_score_as_plink2(hl, spark, tmp_path, toy, shape, missing):
    """Every engine's sums equal plink2's on the split files (summed) to its printed precision;
    n_matched and n_missing as for additive rows (PGS992701: 5 matched, PGS992702: 3). Before:
    one InputDataError at the first flagged row ('non-additive variants are not supported')."""
    tmp, bed, pgen, sums = toy
    fmt, path = {"bed": ("plink", bed), "pgen": ("pgen", pgen), "vcf": ("vcf", str(tmp / "d.vcf")),
                 "bed-hail": ("plink", bed), "mt": ("mt", str(tmp_path / "d.mt")),
                 "bgen": ("bgen", str(tmp_path / "d.bgen"))}[shape]
    if shape == "bgen":
        # BGEN expected dosages (the native engine's BGEN reader): the hard calls as probabilities,
        # a missing call missing, so plink2's sums on the VCF stay the oracle.
        mt = hl.import_vcf(str(tmp / "d.vcf"), reference_genome="GRCh38")
        gp = hl.range(3).map(lambda i: hl.float64(hl.unphased_diploid_gt_index_call(i) == mt.GT))
        hl.export_bgen(mt.annotate_entries(GP=hl.or_missing(hl.is_defined(mt.GT), gp)), str(tmp_path / "d"))
    if shape == "mt":
        # The hail-mt route (native engine over the MatrixTable's entry parts, ``mt_entries``):
        # its own reader and row placement, in two parts so that rows come from both.
        mt = hl.import_vcf(str(tmp / "d.vcf"), reference_genome="GRCh38")
        mt.repartition(2).write(path)
        assert hl.read_matrix_table(path).n_partitions() == 2
    extra_pgs = f"  missing_genotypes: {missing}\n" + ("  native: {engine: hail}\n" if shape == "bed-hail" else "")
    cfg = case_config(tmp_path, path, f"{tmp}/scores/*", fmt=fmt, extra_pgs=extra_pgs)
    got = run_scores(hl, spark, cfg)
    assert len(got) == len(SAMPLES) * len(SCORES)
    for r in got.itertuples(index=False):
        assert r.score_sum == pytest.approx(sums[(missing, r.pgs_id, int(r.person_id))], abs=1e-5), \
            (r.pgs_id, r.person_id)
        assert r.n_matched == len(SCORES[r.pgs_id])
    missing_of = {(r.pgs_id, int(r.person_id)): r.n_missing for r in got.itertuples(index=False)}
    assert missing_of[("PGS992701", 1004)] == 1 and missing_of[("PGS992702", 1002)] == 1


def test_the_dominant_model_is_not_the_additive_one(toy):
    """The oracle itself tells the models apart (else the test above could pass on additive
    sums): plink2's dominant and recessive parts differ from their additive sums."""
    tmp, _, _, sums = toy
    additive = pd.read_csv(tmp / "PGS992701_additive_mean_impute.sscore", sep="\t")
    assert sums[("mean_impute", "PGS992701", 1003)] != pytest.approx(float(additive["W_SUM"].iloc[2]) + 0.0, abs=1e-6)
    # 1004's missing call at 100 (T frequency 0.6) in PGS992702's dominant part: 0.4 x 0.6, not 0.4 x 1.2.
    dominant = pd.read_csv(tmp / "PGS992702_dominant_mean_impute.sscore", sep="\t").set_index("#IID")
    assert float(dominant.loc[1004, "W_SUM"]) == pytest.approx(0.24, abs=1e-6)


def test_the_parse_counts_rows_per_effect_type():
    """A note counts the rows per effect type; ``effect_types`` holds each row's code."""
    sf = parse_scoring_file(_scoring_file("PGS992701", SCORES["PGS992701"]), source="s.txt")
    assert sf.effect_types is not None and sf.effect_types.tolist() == [0, 1, 2, 2, 1]
    assert any(n.startswith("variant rows by effect type: 1 additive, 2 dominant, 2 recessive;") for n in sf.notes)
    additive = parse_scoring_file(_scoring_file("PGS992703", [(100, "T", "C", 0.5, "additive")]), source="s.txt")
    assert additive.effect_types is None and not any("effect type" in n for n in additive.notes)


def test_a_row_flagged_both_dominant_and_recessive_is_one_error():
    text = ("#pgs_id=PGS992704\n#genome_build=GRCh38\n"
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tis_dominant\tis_recessive\n"
            "1\t100\tT\tC\t0.1\tFALSE\tFALSE\n1\t200\tG\tA\t0.2\tTRUE\tTRUE\n")
    with pytest.raises(InputDataError, match="column is_recessive: a row flagged both is_dominant and is_recessive") \
            as e:
        parse_scoring_file(text, source="s.txt")
    assert e.value.where == "s.txt:5"


def test_a_dominant_row_on_chry_is_one_error_at_its_line(hl, spark, tmp_path):
    """plink2 --score refuses 'dominant'/'recessive' on haploid chromosomes; so do we, at the
    row's file:line, rather than score it with a model plink2 has none for."""
    (tmp_path / "y.vcf").write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n##contig=<ID=chrY,length=57227415>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\n"
        "chr1\t100\t.\tC\tT\t.\tPASS\t.\tGT\t0/1\t1/1\nchrY\t3000000\t.\tA\tG\t.\tPASS\t.\tGT\t1\t0\n")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "PGS992705.txt").write_text(
        "#pgs_id=PGS992705\n#genome_build=GRCh38\n"
        "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tis_dominant\n"
        "1\t100\tT\tC\t0.1\t\nY\t3000000\tG\tA\t0.2\tTRUE\n")
    cfg = case_config(tmp_path, str(tmp_path / "y.vcf"), f"{tmp_path}/s/*")
    with pytest.raises(InputDataError, match="a dominant row matched on chrY, chrM or chrX outside its PARs: plink2 --score refuses") as e:
        run_scores(hl, spark, cfg)
    assert e.value.where == f"{Path(tmp_path) / 's' / 'PGS992705.txt'}:5"


@pytest.mark.parametrize("fmt", ["pgen", "vcf"])
def test_dominant_and_recessive_rows_on_chrx_outside_the_pars_are_one_error(hl, spark, tmp_path, x_case, fmt):  # noqa: F811
    """plink2 2.00a3.5 refuses --score 'dominant' (and 'recessive') on chrX outside the PARs
    ("cannot be used with haploid chromosomes", checked here on round 17's chrX pgen with the
    samples' sex), so there is no answer to give: one error at the row, on the pgen (.psam sex)
    and on the VCF; a recessive row in PAR1 (diploid for everyone) is scored as plink2 scores it.
    Before: the whole file refused at its first flagged row. Inputs: round 17's x_case (its VCF,
    the pgen with the samples' sex, the pgen's own --freq)."""
    case = x_case[0]
    (tmp_path / "dom.tsv").write_text("ID\tA1\tW\nrs3\tG\t0.8\n")
    refused = subprocess.run([shutil.which("plink2") or "plink2", "--pfile", str(case / "g"), "--read-freq",
                              str(case / "f.afreq"), "--score", str(tmp_path / "dom.tsv"), "1", "2", "3",
                              "header-read", "dominant", "--out", str(tmp_path / "dom")], capture_output=True, text=True)
    assert refused.returncode != 0 and "cannot be used with haploid" in refused.stdout + refused.stderr
    path = case / ("g" if fmt == "pgen" else "d.vcf")
    head = ("#pgs_id=PGS992706\n#genome_build=GRCh38\n"
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tis_dominant\tis_recessive\n"
            "1\t1000\tG\tA\t1.0\t\t\nX\t1000000\tC\tT\t0.5\t\tTRUE\n")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "PGS992706.txt").write_text(head + "X\t3000000\tG\tA\t0.8\tTRUE\t\n")
    with pytest.raises(InputDataError, match="a dominant row matched on chrY, chrM or chrX outside its PARs") as e:
        run_scores(hl, spark, case_config(tmp_path, str(path), f"{tmp_path}/s/*", fmt=fmt))
    assert e.value.where == f"{tmp_path / 's' / 'PGS992706.txt'}:6"
    # Without that row: PAR1's recessive row as plink2 scores it (every male diploid there).
    (tmp_path / "s" / "PGS992706.txt").write_text(head)
    (tmp_path / "add.tsv").write_text("ID\tA1\tW\nrs1\tG\t1.0\n")
    (tmp_path / "rec.tsv").write_text("ID\tA1\tW\nrs2\tC\t0.5\n")
    plink2: dict[int, float] = {}
    for name, extra in (("add", []), ("rec", ["recessive"])):
        _plink2("--pfile", str(case / "g"), "--read-freq", str(case / "f.afreq"), "--score",
                str(tmp_path / f"{name}.tsv"), "1", "2", "3", "header-read", "cols=+scoresums", *extra,
                "--out", str(tmp_path / name))
        out = pd.read_csv(tmp_path / f"{name}.sscore", sep="\t").rename(columns={"#IID": "IID"})
        for person, value in zip(out["IID"], out["W_SUM"]):
            plink2[int(person)] = plink2.get(int(person), 0.0) + float(value)
    got = run_scores(hl, spark, case_config(tmp_path / "s", str(path), f"{tmp_path}/s/*", fmt=fmt))
    assert dict(zip(got["person_id"].astype(int), got["score_sum"], strict=True)) == pytest.approx(plink2, abs=1e-5)


def test_a_score_whose_dominant_and_recessive_rows_all_go_unmatched_is_noted(hl, spark, tmp_path, toy, caplog):
    """A score whose dominant / recessive rows all failed to match was summed as an additive-only
    score with nothing to tell (n_matched counts rows, not models): now the pgs manifest's
    ``notes.dosage_model_rows_unmatched`` counts that score's rows per type, with a WARNING. A
    score with one such row matched, and an additive-only file, are not noted (helper pgs28's gap)."""
    from trd_spark.pgs import stage

    tmp, bed, _, _ = toy
    scores = tmp_path / "scores"
    scores.mkdir()
    for pgs_id, rows in {"PGS992703": [(100, "T", "C", 0.5, "additive"), (900, "A", "G", 0.3, "dominant"),
                                       (950, "C", "T", 0.2, "dominant"), (970, "C", "T", 0.1, "recessive")],
                         "PGS992704": [(100, "T", "C", 0.5, "additive"), (200, "G", "A", 0.3, "dominant"),
                                       (900, "A", "G", 0.3, "recessive")],
                         "PGS992705": [(100, "T", "C", 0.5, "additive")]}.items():
        (scores / f"{pgs_id}.txt").write_text(_scoring_file(pgs_id, rows))
    cfg = case_config(tmp_path, bed, f"{scores}/*", fmt="plink")
    r = stage.match_dataset(hl, spark, cfg, "d", stage.load_scoring_files(spark, cfg, "GRCh38"))
    assert stage.dosage_model_rows_unmatched([r]) == {"d": {"PGS992703": {"dominant": 2, "recessive": 1}}}
    assert "score PGS992703: none of its 2 dominant / 1 recessive rows matched" in caplog.text
    assert "PGS992704" not in caplog.text.split("none of its")[-1]
