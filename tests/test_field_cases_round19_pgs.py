"""PGS field cases, round 19 (session 29, hunt_pgs19): new shapes of the known kinds.

- Genotypes on another build than the dataset declares (``datasets[].genotypes.reference_genome``,
  default GRCh38): a GRCh37 VCF (and the .pvar plink2 writes from it) says so in its header,
  ``##contig=<ID=1,length=249250621>``, but nothing read it. Its records were matched on GRCh38
  coordinates: almost no score variant found, and with a low ``pgs.min_overlap`` every person
  scored on the few records that happen to sit at a GRCh38 score position, silently. Now the
  header's lengths of the primary contigs are compared with Hail's GRCh37 and GRCh38
  references before matching: another build's length is one InputDataError at file:line naming
  both builds; a length of neither build (another assembly, a hand-edited header) a WARNING.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess

import pytest

from trd_spark.errors import InputDataError

# GRCh37 coordinates, 1-based contig names: rs2 at chr1:2000 on GRCh37 happens to be where the
# GRCh38 score places a C>T variant (2000): matched on the wrong build, it is scored.
_GRCH37_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=1,length=249250621>
##contig=<ID=X,length=155270560>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\t1004
1\t1000\trs1\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\t0/1
1\t2000\trs2\tC\tT\t.\tPASS\t.\tGT\t1/1\t0/1\t0/0\t1/1
"""
_GRCH38_SCORE = ("#pgs_id=PGS991901\n#genome_build=GRCh38\n"
                 "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
                 "1\t1500\tG\tA\t1.0\n1\t2000\tT\tC\t0.5\n1\t3000\tA\tG\t0.2\n")


@pytest.mark.parametrize("fmt", ["vcf", "pgen", "vcf_uri"])
def test_genotypes_whose_header_says_another_build_are_one_error_naming_the_line(hl, spark, tmp_path, fmt):
    """A GRCh37 VCF (chr1 249,250,621 bases in its ##contig line) in a dataset declared GRCh38,
    read as it is, as the .pvar plink2 writes from it (which keeps the ##contig line) and
    block-gzipped on a URI (as on the All of Us buckets; read through Hail's file system, the
    header only): one InputDataError at the ##contig line naming both builds and the config
    key. Before (base 8a12b1b): no error; with min_overlap 0 every person scored 0.5 x T copies
    of rs2, one of three score variants matched on the wrong build."""
    import warnings

    from test_field_cases_pgs import case_config, run_scores

    (tmp_path / "d.vcf").write_text(_GRCH37_VCF)
    path, line = str(tmp_path / "d.vcf"), 3
    where = path
    if fmt == "pgen":
        subprocess.run([shutil.which("plink2") or "plink2", "--vcf", path, "--make-pgen", "--out", str(tmp_path / "g"),
                        "--threads", "1"], check=True, capture_output=True)
        path, line, where = str(tmp_path / "g"), 1, str(tmp_path / "g.pvar")
    elif fmt == "vcf_uri":
        path = where = f"file://{tmp_path}/d.vcf.bgz"
        with warnings.catch_warnings():  # deprecated, but its successor (hailtop.fs.open) writes no BGZF
            warnings.simplefilter("ignore", DeprecationWarning)
            with hl.hadoop_open(path, "w") as f:
                f.write(_GRCH37_VCF)
    (tmp_path / "score.txt").write_text(_GRCH38_SCORE)
    cfg = case_config(tmp_path, path, str(tmp_path / "score.txt"), fmt=fmt.removesuffix("_uri"))
    with pytest.raises(InputDataError, match=rf"^{re.escape(where)}:{line}: ##contig 1 has length 249250621, its length on "
                                             r"GRCh37 \(GRCh38: 248956422\).*reference_genome is GRCh38"):
        run_scores(hl, spark, cfg)


def test_header_contig_lengths_of_the_declared_build_pass_and_of_no_build_warn(hl, caplog):
    """The check on header text alone: GRCh38 lengths (``chr`` names or not, with other fields
    and contigs that are not primary) pass on GRCh38; on GRCh37 the same header is the error;
    a T2T-CHM13 chr1 (248,387,328: neither build) is one WARNING naming file:line; chrM's
    length (hg19's 16,571 is another sequence) and contigs without a length are not looked at."""
    from trd_spark.logs import counts_with_separators
    from trd_spark.pgs.contig_lengths import check_header_build, primary_lengths

    lengths = primary_lengths(lambda build: hl.get_reference(build).lengths)
    grch38 = ["##fileformat=VCFv4.2\n", '##contig=<ID=chr1,length=248956422,assembly="GRCh38">\n',
              "##contig=<length=156040895,ID=chrX>\n", "##contig=<ID=chrM,length=16571>\n",
              "##contig=<ID=chr2>\n", "##contig=<ID=chrUn_KI270302v1,length=2274>\n", "#CHROM\tPOS\n",
              "chr1\t1\n", "##contig=<ID=chr1,length=1>\n"]
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        check_header_build(iter(grch38), "g.vcf", "GRCh38", lengths)
    assert not caplog.records
    with pytest.raises(InputDataError, match=r"^g\.vcf:2: ##contig chr1 has length 248956422, its length on GRCh38"):
        check_header_build(iter(grch38), "g.vcf", "GRCh37", lengths)
    chm13 = ["##contig=<ID=chr1,length=248387328>\n", "##contig=<ID=chr2,length=1>\n"]
    # As the run's console and log handlers write it: their filter turns %d arguments into counts
    # (1,780); a length or line number is none (a CLI test earlier in the worker left it on a handler).
    caplog.handler.addFilter(counts_with_separators)
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        check_header_build(iter(chm13), "t2t.vcf", "GRCh38", lengths)
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith("t2t.vcf:1: ##contig chr1 has length 248387328, not its GRCh38 "
                                                     "length 248956422")


