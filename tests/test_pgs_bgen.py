"""BGEN scored by the native engine (``bgen_reader`` + ``pgen_engine``) against Hail's route and plink2.

Data: tests/data/pgs/tiny.vcf (4 samples, missing calls at 200 and 900, a multi-allelic site at
300: G>A,C) written by Hail's ``export_bgen`` (BGEN 1.2, 8-bit, zlib, sample IDs embedded) with
probabilities that are not all hard calls (sample 101 at 100 and 500: 0.6/0.3/0.1 and
0.2/0.5/0.3), so the dosage is the expected ALT count of the 8-bit probabilities. The
multi-allelic row stays in the file: Hail and plink2 do not read it and neither does the native
reader; its score variants are counted ``multiallelic_unreadable``.

Scores: PGS000901 and test_pgs_native_engine's PGS000912 (REF effect allele at 300, a flip at
700). Oracles: the stage's own steps with ``pgs.native.engine: hail`` (Hail's import_bgen and
scoring pass) to 1e-9, and

    plink2 --bgen m.bgen ref-first --sample m.sample --set-all-var-ids @:# [--freq | --read-freq f.afreq] \\
           --score s.tsv 1 2 3 header cols=+scoresums [no-mean-imputation]

(plink2 keeps dosages in 1/16384 units: its sums may differ by ~1e-5 per dosage entry).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_field_cases_pgs import case_config, run_scores
from test_pgs_native_engine import SECOND_SCORE, split_vcf

from trd_spark.errors import InputDataError
from trd_spark.pgs import bgen_reader, stage
from trd_spark.pgs.genotypes import contig_recoding

DATA = Path(__file__).parent / "data" / "pgs"

# PGS000901's scored variants for plink2 on the genotypes' strand (500 and 600 flipped by hand;
# 300 is multi-allelic and 400 a dropped palindrome; IDs @:#).
PLINK2_SCORE = "ID\tA1\tW\n1:100\tG\t0.5\n1:200\tC\t-1.0\n1:500\tC\t0.25\n1:600\tG\t3.0\n1:900\tG\t1.5\n"


def plink2(*args: str) -> str:
    exe = shutil.which("plink2")
    assert exe, "plink2 must be on PATH (apt-get install plink2)"
    done = subprocess.run([exe, "--threads", "1", *args], check=True, capture_output=True, text=True)
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def bgen(hl, tmp_path_factory) -> Path:
    """tiny.vcf as m.bgen (+ m.sample), the multi-allelic row kept, two soft probabilities."""
    d = tmp_path_factory.mktemp("bgen")
    mt = hl.import_vcf(str(DATA / "tiny.vcf"), reference_genome="GRCh38", contig_recoding=contig_recoding("GRCh38"))
    n_gp = hl.len(mt.alleles) * (hl.len(mt.alleles) + 1) // 2
    hard = hl.range(n_gp).map(lambda i: hl.float64(hl.unphased_diploid_gt_index_call(i) == mt.GT))
    soft = (hl.case().when((mt.s == "101") & (mt.locus.position == 100), [0.6, 0.3, 0.1])
            .when((mt.s == "101") & (mt.locus.position == 500), [0.2, 0.5, 0.3]).or_missing())
    mt = mt.annotate_entries(GP=hl.or_else(soft, hl.or_missing(hl.is_defined(mt.GT), hard)))
    hl.export_bgen(mt, str(d / "m"))
    return d / "m.bgen"


def scores_of(hl, spark, tmp: Path, path: Path, engine: str, missing: str) -> pd.DataFrame:
    (tmp / "scores").mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "PGS000901.txt", tmp / "scores" / "a.txt")
    (tmp / "scores" / "b.txt").write_text(SECOND_SCORE)
    cfg = case_config(tmp, str(path), f"{tmp}/scores/*", fmt="bgen",
                      extra_pgs=f"  missing_genotypes: {missing}\n  native: {{engine: {engine}}}")
    return run_scores(hl, spark, cfg).set_index(["pgs_id", "person_id"]).sort_index()


@pytest.mark.parametrize("missing", ["mean_impute", "zero"])
def test_bgen_native_equals_hail_and_plink2(hl, spark, bgen, tmp_path, caplog, missing):
    """Same scores, counts and missing counts from the native engine and Hail's route (1e-9),
    sums equal to plink2's on the same file; the multi-allelic row is skipped by all three."""
    import logging

    with caplog.at_level(logging.INFO):
        native = scores_of(hl, spark, tmp_path / "n", bgen, "native", missing)
    assert "pgs: native engine for bgen genotypes" in caplog.text
    assert "1 multi-allelic BGEN variant(s) at 1 locus/loci skipped (e.g. chr1:300)" in caplog.text
    hail = scores_of(hl, spark, tmp_path / "h", bgen, "hail", missing)
    assert list(native.index) == list(hail.index) and len(native) == 8
    pd.testing.assert_frame_equal(native[["allele_count", "n_missing", "n_matched"]],
                                  hail[["allele_count", "n_missing", "n_matched"]])
    for col in ("score_sum", "score_avg"):
        assert (native[col] - hail[col]).abs().max() <= 1e-9, col
    assert native.loc["PGS000901", "n_missing"].tolist() == [0, 1, 0, 1]
    # Not vacuous: sample 101 by hand, 0.5 x 0.5 (soft dosage at 100) - 1.0 (200, REF effect) +
    # 0.25 x 1.1 (500 flipped, soft) + 3.0 x 2 (600 flipped, REF effect) + 1.5 (900), within the
    # 8-bit rounding of the two soft dosages.
    assert native.loc[("PGS000901", 101), "score_sum"] == pytest.approx(7.025, abs=0.01)

    d = tmp_path / "p"
    d.mkdir()
    (d / "s.tsv").write_text(PLINK2_SCORE)
    source = ["--bgen", str(bgen), "ref-first", "--sample", str(bgen.with_suffix(".sample")), "--set-all-var-ids", "@:#"]
    out = plink2(*source, "--freq", "--out", str(d / "f"))
    assert re.search(r"\b1 multiallelic variants? skipped", out), out  # plink2 skips it too
    plink2(*source, "--read-freq", str(d / "f.afreq"), "--score", str(d / "s.tsv"), "1", "2", "3", "header",
           "cols=+scoresums", *([] if missing == "mean_impute" else ["no-mean-imputation"]), "--out", str(d / "o"))
    ref = pd.read_csv(d / "o.sscore", sep="\t").rename(columns={"#IID": "IID"}).set_index("IID")["SCORE1_SUM"]
    ours = native.loc["PGS000901", "score_sum"]
    assert sorted(ref.index) == sorted(ours.index)
    for s in ref.index:
        assert ours[s] == pytest.approx(ref[s], abs=1e-4), s


