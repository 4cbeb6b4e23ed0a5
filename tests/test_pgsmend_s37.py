"""Session 37 pgsmend: user text files compressed other than with gzip (field-case kind
"compressed file formats", as plain-gzip-vcf).

PGS Catalog users recompress the Catalog's ``.txt.gz`` (``.txt.zst``, ``.txt.bz2``, ``.txt.xz``)
or zip it. Before (45f9cc3) such a scoring file failed with "not UTF-8 text" (the file named, the
cause not), a folder of them held "no scoring file", and a compressed sample map, sex file or
ancestry file failed on its first byte or was read as garbage text. Now gzip / zstd / bzip2 / xz
are read by their first bytes (``trd_spark.compressed``) and a zip, or a file Spark cannot
decompress, is one error naming the file, the format and the command giving plain text. The
compressed files are written by the real command-line tools (gzip, zstd, bzip2, xz, zip) where
present, else by Python's modules of the same formats.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from trd_spark.errors import InputDataError

_SCORE = ("#pgs_id=PGS993701\n#genome_build=GRCh38\n"
          "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
          "1\t1000\tA\tG\t0.5\n1\t2000\tC\tT\t-0.25\n2\t3000\tG\tA\t1.5\n")
# format -> (command writing FILE.<suffix> beside FILE, kept; suffix)
_TOOLS = {"gzip": (["gzip", "-k", "-f"], ".gz"), "zstd": (["zstd", "-q", "-f"], ".zst"),
          "bzip2": (["bzip2", "-k", "-f"], ".bz2"), "xz": (["xz", "-k", "-f"], ".xz")}


def _compress(plain: Path, kind: str) -> Path:
    """``plain`` compressed as ``kind`` beside it (``plain`` + suffix), by the real tool when
    installed, else Python's module of that format (zstd: backports.zstd)."""
    cmd, suffix = _TOOLS[kind]
    out = Path(str(plain) + suffix)
    if shutil.which(cmd[0]):
        subprocess.run([*cmd, str(plain)], check=True)
    else:
        if kind == "zstd":
            from backports import zstd
            module = zstd
        else:
            module = {"gzip": gzip, "bzip2": bz2, "xz": lzma}[kind]
        out.write_bytes(module.compress(plain.read_bytes()))
    assert out.exists() and out.read_bytes() != plain.read_bytes()
    return out


@pytest.mark.parametrize("kind", ["zstd", "bzip2", "xz", "gzip"])
def test_compressed_scoring_file_reads_as_the_plain_one(tmp_path, kind):
    """A scoring file recompressed as zstd / bzip2 / xz (gzip as the control) gives the plain
    file's variants and weights, by the full read and by the header-only read (preflight's
    trait-panel check); a folder holding only it reads it. Before: "not UTF-8 text" for all
    but gzip, and the folder had no file named as a scoring file."""
    from trd_spark.pgs.scoring_files import read_scoring_file, read_scoring_file_header, scoring_file_paths

    plain = tmp_path / "PGS993701.txt"
    plain.write_text(_SCORE)
    packed = _compress(plain, kind)
    want = read_scoring_file(str(plain)).variants
    got = read_scoring_file(str(packed)).variants
    assert len(want) == 3
    assert got.equals(want)
    assert read_scoring_file_header(str(packed))["pgs_id"] == ("PGS993701", 1)
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(packed, folder / packed.name)
    assert scoring_file_paths(None, [str(folder)]) == [str(folder / packed.name)]


def test_zipped_scoring_file_is_one_error_saying_unzip(tmp_path):
    """A zip archive of a scoring file (any name) is one error naming the file, that it is a
    zip archive, and ``unzip <name>``; the header-only read says the same. Before: "not UTF-8
    text: 'utf-8' codec can't decode byte ..." (the cause not named)."""
    from trd_spark.pgs.scoring_files import read_scoring_file, read_scoring_file_header

    path = tmp_path / "PGS993701.txt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("PGS993701.txt", _SCORE)
    for read in (read_scoring_file, read_scoring_file_header):
        with pytest.raises(InputDataError) as e:
            read(str(path))
        text = str(e.value)
        assert len(text.splitlines()) == 1
        assert str(path) in text and "zip archive" in text and "`unzip PGS993701.txt`" in text