@pytest.mark.parametrize("value, build", [
    ("file:///ref/human_g1k_v37.fasta", "GRCh37"), ("hs37d5.fa.gz", "GRCh37"), ("GRCh37.p13", "GRCh37"),
    ("/seq/references/Homo_sapiens_assembly19.fasta", "GRCh37"), ("ucsc.hg19.fasta", "GRCh37"), ("b37", "GRCh37"),
    ("file:///ref/GRCh38_full_analysis_set_plus_decoy_hla.fa", "GRCh38"), ("hs38DH.fa", "GRCh38"), ("hg38", "GRCh38"),
    ("Homo_sapiens_assembly38.fasta", "GRCh38"), ("chm13v2.0.fa", None), ("GCA_000001405.15", None),
    ("hg19_to_hg38.fa", None), ("hg190", None)])
def test_a_reference_line_names_the_build_its_file_name_says(value, build):
    """``##reference`` is a FASTA path or a build name; the names of the common reference
    files say their build (none, or two, is no build)."""
    from trd_spark.pgs.contig_lengths import reference_build

    assert reference_build(value) == build


def test_a_reference_line_of_another_build_without_contig_lengths_is_a_warning(hl, caplog):
    """A VCF whose ##contig lines give no length (imputation servers write ``##contig=<ID=1>``)
    but whose ##reference is a GRCh37 FASTA, declared GRCh38: one WARNING naming its line and
    the config key. The lengths, when given, decide instead: a GRCh38 length beside an hg19
    ##reference (a header carried over) is no WARNING; the declared build's own reference none."""
    from trd_spark.pgs.contig_lengths import check_header_build, primary_lengths

    lengths = primary_lengths(lambda build: hl.get_reference(build).lengths)
    header = ["##fileformat=VCFv4.1\n", "##contig=<ID=1>\n", "##reference=file:///ref/human_g1k_v37.fasta\n",
              "#CHROM\tPOS\n"]
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        check_header_build(header, "imputed.vcf.gz", "GRCh38", lengths)
        check_header_build(header, "imputed.vcf.gz", "GRCh37", lengths)
        check_header_build(["##contig=<ID=1,length=248956422>\n", "##reference=ucsc.hg19.fasta\n"], "g.vcf", "GRCh38",
                           lengths)
    assert [r.getMessage() for r in caplog.records] == [
        "imputed.vcf.gz:3: ##reference names a GRCh37 reference but datasets[].genotypes.reference_genome is GRCh38 "
        "(and no ##contig line gives a length to tell): if the genotypes are on GRCh37, set reference_genome: GRCh37"]


def test_a_uri_that_cannot_be_listed_or_opened_is_left_to_the_reader(spark, tmp_path):
    """The header check reads what it can: a URI whose listing fails (no connector, no access)
    or a file that does not open is not its error (Hail's reader names the file later, inside
    the stage's error wrapper); it raises nothing and reads nothing. The listing is Spark's file
    system's without the GCS connector (the error py4j gives; a RuntimeError stood for it before
    session 32, when the check took any exception for an unreadable file)."""
    from trd_spark.config import GenotypeSource
    from trd_spark.io import Fs
    from trd_spark.pgs.contig_lengths import check_declared_build

    def lengths(build):
        raise AssertionError("not reached: nothing to compare")

    vcf = GenotypeSource(format="vcf", path="gs://bucket/g.vcf.bgz")
    check_declared_build(vcf, lengths, open_uri=lambda p: open(p), glob_uri=Fs(spark).glob_files)
    missing = GenotypeSource(format="pgen", path=str(tmp_path / "absent"))
    check_declared_build(missing, lambda build: {"1": 1})


def test_every_primary_contig_and_a_gzipped_local_header_are_checked(hl, tmp_path):
    """Mutation check of 81c5636: each primary contig (chr1..chr22, chrX, chrY) alone, at its
    GRCh37 length in a GRCh38 dataset's header, is the error (a header listing chr22 only, as a
    per-chromosome VCF of an imputation server's does); and a local VCF block-gzipped as they
    are shipped (``.vcf.gz``, gzip magic) has its header read decompressed, as the .vcf and the
    URI's are: chr22's GRCh37 length there is one InputDataError at its line."""
    import gzip

    from trd_spark.config import GenotypeSource
    from trd_spark.pgs.contig_lengths import check_declared_build, check_header_build, primary_lengths

    lengths = primary_lengths(lambda build: hl.get_reference(build).lengths)
    names = [*(str(i) for i in range(1, 23)), "X", "Y"]
    assert sorted(lengths["GRCh37"]) == sorted(names)
    for name in names:
        header = ["##fileformat=VCFv4.2\n", f"##contig=<ID=chr{name},length={lengths['GRCh37'][name]}>\n"]
        with pytest.raises(InputDataError, match=rf"^g\.vcf:2: ##contig chr{name} has length"):
            check_header_build(header, "g.vcf", "GRCh38", lengths)
    path = tmp_path / "chr22.vcf.gz"
    with gzip.open(path, "wt") as f:
        f.write(_GRCH37_VCF.replace("##contig=<ID=1,length=249250621>", "##contig=<ID=22,length=51304566>"))
    with pytest.raises(InputDataError, match=rf"^{re.escape(str(path))}:3: ##contig 22 has length 51304566, its "
                                             r"length on GRCh37"):
        check_declared_build(GenotypeSource(format="vcf", path=str(path)), lambda b: hl.get_reference(b).lengths)