def _strip_sample_ids(src: Path, dst: Path) -> None:
    """``src`` without its sample identifier block (flag bit 31 cleared, offset moved)."""
    raw = src.read_bytes()
    offset = int.from_bytes(raw[0:4], "little")
    lh = int.from_bytes(raw[4:8], "little")
    flags = int.from_bytes(raw[4 + lh - 4:4 + lh], "little")
    assert flags >> 31
    header = bytearray(raw[4:4 + lh])
    header[lh - 4:lh] = (flags & 0x7FFFFFFF).to_bytes(4, "little")
    dst.write_bytes(lh.to_bytes(4, "little") + bytes(header) + raw[4 + offset:])


def _recompress_zstd(src: Path, dst: Path) -> None:
    """``src`` (layout 2, zlib) with every genotype block inflated and compressed again by zstd
    and the header's compression flag set to 2, as the BGEN 1.2 spec lays it out
    (https://www.well.ox.ac.uk/~gav/bgen_format/spec/latest.html: a block is C = compressed
    length + 4, D = uncompressed length, then the data; qctool ``-bgen-compression zstd``
    writes it). Written here because qctool is not installed and neither Hail nor plink2
    writes zstd."""
    from backports import zstd

    files = bgen_reader.BgenFiles.open(str(src))
    raw = src.read_bytes()
    lh = int.from_bytes(raw[4:8], "little")
    flags = int.from_bytes(raw[lh:4 + lh], "little")
    assert flags & 3 == 1
    out = bytearray(raw[:files.first_variant])
    out[lh:4 + lh] = (flags & ~3 | 2).to_bytes(4, "little")
    for offset, size in bgen_reader._from_headers(files)[["offset", "size"]].itertuples(index=False):
        block = raw[offset:offset + size]
        p = 0
        for _ in range(3):  # variant id, rsid, chromosome
            p += 2 + int.from_bytes(block[p:p + 2], "little")
        p += 6  # position, number of alleles K
        for _ in range(int.from_bytes(block[p - 2:p], "little")):
            p += 4 + int.from_bytes(block[p:p + 4], "little")
        c, d = int.from_bytes(block[p:p + 4], "little"), int.from_bytes(block[p + 4:p + 8], "little")
        assert p + 4 + c == size
        data = zlib.decompress(block[p + 8:p + 4 + c])
        assert len(data) == d
        z = zstd.compress(data)
        out += block[:p] + (len(z) + 4).to_bytes(4, "little") + d.to_bytes(4, "little") + z
    dst.write_bytes(bytes(out))


