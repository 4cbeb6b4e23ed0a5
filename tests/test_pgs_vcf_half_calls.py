"""``genotypes.vcf_half_call_rows`` on tabix-indexed VCFs written inline (pysam; no Spark, no Hail).

The count's rule, case by case (a GT half-call is one allele called and the other missing, as
plink2's ``--vcf-half-call`` reads it), and its cost: the stage counts the matched records of a
whole biobank VCF on the driver, so a record is scanned once in C (one regex search over its
sample columns), not field by field in Python (session 24's loop: ~11 ms per record of 20,000
samples, i.e. ~37 CPU-minutes for 200,000 matched records).
"""

from __future__ import annotations

import time

import pysam
import pytest

from trd_spark.config import GenotypeSource
from trd_spark.pgs.genotypes import vcf_half_call_rows

HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
          '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
          '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{samples}\n")


def indexed_vcf(tmp_path, records: list[tuple[int, str, list[str]]]) -> str:
    """A bgzipped, tabix-indexed VCF on chr1 of (position, FORMAT, sample fields) records."""
    n = len(records[0][2])
    text = HEADER.format(samples="\t".join(f"{1000 + i}" for i in range(n)))
    text += "".join(f"chr1\t{pos}\t.\tA\tG\t.\tPASS\t.\t{fmt}\t" + "\t".join(fields) + "\n"
                    for pos, fmt, fields in records)
    plain = tmp_path / "g.vcf"
    plain.write_text(text)
    return pysam.tabix_index(str(plain), preset="vcf", force=True)


def source(path: str) -> GenotypeSource:
    return GenotypeSource(format="vcf", path=path, reference_genome="GRCh38")


@pytest.mark.parametrize(("fields", "fmt", "counted"), [
    (["0/1", "0/."], "GT", True),              # the last sample, unphased
    ([".|1", "0|0"], "GT", True),              # phased, the first allele missing
    (["0/.:12", "0/0:30"], "GT:DP", True),     # GT first, other subfields after it
    (["10/.", "1/1"], "GT", True),             # a multi-digit allele index
    (["./.", "0/0"], "GT", False),             # wholly missing: no half-call
    ([".", "1"], "GT", False),                 # haploid
    (["0/1/.", "0/0"], "GT", False),           # triploid: not plink2's diploid half-call
    (["./1/0", "0/0"], "GT", False),           # ... nor with its first allele missing ("./1" then more)
    (["12:0/.", "30:0/0"], "DP:GT", True),     # GT not first: read where it stands, as Hail reads it
    (["0|.:0/0", "0|1:0/1"], "PGT:GT", False),  # ... not where the field before it looks like one
    (["0/0:3/.", "0/0:1"], "GT:DP", False),    # a half-call shape outside GT is no call
], ids=["last-sample", "phased", "gt-then-dp", "multi-digit", "missing", "haploid", "triploid",
        "triploid-first-missing", "gt-not-first", "gt-not-first-half-call-shaped", "not-gt"])
def test_a_record_is_counted_when_one_sample_holds_a_gt_half_call(tmp_path, fields, fmt, counted):
    path = indexed_vcf(tmp_path, [(100, fmt, fields), (200, "GT", ["0/1", "0/."])])
    # Only the rows asked for are read: the half-call at 200 counts only when 200 is asked for.
    assert vcf_half_call_rows(source(path), [("chr1", 100)]) == int(counted)
    assert vcf_half_call_rows(source(path), [("chr1", 100), ("chr1", 200)]) == int(counted) + 1
    assert vcf_half_call_rows(source(path), [("chr1", 150)]) == 0


def test_a_record_of_many_samples_is_scanned_in_one_pass(tmp_path):
    """20 records of 20,000 samples, the half-call in the last sample of the last record: the
    count is 1, and counting adds less than reading the records does (CPU time of this process,
    the best of 3, against the same records fetched through the index alone, so that the machine's
    load cancels out: session 24's per-sample loop took 2.6x the read on top of it, the one
    search 0.4x)."""
    n, k = 20_000, 20
    calls = ["0/0:31", "0/1:28", "1/1:40", "./.:0"] * (n // 4)
    records = [(100 * (i + 1), "GT:DP", calls) for i in range(k - 1)] + [(100 * k, "GT:DP", [*calls[:-1], "./1:9"])]
    path = indexed_vcf(tmp_path, records)
    rows = [("chr1", 100 * (i + 1)) for i in range(k)]

    def cpu(f) -> float:
        times = []
        for _ in range(3):
            started = time.process_time()
            f()
            times.append(time.process_time() - started)
        return min(times)

    def read_only() -> None:
        with pysam.TabixFile(path) as tbx:
            for contig, pos in rows:
                for _line in tbx.fetch(contig, pos - 1, pos):
                    pass

    assert vcf_half_call_rows(source(path), rows) == 1
    read, counted = cpu(read_only), cpu(lambda: vcf_half_call_rows(source(path), rows))
    assert counted < 2 * read, (counted, read)


def test_no_matched_record_is_none_found_wherever_the_vcf_is(tmp_path):
    """No matched row: 0 records hold a half-call, also for a VCF without an index or on a URI
    (there is nothing to look at), so ``pgs.vcf_half_call: error`` passes instead of stopping
    with "needs the VCF's tabix/CSI index" (before: None, read as "not counted")."""
    from trd_spark.pgs.stage import check_half_calls

    plain = tmp_path / "plain.vcf"
    plain.write_text(HEADER.format(samples="1000") + "chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/.\n")
    for path in (str(plain), indexed_vcf(tmp_path, [(100, "GT", ["0/."])]), "gs://bucket/g.vcf.bgz"):
        assert vcf_half_call_rows(source(path), []) == 0, path
        check_half_calls(vcf_half_call_rows(source(path), []), "error", "d", path)


def test_error_mode_on_a_uri_says_why_it_cannot_look(tmp_path):
    """A VCF on gs:// / hdfs:// is never looked at (pysam reads local files): under
    ``pgs.vcf_half_call: error`` the one line says so and what to do, not "index it" (an indexed
    VCF on a bucket was told to make the index it has); a local VCF without an index is still
    told to index it."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.stage import check_half_calls

    assert vcf_half_call_rows(source("gs://bucket/g.vcf.bgz"), [("chr1", 100)]) is None
    with pytest.raises(InputDataError) as e:
        check_half_calls(None, "error", "d", "dataset d genotypes gs://bucket/g.vcf.bgz", uri=True)
    line = str(e.value)
    assert line.startswith("dataset d genotypes gs://bucket/g.vcf.bgz: ") and "\n" not in line, line
    assert "read from a URI" in line and "copy it and its index to local disk" in line and "index it" not in line
    with pytest.raises(InputDataError, match="needs the VCF's tabix/CSI index .*index it: tabix -p vcf"):
        check_half_calls(None, "error", "d", "dataset d genotypes g.vcf")