@pytest.mark.parametrize("kind", ["xz", "zstd", "bzip2"])
def test_truncated_compressed_scoring_file_names_format_and_file(tmp_path, kind):
    """A zstd / bzip2 / xz scoring file cut short (a copy interrupted) is one error naming the
    file and the format, never a partial read. Before: "not UTF-8 text"."""
    from trd_spark.pgs.scoring_files import read_scoring_file

    plain = tmp_path / "s.txt"
    plain.write_text(_SCORE * 1)
    packed = _compress(plain, kind)
    cut = tmp_path / f"cut{packed.suffix}"
    cut.write_bytes(packed.read_bytes()[:-6])
    with pytest.raises(InputDataError) as e:
        read_scoring_file(str(cut))
    text = str(e.value)
    assert len(text.splitlines()) == 1 and str(cut) in text
    assert f"corrupt or truncated {kind} data" in text


def test_compressed_sample_map_and_sex_file_are_read(hl, spark, tmp_path):
    """A dataset's sample map (xz) and sex file (zstd) compressed, with VCF samples s1..s4
    mapped to persons 1001-1004: the sex file (keyed by sample, as plink2 --update-sex) is read
    and carried to the persons through the sample map (1001-1002 male, 1003 female, 1004 not
    in the file). Before: the sample map failed on its first byte
    (not UTF-8: UnicodeDecodeError)."""
    from test_field_cases_pgs import case_config

    from trd_spark.pgs import stage

    (tmp_path / "d.vcf").write_text(
        "##fileformat=VCFv4.2\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
        "##contig=<ID=chr1,length=248956422>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\ts3\ts4\n"
        "chr1\t1000\trs1\tG\tA\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\t0/1\n")
    (tmp_path / "score.txt").write_text(_SCORE)
    (tmp_path / "map.tsv").write_text("sample_id\tperson_id\ns1\t1001\ns2\t1002\ns3\t1003\ns4\t1004\n")
    (tmp_path / "sex.tsv").write_text("IID\tSEX\ns1\t1\ns2\t1\ns3\t2\n")
    smap, sex = _compress(tmp_path / "map.tsv", "xz"), _compress(tmp_path / "sex.tsv", "zstd")
    cfg = case_config(tmp_path, str(tmp_path / "d.vcf"), str(tmp_path / "score.txt"),
                      extra_genotypes=f', sample_map: "{smap}", sex_source: {{path: "{sex}"}}',
                      extra_pgs="  native: {engine: hail}")
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    r = stage.match_dataset(hl, spark, cfg, "d", files)
    assert r.sex.source == "file"
    assert r.sex.declared == {"1001": 1, "1002": 1, "1003": 2}


def test_compressed_sample_map_zip_is_one_error(hl, spark, tmp_path):
    """A zipped sample map is one error naming it and ``unzip``."""
    from test_field_cases_pgs import case_config

    from trd_spark.pgs import stage

    (tmp_path / "score.txt").write_text(_SCORE)
    smap = tmp_path / "map.tsv"
    with zipfile.ZipFile(smap, "w") as z:
        z.writestr("map.tsv", "sample_id\tperson_id\ns1\t1001\n")
    cfg = case_config(tmp_path, str(tmp_path / "d.vcf"), str(tmp_path / "score.txt"),
                      extra_genotypes=f', sample_map: "{smap}"')
    (tmp_path / "d.vcf").write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\nchr1\t1000\trs1\tG\tA\t.\tPASS\t.\tGT\t0/1\n")
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    with pytest.raises(InputDataError) as e:
        stage.match_dataset(hl, spark, cfg, "d", files)
    text = str(e.value)
    assert str(smap) in text and "sample map is a zip archive" in text and "`unzip map.tsv`" in text


