"""PGS session 57 (helper fastafuzz): what benchmarks/diff_pgs_fasta.py found, as minimal cases.

The fuzz compares the stage with ``pgs.reference_fasta`` against ``bcftools norm -f`` of both files
plus plink2 ``--score``. Found: an indel pair alone does not say which allele is the REF (``A/AGC``
at 1000 names the insertion of GC and the deletion of the GC after the A); the matcher then takes a
site only when one orientation fits (docs/pgs.md "Indel representations"). With the FASTA the score
file's own alleles, as written, often tell: ``1003 TTA/GCTTA`` (effect GCTTA) is the insertion of
GC, since only TTA is the FASTA's bases at 1003. Before the fix, with both records near (the
insertion ``1000 A>AGC`` and the deletion ``1000 AGC>A``), the row moved to ``1000 AGC/A`` was
matched to the deletion with its effect allele as the REF (a silent wrong sum: 2 minus the
deletion's copies instead of the insertion's copies), and ``2000 TAACAAA/TACAAA`` (minimal ``TA/T``,
both records at 2000) was plain ``not_found``. Now ``matching.left_aligned_sites`` reads each
placed indel's REF from the FASTA where the file writes it (``SCORE_EFFECT_IS_REF``;
``ReferenceFasta.effect_is_ref``) and the matcher takes only that orientation.

The FASTA (chr1, 3,000 bases): 999-1007 GAGCTTACG, 1999-2007 GTACAAAAG.
"""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

STRETCHES = {999: "GAGCTTACG", 1999: "GTACAAAAG"}
# Written left-aligned (bcftools norm -f leaves them), the deletion first in the file.
RECORDS = [(1000, "AGC", "A"), (1000, "A", "AGC"), (2000, "TA", "T"), (2000, "T", "TA")]
# Score rows: (position, effect, other, weight); both name an insertion (the FASTA's bases are the other allele).
ROWS = [(1003, "GCTTA", "TTA", 1.0), (2000, "TAACAAA", "TACAAA", 1.0)]


def fasta_text() -> str:
    rng = random.Random(57)
    seq = [rng.choice("ACGT") for _ in range(3000)]
    for start, bases in STRETCHES.items():
        seq[start - 1:start - 1 + len(bases)] = list(bases)
    text = "".join(seq)
    return ">chr1 test\n" + "".join(text[i:i + 60] + "\n" for i in range(0, len(text), 60))


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "ref.fa"
    path.write_text(fasta_text())
    return str(path)


def test_records_are_bcftools_norms_and_the_rows_name_the_insertions(tmp_path, fasta):
    """The oracle's side: ``bcftools norm -f`` (pysam's bundled bcftools) leaves the four records as
    written, and writes both score rows, read with the REF the FASTA holds, as the insertions
    ``1000 A>AGC`` and ``2000 T>TA``."""
    from pysam import bcftools

    head = "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"

    def norm(records) -> list[tuple[int, str, str]]:
        (tmp_path / "n.vcf").write_text(head + "".join(f"chr1\t{p}\t.\t{r}\t{a}\t.\tPASS\t.\n" for p, r, a in records))
        out = bcftools.norm("-f", fasta, str(tmp_path / "n.vcf"))
        return [(int(f[1]), f[3], f[4]) for f in (x.split("\t") for x in out.splitlines() if x and x[0] != "#")]

    assert sorted(norm(RECORDS)) == sorted(RECORDS)
    assert norm([(p, o, e) for p, e, o, _ in ROWS]) == [(1000, "A", "AGC"), (2000, "T", "TA")]


def test_the_fasta_tells_the_score_indel_s_orientation(hl, fasta):
    """Both rows match the insertion record with the effect allele its ALT (``ref_alt``), on the
    rows as Hail splits them; the reading is in ``SCORE_EFFECT_IS_REF`` (0: the effect is the ALT).
    Before the fix: ``alt_ref`` at the deletion (a wrong sum) and ``not_found``."""
    from test_pgs_vds_shift_s56 import sites_frame

    from trd_spark.pgs import matching
    from trd_spark.pgs.reference_fasta import ReferenceFasta

    rg = hl.get_reference("GRCh38")
    written = pd.DataFrame({"contig": "chr1", "position": [p for p, _, _ in RECORDS],
                            "alleles_json": [json.dumps([r, a]) for _, r, a in RECORDS]})
    rows = matching.split_file_rows(written, rg.contigs)
    ref = ReferenceFasta.open(fasta, "d.vcf")
    sites, n_moved = matching.left_aligned_sites(sites_frame(ROWS), ref)
    assert n_moved == 1  # 1003 TTA/GCTTA is anchored on its right; 2000's minimal TA/T is left-aligned
    got = matching.match_sites_frame(sites, rows, keep_ambiguous=False, left_aligned=True)
    assert got["match_type"].tolist() == ["ref_alt", "ref_alt"]
    matched = rows.iloc[got["matched_row"].to_numpy()]
    assert list(zip(matched["position"], matched["ref"], matched["alt"])) == [(1000, "A", "AGC"), (2000, "T", "TA")]
    assert sites[matching.SCORE_EFFECT_IS_REF].tolist() == [0.0, 0.0]


def test_effect_is_ref_reads_the_pair_as_written(fasta):
    """``ReferenceFasta.effect_is_ref``: True / False when one allele is the FASTA's bases, None
    when both (``A/AGC`` at 1000 before GC) or neither are."""
    from trd_spark.pgs.reference_fasta import ReferenceFasta

    ref = ReferenceFasta.open(fasta, "d.vcf")
    assert ref.effect_is_ref("chr1", 1003, "GCTTA", "TTA") is False
    assert ref.effect_is_ref("chr1", 1003, "TTA", "GCTTA") is True
    assert ref.effect_is_ref("chr1", 1000, "AGC", "A") is None
    assert ref.effect_is_ref("chr1", 1000, "CC", "C") is None