def test_zstd_bgen_with_a_sample_file_scores_as_the_zlib_one_on_both_routes(hl, spark, bgen, tmp_path):
    """The fixture's BGEN without its embedded sample IDs and recompressed with zstd
    (compression 2), the IDs in a plink2-style .sample (ID_1 = 0, ID_2 = the person): the
    native engine and Hail's import_bgen route give the zlib file's scores, persons by ID_2.
    Before session 13, Hail's route named the samples "_0".."_3" (import_bgen without
    sample_file; Hail's sample_file= reads ID_1) and the dataset was refused as non-person IDs;
    zstd was read by neither test."""
    _strip_sample_ids(bgen, tmp_path / "plain.bgen")
    _recompress_zstd(tmp_path / "plain.bgen", tmp_path / "z.bgen")
    (tmp_path / "z.sample").write_text("ID_1 ID_2 missing sex\n0 0 0 D\n" + "".join(
        f"0 {s} 0 NA\n" for s in (101, 102, 103, 104)))
    files = bgen_reader.BgenFiles.open(str(tmp_path / "z.bgen"))
    assert (files.compression, files.embedded_ids) == (2, None)
    want = scores_of(hl, spark, tmp_path / "r", bgen, "native", "mean_impute")
    native = scores_of(hl, spark, tmp_path / "n", tmp_path / "z.bgen", "native", "mean_impute")
    hail = scores_of(hl, spark, tmp_path / "h", tmp_path / "z.bgen", "hail", "mean_impute")
    assert sorted(set(native.index.get_level_values("person_id"))) == [101, 102, 103, 104]
    pd.testing.assert_frame_equal(native, want)
    assert list(hail.index) == list(want.index)
    pd.testing.assert_frame_equal(hail[["allele_count", "n_missing", "n_matched"]],
                                  want[["allele_count", "n_missing", "n_matched"]])
    for col in ("score_sum", "score_avg"):
        assert (hail[col] - want[col]).abs().max() <= 1e-9, col


def _write_bgi(files: bgen_reader.BgenFiles, path: str) -> None:
    """A bgenix index (its Metadata and Variant tables) of ``files``, from the header pass."""
    table = bgen_reader._from_headers(files)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE Metadata (filename TEXT NOT NULL, file_size INT NOT NULL, last_write_time INT NOT "
               "NULL, first_1000_bytes BLOB NOT NULL, index_creation_time INT NOT NULL)")
    db.execute("CREATE TABLE Variant (chromosome TEXT NOT NULL, position INT NOT NULL, rsid TEXT NOT NULL, "
               "number_of_alleles INT NOT NULL, allele1 TEXT NOT NULL, allele2 TEXT NULL, file_start_position "
               "INT NOT NULL, size_in_bytes INT NOT NULL)")
    data = Path(files.path).read_bytes()
    db.execute("INSERT INTO Metadata VALUES (?, ?, 0, ?, 0)", (files.path, len(data), data[:1000]))
    db.executemany("INSERT INTO Variant VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [(r.chrom, int(r.pos), r.rsid, int(r.n_alleles), r.a1, r.a2, int(r.offset), int(r.size))
                    for r in table.itertuples()])
    db.commit()
    db.close()


def recode(c: str) -> str:
    return contig_recoding("GRCh38").get(c, c)


