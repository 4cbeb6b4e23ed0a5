"""PGS field cases, round 28 (session 36, helper pgs28): the seven PGS kinds
(/work/shared/field_cases/README.md) across the is_dominant / is_recessive rows scored since
5b4f0cd with plink2's ``dominant`` / ``recessive`` models. Oracle: plink2 2.00a3.5 ``--score ...
dominant|recessive`` on files split by effect type, summed (as pgsc_calc and round 27 do), and
hand-worked answers.

- multiallelic-effect-is-ref: plink2 on the unsplit site scores a REF effect allele's dominant row
  as min(2 - all alt copies, 1). Every route here reads the site one row per alt (Hail's split of
  a VCF, a .pgen's row per alt, a .bim given split), so the row was one error at its line on each
  (scored since session 37 on the native engine, refused on Hail's pass: round 29's tests).
  An ALT effect allele's dominant / recessive row there equals plink2 on every route.
- partial-dosage-field: DS where given, GT where DS is absent or '.', under min(d, 1) /
  max(d - 1, 0), and a missing call's w x frequency (dosage-based): the hand-worked sums on the
  VCF (Hail) and the .pgen, plink2's to its 1/16384 dosage steps. Right before this round.
- scoring-file-swapped-duplicate: a site listed additive and again dominant (alleles swapped or
  not) in one score is one duplicate, as pgscatalog-match's duplicate_ID ignores effect_type: the
  policy (error at the second line, or first wins) applies and the kept row keeps its own type.
  Right before this round.
- weight-type-odds-ratio: ln(OR) for dominant rows too (pgscatalog-core converts every row's
  weight). Right before this round.
- duplicate-genotype-rows: still one error naming both files' lines with a dominant row at the site.
- sample-ids-leading-zeros, plain-gzip-vcf: the dominant / recessive
  rows add no path of their own (the genotypes and samples are read before any weight); not
  repeated here.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from test_field_cases_pgs import CASES, case_config, plink2_fileset, run_scores, split_like_bcftools, vcf_text

from trd_spark.errors import InputDataError
from trd_spark.pgs.scoring_files import parse_scoring_file

HEAD = ("#pgs_id={pgs_id}\n#genome_build=GRCh38\n"
        "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tis_dominant\tis_recessive\n")
FLAG = {"additive": "\t", "dominant": "TRUE\t", "recessive": "\tTRUE"}


def scoring_file(path: Path, pgs_id: str, rows, extra_head: str = "") -> None:
    """rows: (chrom, position, effect, other, weight, effect type)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(extra_head + HEAD.format(pgs_id=pgs_id)
                    + "".join(f"{c}\t{p}\t{e}\t{o}\t{w}\t{FLAG[t]}\n" for c, p, e, o, w, t in rows))


def plink2_sums(genotypes: list[str], tmp: Path, rows, *extra: str) -> dict[int, float]:
    """plink2 --score on each effect type's part (ID = chrom:pos written by --set-all-var-ids),
    summed per person, with plink2's own --freq for mean imputation."""
    exe = shutil.which("plink2") or "plink2"
    ids = ["--set-all-var-ids", "@:#"]
    subprocess.run([exe, *genotypes, *ids, "--freq", "--threads", "1", "--out", str(tmp / "f")], check=True,
                   capture_output=True)
    sums: dict[int, float] = {}
    for model in ("additive", "dominant", "recessive"):
        part = [r for r in rows if r[5] == model]
        if not part:
            continue
        (tmp / f"{model}.tsv").write_text("ID\tA1\tW\n" + "".join(f"{c}:{p}\t{e}\t{w}\n" for c, p, e, _, w, _ in part))
        subprocess.run([exe, *genotypes, *ids, "--read-freq", str(tmp / "f.afreq"), "--score", str(tmp / f"{model}.tsv"),
                        "1", "2", "3", "header-read", "cols=+scoresums", *([] if model == "additive" else [model]),
                        *extra, "--threads", "1", "--out", str(tmp / model)], check=True, capture_output=True)
        out = pd.read_csv(tmp / f"{model}.sscore", sep="\t").rename(columns={"#IID": "IID"})
        for person, value in zip(out["IID"], out["W_SUM"], strict=True):
            sums[int(person)] = sums.get(int(person), 0.0) + float(value)
    return sums



