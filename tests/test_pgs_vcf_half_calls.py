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
    (["12:0/.", "30:0/0"], "DP:GT", False),    # GT not first: the record is not read
    (["0/0:3/.", "0/0:1"], "GT:DP", False),    # a half-call shape outside GT is no call
], ids=["last-sample", "phased", "gt-then-dp", "multi-digit", "missing", "haploid", "triploid", "gt-not-first",
        "not-gt"])
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