def test_variant_list_from_bgi_and_header_pass_and_sample_ids(bgen, tmp_path):
    """The variant index is the file's biallelic rows with their byte ranges, the same from a
    bgenix .bgi as from the header pass; a .bgi of another file is one error naming it. Sample
    IDs: embedded, else ID_2 of the .sample beside the file, else one error."""
    shutil.copy(bgen, tmp_path / "m.bgen")
    files = bgen_reader.BgenFiles.open(str(tmp_path / "m.bgen"))
    assert (files.n_samples, files.n_variants, files.compression) == (4, 9, 1)
    assert bgen_reader.sample_ids(files) == ["101", "102", "103", "104"]
    headers = bgen_reader.variant_index(files, recode)
    by_headers = headers.frame
    assert by_headers["position"].tolist() == [100, 200, 400, 500, 600, 700, 800, 900]
    assert by_headers["variant_idx"].tolist() == [0, 1, 3, 4, 5, 6, 7, 8]  # 300 (index 2) left out
    assert by_headers["contig"].unique().tolist() == ["chr1"]
    assert (headers.multiallelic_loci, headers.n_multiallelic) == (("chr1:300",), 1)
    assert (headers.allele_idx_offsets, headers.first_line, headers.variant_numbers) == (None, 1, True)
    _write_bgi(files, str(tmp_path / "m.bgen.bgi"))
    bgi = bgen_reader.variant_index(files, recode)
    pd.testing.assert_frame_equal(bgi.frame, by_headers)
    assert (bgi.multiallelic_loci, bgi.n_multiallelic) == (headers.multiallelic_loci, headers.n_multiallelic)

    shutil.copy(tmp_path / "m.bgen.bgi", tmp_path / "other.bgen.bgi")
    _strip_sample_ids(bgen, tmp_path / "other.bgen")
    other = bgen_reader.BgenFiles.open(str(tmp_path / "other.bgen"))
    with pytest.raises(InputDataError, match=r"other\.bgen\.bgi: the index describes another file"):
        bgen_reader.variant_index(other, recode)
    (tmp_path / "other.bgen.bgi").unlink()
    assert other.embedded_ids is None
    pd.testing.assert_frame_equal(bgen_reader.variant_index(other, recode).frame.drop(columns="offset"),
                                  by_headers.drop(columns="offset"))
    with pytest.raises(InputDataError, match=r"other\.bgen: the BGEN embeds no sample IDs and has no \.sample"):
        bgen_reader.sample_ids(other)
    (tmp_path / "other.sample").write_text("ID_1 ID_2 missing\n0 0 0\n0 7 0\n0 8 0\n0 9 0\n0 10 0\n")
    assert bgen_reader.sample_ids(other) == ["7", "8", "9", "10"]


def test_bad_bgen_is_one_error_naming_the_file(hl, spark, bgen, tmp_path):
    """A file that is not BGEN, one cut short, and one whose probabilities Hail refuses too
    (16-bit) are each one InputDataError naming the file, raised while matching (before Spark
    reads a genotype); a corrupt block found by a Spark task too."""
    shutil.copy(DATA / "PGS000901.txt", tmp_path / "a.txt")
    raw = bgen.read_bytes()
    (tmp_path / "text.bgen").write_text("chr1\t100\tA\tG\n" * 10)
    (tmp_path / "cut.bgen").write_bytes(raw[:len(raw) - 60])
    split_vcf(DATA / "tiny.vcf", tmp_path / "split.vcf")
    plink2("--vcf", str(tmp_path / "split.vcf"), "--export", "bgen-1.2", "bits=16", "--out", str(tmp_path / "b16"))
    cases = {"text.bgen": r"not a BGEN file", "cut.bgen": r"the BGEN ends inside variant 9 of 9",
             "b16.bgen": r"the variant block at byte \d+ holds .*'bits': 16.*only unphased diploid biallelic 8-bit"}
    for name, message in cases.items():
        cfg = case_config(tmp_path, str(tmp_path / name), str(tmp_path / "a.txt"), fmt="bgen")
        files = stage.load_scoring_files(spark, cfg, "GRCh38")
        with pytest.raises(InputDataError, match=rf"^{tmp_path}/{name}: {message}") as e:
            stage.match_dataset(hl, spark, cfg, "d", files)
        assert "\n" not in str(e.value)
    # A block past the first that does not inflate (its zlib checksum overwritten) fails in the
    # Spark task that reads it: still one line naming the file (stage.hail_errors).
    index = bgen_reader.variant_index(bgen_reader.BgenFiles.open(str(bgen)), recode).frame
    end = int(index["offset"].iloc[1] + index["size"].iloc[1])
    (tmp_path / "bad.bgen").write_bytes(raw[:end - 4] + b"\xff\xff\xff\xff" + raw[end:])
    cfg = case_config(tmp_path, str(tmp_path / "bad.bgen"), str(tmp_path / "a.txt"), fmt="bgen")
    # (after the dataset's name since session 40: stage.hail_errors gives a task's own error its ``where``)
    with pytest.raises(InputDataError, match=rf"^datasets\.d\.genotypes {tmp_path}/bad\.bgen: {tmp_path}/bad\.bgen: "
                                             rf"cannot (read|decompress) the variant block "
                                             rf"at byte {int(index['offset'].iloc[1])}: ") as e:
        run_scores(hl, spark, cfg)
    assert "\n" not in str(e.value) and "Traceback" not in str(e.value)