# (1) multiallelic-effect-is-ref: chr4:1000000 A>G,C and chr4:3000000 G>A,T (the field case's VCF;
# calls 0/0 0/1 0/2 1/2 2/2 1/1 at 1000000).
MULTI = "multiallelic-effect-is-ref"
REF_DOMINANT = [("4", 2000000, "T", "C", 0.5, "additive"), ("4", 1000000, "A", "G", 1.0, "dominant")]
ALT_ROWS = [("4", 1000000, "C", "A", 1.0, "dominant"), ("4", 3000000, "T", "G", 0.25, "recessive"),
            ("4", 2000000, "T", "C", 0.1, "additive")]


def _multi_route(tmp: Path, route: str) -> tuple[str, str]:
    src = next((CASES / MULTI / "genotypes").iterdir())
    if route == "vcf":  # split by Hail
        return str(src), "vcf"
    if route == "pgen":  # one multi-allelic .pvar row
        return plink2_fileset(src, tmp / "g", "pgen"), "pgen"
    (tmp / "split.vcf").write_text(split_like_bcftools(vcf_text(MULTI)))
    return plink2_fileset(tmp / "split.vcf", tmp / "g", "plink"), "plink"  # two .bim rows at one position


def test_plink2_scores_a_ref_effect_dominant_row_on_the_unsplit_site(tmp_path):
    """What the refused row would be: plink2 on the unsplit VCF gives min(2 - all alt copies, 1)
    (1001 0/0, 1002 0/1, 1003 0/2 -> 1; 1004 1/2, 1005 2/2, 1006 1/1 -> 0) plus the additive T."""
    src = next((CASES / MULTI / "genotypes").iterdir())
    got = plink2_sums(["--vcf", str(src)], tmp_path, REF_DOMINANT)
    t_copies = {1001: 1, 1002: 0, 1003: 2, 1004: 1, 1005: 0, 1006: 1}
    dominant = {1001: 1, 1002: 1, 1003: 1, 1004: 0, 1005: 0, 1006: 0}
    assert got == pytest.approx({p: 0.5 * t_copies[p] + dominant[p] for p in t_copies}, abs=1e-6)


# Round 28 had each route refuse that row here (one error at its line); since session 37 the native
# engine scores it as plink2 does and Hail's pass alone refuses it: tests/test_field_cases_round29_pgs.py.


@pytest.mark.parametrize("route", ["vcf", "vcf-hail", "split_bed"])
def test_alt_effect_dominant_and_recessive_rows_at_multiallelic_sites_equal_plink2(hl, spark, tmp_path, route):
    """An ALT effect allele of a multi-allelic site (C of A>G,C dominant; T of G>A,T recessive)
    scores its own copies under the model, as plink2 on the unsplit VCF: on Hail's split (its hard
    calls exported for the native engine, and Hail's own pass) and on a .bim given split (its
    other alts written as REF). Before (8f28050): the row was an error."""
    src = next((CASES / MULTI / "genotypes").iterdir())
    (tmp_path / "o").mkdir()
    want = plink2_sums(["--vcf", str(src)], tmp_path / "o", ALT_ROWS)
    # By hand: C copies 0 0 1 1 2 0 -> min(.,1); T copies at 3000000 0 1 0 1 0 2 -> max(.-1,0).
    assert want == pytest.approx({1001: 0.1, 1002: 0.0, 1003: 1.2, 1004: 1.1, 1005: 1.0, 1006: 0.35}, abs=1e-6)
    scoring_file(tmp_path / "s" / "PGS992802.txt", "PGS992802", ALT_ROWS)
    path, fmt = _multi_route(tmp_path, route.removesuffix("-hail"))
    hail = "  native: {engine: hail}\n" if route.endswith("-hail") else ""
    got = run_scores(hl, spark, case_config(tmp_path, path, f"{tmp_path}/s/*", fmt=fmt, extra_pgs=hail))
    assert dict(zip(got["person_id"].astype(int), got["score_sum"], strict=True)) == pytest.approx(want, abs=1e-9)
    assert set(got["n_matched"]) == {3}