@pytest.mark.parametrize(("kind", "name", "says"), [
    ("xz", "anc.tsv.xz", "xz-compressed, which Spark does not read: decompress it (`xz -d anc.tsv.xz`)"),
    ("gzip", "anc.tsv", "gzip-compressed, not named .gz: decompress it (`gunzip anc.tsv`)"),
    ("zstd", "anc.tsv", "zstd-compressed, not named .zst: decompress it (`zstd -d anc.tsv`)"),
])
def test_ancestry_file_spark_cannot_decompress_is_one_error(spark, tmp_path, kind, name, says):
    """The ancestry file (read by Spark's CSV reader) compressed as xz (no Hadoop codec), or
    gzip / zstd under a name without the suffix Spark's codecs go by: one error naming the file,
    the format and the command. Before: Spark read the compressed bytes as text and failed on
    "missing column(s)" naming binary garbage as the header. A .gz-named gzip file still reads."""
    from trd_spark.cohort.stage import read_tsv

    plain = tmp_path / "anc"
    plain.write_text("research_id\tancestry_pred\tpca_features\n1001\teur\t[0.1]\n")
    packed = _compress(plain, kind)
    path = tmp_path / name
    packed.rename(path)
    with pytest.raises(InputDataError) as e:
        read_tsv(spark, str(path), ["research_id", "ancestry_pred", "pca_features"], "ancestry")
    assert str(path) in str(e.value) and f"ancestry is {says}" in str(e.value)
    gz = _compress(plain, "gzip")
    assert read_tsv(spark, str(gz), ["research_id"], "ancestry").count() == 1


def test_omop_csv_table_spark_cannot_decompress_is_one_error(spark, tmp_path):
    """An OMOP CSV table gzip-compressed under the name ``{table}.csv``, or a table folder whose
    part file is xz: one error naming the file, the format and the command; a folder of
    ``.csv.gz`` parts (Spark's own codec) still reads. Before: Spark read the compressed bytes as
    the CSV header (a missing-column error naming binary garbage)."""
    from test_phenotypes_support import toy_config

    from trd_spark.phenotypes.omop import read_omop_table

    header = "person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date,days_supply,refills,sig\n"
    plain = tmp_path / "rows.csv"
    plain.write_text(header + "1,2000000101,2020-01-01,2020-01-01,30,0,\n")
    omop = toy_config(path=str(tmp_path / "omop"), format="csv").omop
    (tmp_path / "omop").mkdir()
    table = tmp_path / "omop" / "drug_exposure.csv"
    table.write_bytes(_compress(plain, "gzip").read_bytes())
    with pytest.raises(InputDataError) as e:
        read_omop_table(spark, omop, "drug_exposure")
    assert str(table) in str(e.value)
    assert "OMOP table drug_exposure is gzip-compressed, not named .gz: decompress it (`gunzip drug_exposure.csv`)" \
        in str(e.value)
    table.unlink()
    folder = tmp_path / "omop" / "drug_exposure"
    folder.mkdir()
    part = folder / "part-00000.csv.xz"
    part.write_bytes(_compress(plain, "xz").read_bytes())
    with pytest.raises(InputDataError) as e:
        read_omop_table(spark, omop, "drug_exposure")
    assert str(part) in str(e.value) and "xz-compressed, which Spark does not read" in str(e.value)
    part.unlink()
    (folder / "part-00000.csv.gz").write_bytes(_compress(plain, "gzip").read_bytes())
    assert read_omop_table(spark, omop, "drug_exposure").count() == 1


def test_ancestry_zst_this_spark_cannot_decompress_says_zstd_d(spark, tmp_path):
    """An ancestry file named ``.tsv.zst``, where this Spark has no native zstd (a pip-installed
    pyspark's Hadoop: "native zStandard library not available"; on a cluster whose Hadoop has it
    the file is read), is one error line naming the file and ``zstd -d``. Before: "cannot read:"
    followed by the Py4J text and the Java stack."""
    from trd_spark.cohort.stage import read_tsv

    plain = tmp_path / "anc.tsv"
    plain.write_text("research_id\tancestry_pred\tpca_features\n1001\teur\t[0.1]\n")
    packed = _compress(plain, "zstd")
    try:
        df = read_tsv(spark, str(packed), ["research_id"], "ancestry")
    except InputDataError as e:
        text = str(e)
        assert len(text.splitlines()) == 1 and str(packed) in text
        assert "(zstd, which this Spark cannot decompress: `zstd -d anc.tsv.zst`)" in text
    else:  # a Hadoop with native zstd reads it as the plain file
        assert df.count() == 1
