"""The seven PGS field cases (tests/data/field_cases/pgs, copied from the shared folder, see its
README): each runs through the stage's own read -> match -> score functions and must give its
expected.tsv (SUM, matched, missing per score and person; hand- and plink2-checked) or the one
clear error the case calls for. Then the same kinds of fault in other formats (MT, PLINK) and
shapes (a pre-split copy of a multi-allelic VCF, dosage files, mapped sample IDs).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from chance import without_paths

from trd_spark.config import load_config
from trd_spark.errors import InputDataError
from trd_spark.pgs import genotypes, stage
from trd_spark.pgs.scoring_files import read_scoring_file

CASES = Path(__file__).parent / "data" / "field_cases" / "pgs"
REPO = Path(__file__).resolve().parent.parent


def case_config(tmp: Path, genotypes: str, scores: str, *, fmt: str = "vcf", extra_genotypes: str = "",
                extra_pgs: str = ""):
    """A config with one GRCh38 dataset ``d`` and the README's settings (min_overlap 0)."""
    (tmp / "panel.yaml").write_text("domains: [physical]\nscores:\n  - {pgs_id: PGS000000, trait: t, domain: physical}\n")
    (tmp / "c.yaml").write_text(f"""
release: t1
output_root: {tmp}/out
datasets:
  - {{name: d, role: discovery, genotypes: {{format: {fmt}, path: "{genotypes}"{extra_genotypes}}}}}
ancestry: {{path: {CASES}/ancestry_preds.tsv}}
pgs:
  scoring_files: ["{scores}"]
  trait_panel: {tmp}/panel.yaml
  min_overlap: 0
{extra_pgs}
omop: {{path: {tmp}/omop, data_cutoff_date: 2023-07-01}}
phenotypes:
  concept_sets: {REPO / 'conf' / 'concept_sets.yaml'}
  primary_definition: ad3
  trd_definitions:
    - {{name: ad3, rule: antidepressant_sequence, n_trials: 3}}
""")
    return load_config(tmp / "c.yaml")


def run_scores(hl, spark, cfg) -> pd.DataFrame:
    """pgs_id, person_id, score_sum, n_matched, n_missing, allele_count via the stage's functions."""
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    r = stage.match_dataset(hl, spark, cfg, "d", files)
    # As stage.run: the scoring pass (the first to read entries) inside hail_errors, hard calls
    # Hail reads exported to a scratch PLINK fileset for the native engine, the rows checked
    # (scoring.check_score_arrow / check_score_table) as they are published.
    return published_frame(stage.scores_of_dataset(hl, spark, cfg, r))


def published_frame(scores) -> pd.DataFrame:
    """``stage.scores_of_dataset``'s rows (a Spark DataFrame, or the native pass's rows on the
    driver as Arrow) as pandas, PGS_SCORES' columns, string columns as plain objects."""
    frame = scores.toPandas() if hasattr(scores, "toPandas") else scores.to_pandas()
    return frame.astype({"dataset": object, "pgs_id": object})


def score_shapes(hl, spark, tmp_path_factory, shapes: dict[str, tuple], scores: str,
                 extra_pgs: str = "") -> dict[str, pd.DataFrame | Exception]:
    """``run_scores`` of each shape (name -> (format, genotype path[, extra genotypes settings,
    e.g. ", dosage_field: DS"])) with the scoring files ``scores`` (a glob), or the exception the
    stage raised: a module fixture's one pass, whose tests each read their shape."""
    out: dict[str, pd.DataFrame | Exception] = {}
    for shape, (fmt, path, *extra) in shapes.items():
        cfg = case_config(tmp_path_factory.mktemp(shape), str(path), scores, fmt=fmt, extra_pgs=extra_pgs,
                          extra_genotypes="".join(extra))
        try:
            out[shape] = run_scores(hl, spark, cfg)
        except Exception as e:  # noqa: BLE001 - a test asserts which
            out[shape] = e
    return out


def run_case(hl, spark, tmp: Path, case: str, genotypes: str | None = None, **kw) -> pd.DataFrame:
    folder = CASES / case
    files = sorted((folder / "genotypes").iterdir())
    genotypes = genotypes or str(files[0] if len(files) == 1 else folder / "genotypes" / "*")
    return run_scores(hl, spark, case_config(tmp, genotypes, f"{folder}/scores/*", **kw))