# (2) partial-dosage-field: chr13 C>T, G>A, A>G; DS on some entries only, '.' on others, missing
# calls with a DS (used) and without (imputed).
DOSAGE = "partial-dosage-field"
DOSAGE_ROWS = [("13", 1000000, "T", "C", 0.5, "dominant"), ("13", 2000000, "G", "A", 0.3, "recessive"),
               ("13", 3000000, "G", "A", 0.2, "recessive")]
# By hand. 1000000 T (DS .9, GT 1/1 -> 2, GT 0/0 with DS '.' -> 0, 1.1, DS 1.5 of a ./. call, missing):
# min(d, 1) x .5 = .45 .5 0 .5 .5, the missing call .5 x freq(T) = .5 x 5.5/10 = .275.
# 2000000 G = REF (alt DS .1 .8 1.9, GT 0/1 -> 1, 0, missing): max(2 - a - 1, 0) x .3 = .27 .06 0 0 .3,
# the missing call .3 x freq(G) = .3 x (1 - 3.8/10) = .186. 3000000 G (DS 1 .05 2 .95 0 1.02):
# max(d - 1, 0) x .2 = 0 0 .2 0 0 .004.
DOSAGE_WANT = {"mean_impute": {1001: 0.72, 1002: 0.56, 1003: 0.2, 1004: 0.5, 1005: 0.8, 1006: 0.465},
               "zero": {1001: 0.72, 1002: 0.56, 1003: 0.2, 1004: 0.5, 1005: 0.8, 1006: 0.004}}


@pytest.mark.parametrize("route, missing", [("vcf", "mean_impute"), ("vcf", "zero"), ("pgen", "mean_impute")])
def test_partial_dosage_field_dominant_and_recessive_rows(hl, spark, tmp_path, route, missing):
    """``dosage_field: DS`` (GT where DS is absent): the hand-worked sums exactly on the VCF
    (Hail's reader; the .pgen holds plink2's DS import in 1/16384 steps), and plink2's (``--vcf
    dosage=DS``, split by effect type) to those steps. Before (8f28050): an error at the row."""
    src = next((CASES / DOSAGE / "genotypes").iterdir())
    (tmp_path / "o").mkdir()
    extra = [] if missing == "mean_impute" else ["no-mean-imputation"]
    want = DOSAGE_WANT[missing]
    assert plink2_sums(["--vcf", str(src), "dosage=DS"], tmp_path / "o", DOSAGE_ROWS, *extra) == pytest.approx(
        want, abs=1e-4)
    scoring_file(tmp_path / "s" / "PGS992803.txt", "PGS992803", DOSAGE_ROWS)
    if route == "pgen":
        path, fmt, ds = plink2_fileset(src, tmp_path / "g", "pgen", "dosage=DS"), "pgen", ""
    else:
        path, fmt, ds = str(src), "vcf", ", dosage_field: DS"
    cfg = case_config(tmp_path, path, f"{tmp_path}/s/*", fmt=fmt, extra_genotypes=ds,
                      extra_pgs=f"  missing_genotypes: {missing}\n")
    got = run_scores(hl, spark, cfg)
    assert dict(zip(got["person_id"].astype(int), got["score_sum"], strict=True)) == pytest.approx(
        want, abs=1e-4 if route == "pgen" else 1e-9)
    n_missing = dict(zip(got["person_id"].astype(int), got["n_missing"], strict=True))
    assert n_missing == {1001: 0, 1002: 0, 1003: 0, 1004: 0, 1005: 0, 1006: 2}