def test_a_zstd_block_that_does_not_decompress_is_bad_input_and_a_bug_of_ours_is_not(bgen, tmp_path):
    """A zstd block whose frame does not decompress is one InputDataError naming the file and
    the block's byte offset (zstd's ZstdError is turned into the reader's ValueError); an error
    of ours in the same code (a TypeError) passes through as a bug, where an ``except
    Exception`` read it as a file that cannot be decompressed (review of session 21)."""
    _recompress_zstd(bgen, tmp_path / "z.bgen")
    index = bgen_reader.variant_index(bgen_reader.BgenFiles.open(str(tmp_path / "z.bgen")), recode).frame
    offset, size = int(index["offset"].iloc[1]), int(index["size"].iloc[1])
    raw = (tmp_path / "z.bgen").read_bytes()
    magic = raw.index(b"\x28\xb5\x2f\xfd", offset)  # the block's zstd frame
    assert magic < offset + size
    (tmp_path / "bad.bgen").write_bytes(raw[:magic] + b"\0\0\0\0" + raw[magic + 4:])
    with bgen_reader.BlockReader(bgen_reader.BgenFiles.open(str(tmp_path / "bad.bgen"))) as reader:
        assert len(reader._genotype_block(int(index["offset"].iloc[0]), int(index["size"].iloc[0])))
        with pytest.raises(InputDataError, match=rf"^{tmp_path}/bad\.bgen: cannot read the variant block at "
                                                 rf"byte {offset}: zstd: "):
            reader._genotype_block(offset, size)

        def ours(data: bytes, n: int) -> bytes:
            raise TypeError("a bug of ours")

        reader._decompress = ours
        with pytest.raises(TypeError, match="a bug of ours"):
            reader._genotype_block(offset, size)


def test_block_reader_gives_hails_dosage_to_the_bit(bgen):
    """Every (d0, d1) pair gives Hail's (d1 + 2 * (255 - d0 - d1)) / 255.0, and the file's rows
    read back as the expected ALT counts of their 8-bit probabilities (missing = -9)."""
    d0, d1 = 153, 77
    assert bgen_reader._DOSAGE_OF_PAIR[d0 | d1 << 8] == (d1 + 2 * (255 - d0 - d1)) / 255.0
    files = bgen_reader.BgenFiles.open(str(bgen))
    index = bgen_reader.variant_index(files, recode).frame
    with bgen_reader.BlockReader(files) as reader:
        dose = reader.read(index[["offset", "size"]].to_numpy(np.int64), np.empty((len(index), 4)))
    by_pos = dict(zip(index["position"], dose.tolist()))
    assert by_pos[200] == [1.0, -9.0, 2.0, 0.0]
    assert by_pos[900] == [1.0, 2.0, 0.0, -9.0]
    assert by_pos[100][1:] == [1.0, 2.0, 1.0]
    assert by_pos[100][0] == pytest.approx(0.5, abs=1 / 255)  # 0.3 + 2 x 0.1 in 8 bits