def assert_expected(got: pd.DataFrame, case: str, tolerance: float = 1e-9, pgs_ids: list[str] | None = None,
                    haploid: bool = False) -> None:
    """``got`` equals the case's expected.tsv (SUM to ``tolerance``; counts exactly), or its
    rows of ``pgs_ids`` when given. ``allele_count`` is 2 per called variant, at most that with
    ``haploid`` (a case with chrY/chrM rows: plink2's ALLELE_CT counts 1 or 0 there, checked
    against plink2 in tests/test_field_cases_round21_sex.py)."""
    exp = pd.read_csv(CASES / case / "expected.tsv", sep="\t", comment="#")
    if pgs_ids is not None:
        exp = exp[exp["pgs_id"].isin(pgs_ids)]
    assert len(exp) > 0
    merged = exp.merge(got, on=["pgs_id", "person_id"], how="outer", suffixes=("_exp", ""), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    for r in merged.itertuples(index=False):
        key = (r.pgs_id, r.person_id)
        assert r.score_sum == pytest.approx(r.score_sum_exp, abs=tolerance), key
        assert (r.n_matched, r.n_missing) == (r.n_matched_exp, r.n_missing_exp), key
        if haploid:
            assert r.allele_count <= 2 * (r.n_matched - r.n_missing), key
        else:
            assert r.allele_count == 2 * (r.n_matched - r.n_missing), key


# ---- the seven cases -------------------------------------------------------------------------

@pytest.mark.parametrize("case, extra", [
    ("multiallelic-effect-is-ref", ""),
    ("partial-dosage-field", ", dosage_field: DS"),
    ("weight-type-odds-ratio", ""),
    ("plain-gzip-vcf", ""),
], ids=lambda v: v if isinstance(v, str) and v and not v.startswith(",") else None)
def test_field_case_scores_equal_expected(hl, spark, tmp_path, case, extra):
    assert_expected(run_case(hl, spark, tmp_path, case, extra_genotypes=extra), case)


def test_duplicate_genotype_rows_across_files_is_one_error(hl, spark, tmp_path):
    # chr6:3000000 G>A is in chunk1 and chunk2: its weight would be applied twice.
    with pytest.raises(InputDataError, match=r"chr6:3000000.*more than once|more than once.*chr6:3000000") as e:
        run_case(hl, spark, tmp_path, "duplicate-genotype-rows")
    assert "duplicate-genotype-rows/genotypes/*" in str(e.value)  # names the dataset's files
    # ... and each file and line holding the site (the error's place is the first of them).
    assert e.value.where.endswith("genotypes/chunk1.vcf.bgz:9")
    assert "rows at " in str(e.value) and "chunk2.vcf.bgz:7)" in str(e.value)
    assert str(e.value).count("\n") == 0


def test_scoring_file_swapped_duplicate_is_one_error_naming_the_line(hl, spark, tmp_path):
    # Line 18 lists 7:1000000 as G/A after line 14 listed it as A/G.
    with pytest.raises(InputDataError, match=r"PGS910501_hmPOS_GRCh38\.txt\.gz:18: duplicate variant 7:1000000"):
        run_case(hl, spark, tmp_path, "scoring-file-swapped-duplicate")


def test_scoring_file_swapped_duplicate_first_wins_whatever_the_allele_order():
    path = CASES / "scoring-file-swapped-duplicate" / "scores" / "PGS910501_hmPOS_GRCh38.txt.gz"
    sf = read_scoring_file(str(path), duplicate_variants="first")
    v = sf.variants
    assert (len(v), sf.n_duplicates_dropped) == (4, 1)
    first = v[v["pos"] == 1000000].iloc[0]
    assert (first["effect_allele"], first["other_allele"], first["line"]) == ("A", "G", 14)
    assert any("1 duplicate variant row dropped" in n for n in sf.notes)


def test_sample_ids_with_leading_zeros_are_one_error(hl, spark, tmp_path):
    # 01001 (sample #2) would become person 1001 (sample #1); 001004 (#5) person 1004.
    with pytest.raises(InputDataError, match=r": sample ID\(s\) are not a person_id.*\(the first: sample #2; some of them collide") as e:
        run_case(hl, spark, tmp_path, "sample-ids-leading-zeros")
    # no identifiers in the message (searched without the folders, which may hold the digits)
    message = without_paths(str(e.value), tmp_path)
    assert "01001" not in message and "001004" not in message


def test_plain_gzip_vcf_is_recognised_not_called_truncated(tmp_path):
    from trd_spark.config import GenotypeSource
    from trd_spark.pgs.genotypes import check_vcf_files, compression

    path = CASES / "plain-gzip-vcf" / "genotypes" / "data.vcf.gz"
    assert compression(str(path)) == "gzip"
    assert check_vcf_files(GenotypeSource(path=str(path))) is True  # read serially
    # A BGZF file cut short is still called truncated, and says BGZF.
    bgzf = (CASES / "weight-type-odds-ratio" / "genotypes" / "data.vcf.bgz").read_bytes()
    (tmp_path / "cut.vcf.bgz").write_bytes(bgzf[:-28])
    with pytest.raises(InputDataError, match="truncated BGZF file"):
        check_vcf_files(GenotypeSource(path=str(tmp_path / "cut.vcf.bgz")))


# ---- session-11 variants of the same kinds (hand- and plink2-checked expected.tsv) -------------

def test_weight_type_column_per_row_is_honoured(hl, spark, tmp_path):
    """A weight_type column (OR, "odds ratio", beta, log(OR) per row; #weight_type=NR): each
    row's type decides; before, the ratios were summed raw."""
    assert_expected(run_case(hl, spark, tmp_path, "weight-type-odds-ratio-row-column"), "weight-type-odds-ratio-row-column")


def test_zero_padded_and_prefixed_chr_names_are_one_chromosome(hl, spark, tmp_path):
    """chr_name 017 / chr17 / 17 / Chr17 all name chromosome 17: the swapped lower-case
    repeat of 017:1000000 is the duplicate of line 11 (error at line 15), and with first-wins
    all four sites match."""
    case = "scoring-file-swapped-duplicate-chr-names"
    with pytest.raises(InputDataError, match=r"PGS910511\.txt\.gz:15: duplicate variant 17:1000000 A/G"):
        run_case(hl, spark, tmp_path, case)
    assert_expected(run_case(hl, spark, tmp_path, case, extra_pgs="  duplicate_variants: first"), case)


@pytest.mark.parametrize("name, data, match", [
    ("data.vcf.bgz", "case", r"plain gzip \(not BGZF\) but named as BGZF \(\.bgz\).*name it \.vcf\.gz"),
    ("data.vcf.gz", "plain", r"not compressed but named as gzip \(\.gz\)"),
], ids=["gzip-named-bgz", "plain-named-gz"])
def test_vcf_compression_that_its_name_contradicts_is_one_error(tmp_path, name, data, match):
    """plain-gzip-vcf-named-bgz: Hail picks its codec by the name, so a plain-gzip .bgz failed
    inside Hail after a 'read serially' warning; now one error before Hail, naming the file."""
    from trd_spark.config import GenotypeSource
    from trd_spark.pgs.genotypes import check_vcf_files

    case = CASES / "plain-gzip-vcf-named-bgz" / "genotypes" / "data.vcf.bgz"
    path = tmp_path / name
    path.write_bytes(case.read_bytes() if data == "case" else gzip.decompress(case.read_bytes()))
    with pytest.raises(InputDataError, match=match) as e:
        check_vcf_files(GenotypeSource(path=str(path)))
    assert e.value.where == str(path) and "\n" not in str(e.value)


# ---- the same kinds in other formats and shapes -----------------------------------------------

def vcf_text(case: str) -> str:
    """The case's (single) VCF as text."""
    path = next((CASES / case / "genotypes").iterdir())
    with gzip.open(path, "rt") as f:
        return f.read()


def split_like_bcftools(text: str) -> str:
    """``bcftools norm -m-`` by hand: one record per alt; in each, the other alts' copies are
    written as REF (0), which is what makes a split row's own REF count wrong."""
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            out.append(line)
            continue
        f = line.split("\t")
        alts = f[4].split(",")
        for k, alt in enumerate(alts, 1):
            def recode(gt: str, k: int = k) -> str:
                return "/".join(a if a == "." else ("1" if a == str(k) else "0") for a in gt.split("/"))
            out.append("\t".join([*f[:4], alt, *f[5:9], *[recode(g) for g in f[9:]]]))
    return "\n".join(out) + "\n"


def plink2_fileset(src: Path, out: Path, fmt: str, *extra: str) -> str:
    """``plink2 --vcf src [extra] --make-{bed|pgen}``: the fileset prefix (the native engine's
    input; matched by the frame matcher)."""
    subprocess.run([shutil.which("plink2"), "--vcf", str(src), *extra, "--make-bed" if fmt == "plink" else "--make-pgen",
                    "--threads", "1", "--out", str(out)], check=True, capture_output=True)
    return str(out)


@pytest.mark.parametrize("case, shape", [
    ("multiallelic-effect-is-ref", "mt"),
    ("multiallelic-effect-is-ref", "split_vcf"),
    ("multiallelic-effect-is-ref", "pgen"),
    ("multiallelic-effect-is-ref", "split_bed"),
    ("partial-dosage-field", "mt"),
    ("partial-dosage-field", "pgen"),
    ("weight-type-odds-ratio", "plink_prefix"),
    ("weight-type-odds-ratio", "pgen"),
])
def test_field_case_in_other_formats(hl, spark, tmp_path, case, shape):
    """bed/pgen shapes go through the native engine and the frame matcher (``stage.match_plink``);
    a multi-allelic pgen keeps its G>A,C rows whole (the REF effect allele loses every alt),
    the split .bed has one row per alt; a dosage pgen holds plink2's DS import (GT where DS is
    absent, as the VCF rule)."""
    src = next((CASES / case / "genotypes").iterdir())
    extra = ", dosage_field: DS" if case == "partial-dosage-field" else ""
    if shape in ("pgen", "split_bed"):
        if shape == "split_bed":
            (tmp_path / "split.vcf").write_text(split_like_bcftools(vcf_text(case)))
            src = tmp_path / "split.vcf"
        fmt = "pgen" if shape == "pgen" else "plink"
        path = plink2_fileset(src, tmp_path / "g", fmt, *(["dosage=DS"] if extra else []))
        cfg = case_config(tmp_path, path, f"{CASES / case}/scores/*", fmt=fmt)
        # A pgen stores dosages in steps of 1/16384 (plink2's format): DS 0.9 is read as 0.90002.
        assert_expected(run_scores(hl, spark, cfg), case, tolerance=1e-3 if extra else 1e-9)
        return
    if shape == "mt":
        mt = hl.import_vcf(str(src), reference_genome="GRCh38", force_bgz=True, array_elements_required=False)
        mt.write(str(tmp_path / "g.mt"))
        path, fmt = str(tmp_path / "g.mt"), "mt"
    elif shape == "split_vcf":
        (tmp_path / "split.vcf").write_text(split_like_bcftools(vcf_text(case)))
        path, fmt = str(tmp_path / "split.vcf"), "vcf"
    else:  # PLINK 1 written by plink2 from the VCF, configured by its prefix (README)
        subprocess.run([shutil.which("plink2"), "--vcf", str(src), "--make-bed", "--threads", "1",
                        "--out", str(tmp_path / "g")], check=True, capture_output=True)
        path, fmt = str(tmp_path / "g"), "plink"
        from trd_spark.preflight import missing_inputs

        cfg = case_config(tmp_path, path, f"{CASES / case}/scores/*", fmt=fmt)
        assert missing_inputs(cfg, ["pgs"]) == []
    cfg = case_config(tmp_path, path, f"{CASES / case}/scores/*", fmt=fmt, extra_genotypes=extra)
    assert_expected(run_scores(hl, spark, cfg), case)


def test_duplicate_genotype_rows_in_a_bed_are_one_error_naming_the_bim_lines(hl, spark, tmp_path):
    """The two chunks as one PLINK 1 fileset (.bim lines and .bed records concatenated): the
    frame matcher finds chr6:3000000 G>A twice and the error names the .bim lines."""
    chunks = sorted((CASES / "duplicate-genotype-rows" / "genotypes").iterdir())
    parts = [plink2_fileset(c, tmp_path / f"c{i}", "plink") for i, c in enumerate(chunks)]
    (tmp_path / "g.fam").write_bytes(Path(parts[0] + ".fam").read_bytes())
    (tmp_path / "g.bim").write_text("".join(Path(f"{p}.bim").read_text() for p in parts))
    (tmp_path / "g.bed").write_bytes(b"".join(Path(f"{p}.bed").read_bytes()[(3 if i else 0):] for i, p in enumerate(parts)))
    cfg = case_config(tmp_path, str(tmp_path / "g"), f"{CASES}/duplicate-genotype-rows/scores/*", fmt="plink")
    with pytest.raises(InputDataError, match=r"more than once.*chr6:3000000") as e:
        run_scores(hl, spark, cfg)
    assert e.value.where.endswith("g.bim:3") and f"{tmp_path}/g.bim:" in str(e.value)
    assert str(e.value).count("\n") == 0


@pytest.mark.parametrize("fmt", ["plink", "pgen"])
def test_sample_ids_and_sample_map_of_a_plink_fileset(hl, spark, tmp_path, fmt):
    """The .fam/.psam IIDs follow the person-ID rules of every format: leading zeros are one
    error naming sample numbers only; a sample map maps named samples."""
    case = "sample-ids-leading-zeros"
    path = plink2_fileset(next((CASES / case / "genotypes").iterdir()), tmp_path / "z", fmt)
    cfg = case_config(tmp_path, path, f"{CASES / case}/scores/*", fmt=fmt)
    with pytest.raises(InputDataError, match=r": sample ID\(s\) are not a person_id.*\(the first: sample #2; some of them collide") as e:
        run_scores(hl, spark, cfg)
    message = without_paths(str(e.value), tmp_path)
    assert "01001" not in message and "001004" not in message
    case = "weight-type-odds-ratio"
    names = [f"NA2{i:04d}" for i in range(1, 7)]
    (tmp_path / "g.vcf").write_text(vcf_text(case).replace("\t".join(str(1000 + i) for i in range(1, 7)), "\t".join(names)))
    path = plink2_fileset(tmp_path / "g.vcf", tmp_path / "g", fmt)
    (tmp_path / "map.tsv").write_text("sample_id\tperson_id\n" + "".join(f"{n}\t{1000 + i}\n" for i, n in enumerate(names, 1)))
    cfg = case_config(tmp_path, path, f"{CASES / case}/scores/*", fmt=fmt, extra_genotypes=f", sample_map: {tmp_path}/map.tsv")
    assert_expected(run_scores(hl, spark, cfg), case)


def test_duplicate_genotype_rows_in_a_matrix_table_are_one_error(hl, spark, tmp_path):
    chunks = [hl.import_vcf(str(p), reference_genome="GRCh38", force_bgz=True)
              for p in sorted((CASES / "duplicate-genotype-rows" / "genotypes").iterdir())]
    chunks[0].union_rows(chunks[1]).write(str(tmp_path / "g.mt"))
    cfg = case_config(tmp_path, str(tmp_path / "g.mt"), f"{CASES}/duplicate-genotype-rows/scores/*", fmt="mt")
    with pytest.raises(InputDataError, match=r"more than once.*chr6:3000000"):
        run_scores(hl, spark, cfg)


def test_sample_map_maps_named_samples_and_refuses_collisions(hl, spark, tmp_path):
    case = "weight-type-odds-ratio"
    names = [f"NA2{i:04d}" for i in range(1, 7)]  # 1000 Genomes style, not integers
    text = vcf_text(case).replace("\t".join(str(1000 + i) for i in range(1, 7)), "\t".join(names))
    (tmp_path / "g.vcf").write_text(text)
    scores = f"{CASES / case}/scores/*"
    (tmp_path / "map.tsv").write_text("sample_id\tperson_id\n" + "".join(f"{n}\t{1000 + i}\n" for i, n in enumerate(names, 1)))
    cfg = case_config(tmp_path, str(tmp_path / "g.vcf"), scores, extra_genotypes=f", sample_map: {tmp_path}/map.tsv")
    assert_expected(run_scores(hl, spark, cfg), case)
    # Without the map: one error, IDs never printed.
    with pytest.raises(InputDataError, match=r": sample ID\(s\) are not a person_id.*\(the first: sample #1;") as e:
        run_scores(hl, spark, case_config(tmp_path, str(tmp_path / "g.vcf"), scores))
    assert "NA2" not in without_paths(str(e.value), tmp_path)
    # Two samples mapped to one person.
    (tmp_path / "map.tsv").write_text("sample_id\tperson_id\n" + "".join(f"{n}\t{1000 + min(i, 5)}\n" for i, n in enumerate(names, 1)))
    with pytest.raises(InputDataError, match=r": sample\(s\) map to a person_id another sample has \(the first: sample #6\)"):
        run_scores(hl, spark, cfg)


def test_duplicated_sample_ids_are_one_error(hl, tmp_path):
    from trd_spark.pgs.genotypes import samples_to_persons

    text = vcf_text("weight-type-odds-ratio").replace("\t1005\t1006", "\t1005\t1001")
    (tmp_path / "g.vcf").write_text(text)
    mt = hl.import_vcf(str(tmp_path / "g.vcf"), reference_genome="GRCh38")
    with pytest.raises(InputDataError, match=r": sample ID\(s\) occur more than once \(the first: sample #6\)"):
        samples_to_persons(hl, mt, where="g.vcf")


def test_numeric_sex_contigs_are_recoded_and_haploid_calls_count_as_homozygous(hl, tmp_path):
    from trd_spark.config import GenotypeSource
    from trd_spark.pgs.genotypes import read_genotypes

    (tmp_path / "x.vcf").write_text(
        "##fileformat=VCFv4.2\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
        "##contig=<ID=23>\n##contig=<ID=26>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1\t2\t3\n"
        "23\t3000000\t.\tA\tG\t.\tPASS\t.\tGT\t1\t0\t0/1\n"
        "26\t100\t.\tC\tT\t.\tPASS\t.\tGT\t1\t.\t0\n")
    mt = read_genotypes(hl, GenotypeSource(path=str(tmp_path / "x.vcf")))
    got = {(r.locus.contig, r.s): r.DOSAGE for r in mt.entries().collect()}
    assert got == {("chrX", "1"): 2.0, ("chrX", "2"): 0.0, ("chrX", "3"): 1.0,
                   ("chrM", "1"): 2.0, ("chrM", "2"): None, ("chrM", "3"): 0.0}


def test_hail_errors_while_reading_are_one_line_naming_the_dataset(hl, spark, tmp_path):
    case = "weight-type-odds-ratio"
    text = vcf_text(case).replace("0/1\t0/0\t1/1\t0/1\t0/0\t0/1", "0/1\t0/0\t1/x\t0/1\t0/0\t0/1")
    (tmp_path / "g.vcf").write_text(text)
    cfg = case_config(tmp_path, str(tmp_path / "g.vcf"), f"{CASES / case}/scores/*")
    with pytest.raises(InputDataError, match=r"^datasets\.d\.genotypes .*g\.vcf: reading the genotypes failed: ") as e:
        run_scores(hl, spark, cfg)
    assert "\n" not in str(e.value)
    # The bad line is named by its line number in the file.
    data = text.encode()
    bad_line = data[:data.index(b"1/x")].count(b"\n") + 1
    assert str(e.value).endswith(f"g.vcf:{bad_line})"), str(e.value)


def test_bad_line_of_a_block_gzipped_vcf_is_named_by_its_line_number(hl, tmp_path):
    """Hail locates a bad line of a BGZF file by its virtual offset (block << 16 | offset in the
    block); the error names the line: decoded across many blocks, and the offset is kept when
    the file cannot be read back (a URI)."""
    import warnings

    header = ("##fileformat=VCFv4.2\n##contig=<ID=1,length=249250621>\n"
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">\n'
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\n")
    rows = "".join(f"1\t{100 + i}\t.\tA\tG\t.\t.\t.\tGT\t0/1\t{'1/x' if i == 2500 else '0/0'}\n" for i in range(4000))
    path = str(tmp_path / "g.vcf.bgz")
    with warnings.catch_warnings():  # deprecated, but its successor (hailtop.fs.open) writes no BGZF
        warnings.simplefilter("ignore", DeprecationWarning)
        with hl.hadoop_open(path, "w") as f:  # Hail's own BGZF writer: the blocks Hail reads back
            f.write(header + rows)
    bad_line = (header + rows)[:(header + rows).index("1/x")].count("\n") + 1
    with pytest.raises(InputDataError) as e, stage.hail_errors(f"datasets.d.genotypes {path}"):
        hl.import_vcf(path, reference_genome="GRCh37").GT.n_alt_alleles().collect()
    assert str(e.value).endswith(f"g.vcf.bgz:{bad_line})"), str(e.value)
    assert bad_line > 2500  # past the first 64 KiB block
    assert genotypes.line_at_offset(f"gs://bucket/{path}", 5) is None  # not read back: the offset is named


def test_a_bug_in_our_code_is_not_reported_as_bad_genotypes(hl):
    """hail_errors turns Hail's errors into one InputDataError line, but a Python error raised by
    trd_spark's own code is a bug: it passes through with its traceback (before, a code fault
    read 'reading the genotypes failed: 'str' object has no attribute 'shape'', exit 3). The
    same built-in type raised inside Hail (a MatrixTable without GT) is still about the input."""
    with pytest.raises(TypeError, match="NoneType"), stage.hail_errors("datasets.d.genotypes x"):
        genotypes.compression(None)  # type: ignore[arg-type]
    mt = hl.utils.range_matrix_table(2, 2)
    with pytest.raises(InputDataError, match=r"^datasets\.d\.genotypes x: reading the genotypes failed: .*GT"), \
            stage.hail_errors("datasets.d.genotypes x"):
        mt.GT.collect()


def test_our_code_is_told_by_the_package_directory_written_once(tmp_path):
    """_our_bug tells trd_spark's frames by config.PACKAGE_DIR (the one package directory,
    symlinks resolved): a TypeError whose innermost frame is a package file is ours, also when
    the file is reached through a symlink; one raised in the standard library is not."""
    import json

    from trd_spark.config import PACKAGE_DIR

    (tmp_path / "pkg").symlink_to(PACKAGE_DIR)
    for filename in (PACKAGE_DIR / "bug.py", tmp_path / "pkg" / "bug.py"):
        with pytest.raises(TypeError) as ours:
            exec(compile("None + 1", str(filename), "exec"))
        assert stage._our_bug(ours.value), filename
    with pytest.raises(TypeError) as theirs:
        json.loads(1)  # type: ignore[arg-type]
    assert not stage._our_bug(theirs.value)


# ---- scoring-file rules (no Spark) --------------------------------------------------------------

def score_file(weight_type: str, weights: list[str], *, n: int | None = None, bom: bool = False) -> str:
    head = f"#pgs_id=PGS999001\n#genome_build=GRCh38\n#weight_type={weight_type}\n"
    head += f"#variants_number={n if n is not None else len(weights)}\n"
    rows = "".join(f"1\t{100 * (i + 1)}\tA\tG\t{w}\n" for i, w in enumerate(weights))
    return ("\ufeff" if bom else "") + head + "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n" + rows


def test_weight_types_are_converted_or_rejected(tmp_path):
    import math

    from trd_spark.pgs.scoring_files import parse_scoring_file, weight_scale

    assert [weight_scale(t) for t in (None, "beta", "log(OR)", "log(HR)", "OR", "HR", "Odds Ratio")] == \
        ["as_is", "as_is", "as_is", "as_is", "log", "log", "log"]
    hr = parse_scoring_file(score_file("HR", ["2.0", "0.5"]), source="s.txt")
    assert hr.variants["effect_weight"].tolist() == pytest.approx([math.log(2.0), math.log(0.5)])
    assert any("ln(HR)" in n for n in hr.notes)  # said in the log and manifest notes
    with pytest.raises(InputDataError, match=r"s\.txt:3: #weight_type=Z-score cannot be converted"):
        parse_scoring_file(score_file("Z-score", ["1.0"]), source="s.txt")
    with pytest.raises(InputDataError, match=r"s\.txt:7: column effect_weight: #weight_type=OR needs a positive ratio"):
        parse_scoring_file(score_file("OR", ["1.1", "0"]), source="s.txt")


@pytest.mark.parametrize("case, extra", [
    ("multiallelic-effect-is-ref-three-alts", ""),
    ("partial-dosage-field-format-variants", ", dosage_field: DS"),
], ids=["three-alts", "dosage-format-variants"])
def test_session11_variants_score_as_expected(hl, spark, tmp_path, case, extra):
    """three-alts: an A/C score allele pair at a G>A,C,T site is not flipped onto the T row
    (it was: the T copies got its weight); REF effect alleles and haploid chrX at multi-allelic
    sites. dosage-format-variants: DS absent from FORMAT, '.' on a multi-allelic row, DS with
    GT missing (right before; kept)."""
    assert_expected(run_case(hl, spark, tmp_path, case, extra_genotypes=extra), case)


def test_snv_written_with_ref_and_alt_swapped_is_a_duplicate_row(hl, spark, tmp_path):
    """duplicate-genotype-rows-swapped: G>A and A>G at chr6:1000 are one site twice."""
    with pytest.raises(InputDataError, match=r"1 scored locus/loci have a genotype row more than once .*"
                                             r"chr6:1000 \(rows at .*data\.vcf:9, .*data\.vcf:10\)") as e:
        run_case(hl, spark, tmp_path, "duplicate-genotype-rows-swapped")
    assert e.value.where.endswith("genotypes/data.vcf:9") and "\n" not in str(e.value)


def test_dosage_outside_0_2_is_one_error_naming_field_and_site(hl, spark, tmp_path):
    """DS 2.5 / -0.1 were summed as given; plink2 stops ('invalid DS field')."""
    with pytest.raises(InputDataError, match=r"partial-dosage-field-out-of-range/genotypes/data\.vcf: reading the "
                                             r"genotypes failed: .*dosage field DS outside \[0, 2\] at chr13:4000000 T,C") as e:
        run_case(hl, spark, tmp_path, "partial-dosage-field-out-of-range", extra_genotypes=", dosage_field: DS")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("rows, match", [
    ("1\t100\tA\tG\t1.5\tOR\n1\t200\tA\tG\t0.1\tZ-score\n", r"s\.txt:7: column weight_type: .*Z-score cannot be converted"),
    ("1\t100\tA\tG\t-0.5\tbeta\n1\t200\tA\tG\t0\tHR\n", r"s\.txt:7: column effect_weight: .*needs a positive ratio \(value '0'"),
], ids=["unknown-type", "ratio-not-positive"])
def test_weight_type_column_errors_name_the_line(rows, match):
    from trd_spark.pgs.scoring_files import parse_scoring_file

    text = score_file("NR", []).replace("effect_weight\n", "effect_weight\tweight_type\n") + rows
    with pytest.raises(InputDataError, match=match):
        parse_scoring_file(text, source="s.txt")


@pytest.mark.parametrize("weight, match", [
    ("nan", "weight is not a finite number"), ("inf", "weight is not a finite number"), ("-12.5", r"\|weight\| > pgs.max_abs_weight 10"),
])
def test_non_finite_or_absurd_weights_name_the_line(weight, match):
    from trd_spark.pgs.scoring_files import parse_scoring_file

    with pytest.raises(InputDataError, match=rf"s\.txt:7: column effect_weight: {match}"):
        parse_scoring_file(score_file("beta", ["0.1", weight]), source="s.txt", max_abs_weight=10.0)


@pytest.mark.parametrize("weight", ["", "nan"], ids=["blank", "nan"])
def test_a_blank_weight_is_named_as_empty(weight):
    """A blank effect_weight (a row ending in a tab) is named by column and line and said to be
    empty; it read 'value None' before. A 'nan' is shown as written."""
    from trd_spark.pgs.scoring_files import parse_scoring_file

    shown = "the value is empty" if not weight else "value 'nan'"
    with pytest.raises(InputDataError, match=rf"^s\.txt:7: column effect_weight: weight is not a finite number "
                                             rf"\({shown}; 1 such row\)$"):
        parse_scoring_file(score_file("beta", ["0.1", weight, "0.2"]), source="s.txt")


def test_bom_and_variants_number_subset_are_accepted():
    from trd_spark.pgs.scoring_files import parse_scoring_file

    sf = parse_scoring_file(score_file("beta", ["0.1", "0.2"], n=1000, bom=True), source="s.txt")
    assert sf.pgs_id == "PGS999001" and len(sf.variants) == 2
    assert any("#variants_number says 1000 but the file has 2" in n for n in sf.notes)


# ---- covariate inputs ---------------------------------------------------------------------------

def test_ancestry_file_with_too_few_pcs_or_repeated_persons_is_an_error(spark):
    from trd_spark.cohort.stage import check_ancestry

    ok = [("1", "eur", "[0.1, 0.2, 0.3]"), ("2", "afr", "[0.4, 0.5, 0.6]")]
    cols = ["research_id", "ancestry_pred", "pca_features"]
    check_ancestry(spark.createDataFrame(ok, cols), 3, "anc.tsv")
    with pytest.raises(InputDataError, match=r"ancestry.path anc.tsv: 2 row\(s\) have fewer than covariates.n_pcs = 4"):
        check_ancestry(spark.createDataFrame(ok, cols), 4, "anc.tsv")
    with pytest.raises(InputDataError, match=r"ancestry.path anc.tsv: 1 duplicated research_id"):
        check_ancestry(spark.createDataFrame([*ok, ("2", "afr", "[0.4, 0.5, 0.6]")], cols), 3, "anc.tsv")


def test_ancestry_research_ids_with_leading_zeros_are_one_error(spark):
    """sample-ids-leading-zeros-ancestry: 01001 and 1003.0 beside 1001 and 1003 are one error
    naming file and column with counts only (a cast to long made them second rows of 1001 and
    1003, unseen by the duplicate check on the raw text)."""
    from trd_spark.cohort.stage import check_ancestry, read_tsv

    path = str(CASES / "sample-ids-leading-zeros-ancestry" / "ancestry_preds.tsv")
    df = read_tsv(spark, path, ["research_id", "ancestry_pred", "pca_features"], "ancestry")
    with pytest.raises(InputDataError, match=rf"^ancestry\.path {path}: column research_id: value\(s\) are not a "
                                             r"person_id written as a plain integer .*; some of them would merge") as e:
        check_ancestry(df, 16, path)
    message = without_paths(str(e.value))
    assert "01001" not in message and "1003.0" not in message and "\n" not in str(e.value)
    check_ancestry(read_tsv(spark, str(CASES / "ancestry_preds.tsv"), ["research_id"], "ancestry"), 16, "a.tsv")


@pytest.mark.parametrize("ids, match", [
    ([" 7", "8"], r"column j\.s: value\(s\) .*plain integer .*; some of them would merge"),  # ' 7' beside the third row's '7'
    (["8", "HG00096"], r"column j\.s: value\(s\) are not a person_id (?!.*would merge)"),  # a sample name: no merge counted
    (["8", "9"], None),
], ids=["space", "sample-name", "plain"])
def test_related_pairs_ids_follow_the_person_id_rule(spark, ids, match):
    from trd_spark.cohort.stage import check_person_ids

    df = spark.createDataFrame([("7", ids[0]), ("7", ids[1]), ("8", "7")], ["i.s", "j.s"])
    if match is None:
        check_person_ids(df, ["i.s", "j.s"], "ancestry.related_pairs r.tsv")
        return
    with pytest.raises(InputDataError, match=r"^ancestry\.related_pairs r\.tsv: " + match):
        check_person_ids(df, ["i.s", "j.s"], "ancestry.related_pairs r.tsv")


def test_multiallelic_bgen_scores_as_plink2_and_counts_the_skipped_sites(hl, spark, tmp_path, caplog):
    """The multi-allelic field case as one BGEN 1.2 file holding the unsplit rows (written by
    Hail's export_bgen; plink2 cannot write one): Hail and plink2 read biallelic BGEN variants
    only, so the two multi-allelic sites are skipped by both, with a warning, and counted
    (``n_unreadable``, ``multiallelic_unreadable``), never scored as missing. Oracle:

        plink2 --bgen m.bgen ref-first --sample m.sample --set-all-var-ids @:# [--read-freq] \\
               --score score.tsv 1 2 header-read cols=+scoresums,+denom --score-col-nums 3-4
    """
    import logging

    from test_pgs_plink2_oracle import MULTI_SCORE

    case = "multiallelic-effect-is-ref"
    mt = hl.import_vcf(str(next((CASES / case / "genotypes").iterdir())), reference_genome="GRCh38", force_bgz=True)
    # Hard-call probabilities (VCF genotype order), one missing genotype at the biallelic site.
    n_gp = hl.len(mt.alleles) * (hl.len(mt.alleles) + 1) // 2
    gp = hl.range(n_gp).map(lambda i: hl.float64(hl.unphased_diploid_gt_index_call(i) == mt.GT))
    mt = mt.annotate_entries(GP=hl.or_missing((mt.locus.position != 2000000) | (mt.s != "1004"), gp))
    hl.export_bgen(mt, str(tmp_path / "m"))
    (tmp_path / "score.tsv").write_text(MULTI_SCORE)
    common = [shutil.which("plink2"), "--bgen", str(tmp_path / "m.bgen"), "ref-first", "--sample",
              str(tmp_path / "m.sample"), "--set-all-var-ids", "@:#", "--threads", "1"]
    subprocess.run([*common, "--freq", "--out", str(tmp_path / "f")], check=True, capture_output=True)
    plink = subprocess.run([*common, "--read-freq", str(tmp_path / "f.afreq"), "--score", str(tmp_path / "score.tsv"),
                            "1", "2", "header-read", "cols=+scoresums,+denom", "--score-col-nums", "3-4",
                            "--out", str(tmp_path / "o")], check=True, capture_output=True, text=True)
    assert "2 multiallelic variants skipped" in plink.stdout + plink.stderr  # plink2 drops them too
    ref = pd.read_csv(tmp_path / "o.sscore", sep="\t").set_index("IID")

    cfg = case_config(tmp_path, str(tmp_path / "m.bgen"), f"{CASES / case}/scores/*", fmt="bgen")
    with caplog.at_level(logging.WARNING):
        files = stage.load_scoring_files(spark, cfg, "GRCh38")
        r = stage.match_dataset(hl, spark, cfg, "d", files)
    assert "2 multi-allelic BGEN variant(s) at 2 locus/loci skipped (e.g. chr4:1000000, chr4:3000000)" in caplog.text
    assert "PGS910201: 2 variants not scored" in caplog.text
    summary = r.summary.set_index("pgs_id")
    assert summary["n_unreadable"].tolist() == [2, 2] and summary["n_matched"].tolist() == [1, 1]
    assert summary["n_not_found"].tolist() == [0, 0]
    from trd_spark.pgs.matching import variant_matches_pandas

    log = variant_matches_pandas(r.frame, "d")
    assert (log["match_type"] == "multiallelic_unreadable").sum() == 4
    got = published_frame(stage.scores_of_dataset(hl, spark, cfg, r)).set_index(["person_id", "pgs_id"])
    assert len(got) == 12
    for person in ref.index:
        for pgs_id in ("PGS910201", "PGS910202"):
            row = got.loc[(person, pgs_id)]
            assert row.score_sum == pytest.approx(ref.loc[person, f"{pgs_id}_SUM"], abs=1e-6), (person, pgs_id)
            assert row.allele_count == ref.loc[person, "ALLELE_CT"], (person, pgs_id)
    assert got.loc[(1004, "PGS910201"), "n_missing"] == 1


def test_locate_rows_names_file_and_line_in_vcf_bim_and_pvar(tmp_path):
    from trd_spark.config import GenotypeSource
    from trd_spark.pgs.genotypes import locate_rows

    (tmp_path / "g.bim").write_text("6\tv1\t0\t1000\tG\tA\n6\tv2\t0\t3000000\tG\tA\n6\tv2b\t0\t3000000\tG\tA\n")
    (tmp_path / "g.pvar").write_text("##x\n#CHROM\tPOS\tID\tREF\tALT\nchr6\t3000000\tv\tA\tG\n23\t5\tx\tA\tG\n")
    got = locate_rows(GenotypeSource(format="plink", path=str(tmp_path / "g.bed")), ["chr6:3000000"])
    assert got == {"chr6:3000000": [f"{tmp_path}/g.bim:2", f"{tmp_path}/g.bim:3"]}
    got = locate_rows(GenotypeSource(format="pgen", path=str(tmp_path / "g")), ["chr6:3000000", "chrX:5"])
    assert got == {"chr6:3000000": [f"{tmp_path}/g.pvar:3"], "chrX:5": [f"{tmp_path}/g.pvar:4"]}
    vcfs = CASES / "duplicate-genotype-rows" / "genotypes"
    got = locate_rows(GenotypeSource(path=str(vcfs / "*")), ["chr6:3000000", "chr6:4000000"])
    assert got == {"chr6:3000000": [f"{vcfs}/chunk1.vcf.bgz:9", f"{vcfs}/chunk2.vcf.bgz:7"],
                   "chr6:4000000": [f"{vcfs}/chunk2.vcf.bgz:8"]}
    assert locate_rows(GenotypeSource(format="mt", path=str(tmp_path / "x.mt")), ["chr6:3000000"]) == {}