# (3) scoring-file-swapped-duplicate, (4) weight-type-odds-ratio: parse rules, whatever the effect type.
def _text(rows, extra_head: str = "") -> str:
    return extra_head + HEAD.format(pgs_id="PGS992804") + "".join(
        f"{c}\t{p}\t{e}\t{o}\t{w}\t{FLAG[t]}\n" for c, p, e, o, w, t in rows)


@pytest.mark.parametrize("second", [("1", 100, "T", "C", 0.4, "dominant"), ("1", 100, "C", "T", -0.4, "recessive")])
@pytest.mark.parametrize("first_type", ["additive", "dominant"])
def test_a_site_listed_again_with_another_effect_type_is_one_duplicate(second, first_type):
    """pgscatalog-match labels a second row of one ID in one score duplicate_ID whatever its
    effect_type (then excluded, or the first kept): ours is the documented policy, an error at the
    second row's line (default) or first wins (``duplicate_variants: first``), the kept row with
    its own effect type and the note counting what is left."""
    rows = [("1", 100, "T", "C", 0.5, first_type), second, ("1", 200, "G", "A", 0.2, "recessive")]
    with pytest.raises(InputDataError, match="duplicate variant 1:100") as e:
        parse_scoring_file(_text(rows), source="s.txt")
    assert e.value.where == "s.txt:5"
    sf = parse_scoring_file(_text(rows), source="s.txt", duplicate_variants="first")
    assert sf.variants["line"].tolist() == [4, 6] and sf.variants["effect_weight"].tolist() == [0.5, 0.2]
    assert sf.effect_types is not None and sf.effect_types.tolist() == [("additive", "dominant").index(first_type), 2]
    assert sf.n_duplicates_dropped == 1
    n_dominant = int(first_type == "dominant")
    assert any(n.startswith(f"variant rows by effect type: {1 - n_dominant} additive, {n_dominant} dominant, "
                            "1 recessive;") for n in sf.notes)


def test_odds_ratio_weights_of_dominant_and_recessive_rows_are_converted_to_ln():
    """#weight_type=OR: every row's weight is ln(OR), the dominant / recessive ones too
    (pgscatalog-core converts effect_weight before pgsc_calc splits by effect type)."""
    rows = [("1", 100, "T", "C", 2.0, "dominant"), ("1", 200, "G", "A", 0.5, "recessive"),
            ("1", 300, "C", "T", 1.5, "additive")]
    sf = parse_scoring_file(_text(rows, "#weight_type=OR\n"), source="s.txt")
    assert sf.variants["effect_weight"].tolist() == pytest.approx([math.log(2.0), math.log(0.5), math.log(1.5)])
    assert sf.effect_types is not None and sf.effect_types.tolist() == [1, 2, 0]
    assert any("weights converted to ln(OR)" in n for n in sf.notes)


def test_duplicate_genotype_rows_are_one_error_with_a_dominant_row_there(hl, spark, tmp_path):
    """duplicate-genotype-rows: chr6:3000000 in both chunks is one error naming the files and
    lines, a dominant row at that site too (the check runs before any weight). Before (8f28050):
    the dominant row's own parse error, not the duplicate."""
    rows = [("6", 1000000, "G", "A", 0.1, "additive"), ("6", 3000000, "A", "G", 0.3, "dominant")]
    scoring_file(tmp_path / "s" / "PGS992805.txt", "PGS992805", rows)
    cfg = case_config(tmp_path, f"{CASES / 'duplicate-genotype-rows'}/genotypes/*", f"{tmp_path}/s/*")
    with pytest.raises(InputDataError, match=r"chr6:3000000.*more than once|more than once.*chr6:3000000") as e:
        run_scores(hl, spark, cfg)
    assert e.value.where.endswith("genotypes/chunk1.vcf.bgz:9") and "chunk2.vcf.bgz:7)" in str(e.value)
