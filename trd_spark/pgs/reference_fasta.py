"""A reference FASTA (``pgs.reference_fasta``) to left-align the indels of both sides before the match.

A genotype file never run through ``bcftools norm -f`` may write an indel in a repeat shifted
right (``GAG>G`` at 1004 for the left-aligned ``CAG>C`` at 1000 in ``CAGAGAG``) or anchored on its
right (``AGT>T`` at 1005); a scoring file may too. Without the sequence the matcher can only count
such a score variant (``not_found_unnormalised``); with it, the score's such indels
(``left_align_pair``) and the genotype records near the score's indels (``left_align``) are
left-aligned here before the match, so the site is matched and scored as if both files had been
normalised (docs/pgs.md "Indel representations").

Rule mirrored: vt normalize's (Tan, Abecasis & Kang 2015, "Unified representation of genetic
variants", Bioinformatics 31:2202, Algorithm 1), which ``bcftools norm -f`` implements: while every
allele ends with the same base, drop it; when an allele is empty, put the reference base before
the record in front of every allele; then drop a common first base while every allele keeps
two. A record's alleles move together (a multi-allelic record is left-aligned as one, as
``bcftools norm -f`` without ``-m``). Hail's ``min_rep`` only trims (never shifts); plink2
2.00a3.5's ``--normalize`` wrote wrong REF alleles on our test file (benchmarks/RESULTS.md,
session 56) and passes a REF that disagrees with the FASTA, so it is not the rule here.

A record's REF that disagrees with the FASTA, or a contig or position the FASTA lacks, is one
InputDataError naming the FASTA, the genotype file and the site: ``bcftools norm``'s default
(``--check-ref e``: exit on a wrong REF). Only records near the score's indels are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trd_spark.errors import InputDataError

# How far right of a score indel (bases) its repeat is followed in the FASTA (``shift_extent``):
# a repeat longer than this is looked at up to it.
MAX_FASTA_SHIFT = 10_000


def _fasta_names(reference_names: list[str]) -> dict[str, str]:
    """FASTA sequence name -> the reference's contig name, for a FASTA naming contigs with or
    without ``chr`` (``1`` / ``chr1``; ``MT`` / ``chrM``), as the two GRCh38 conventions do."""
    out = {}
    for name in reference_names:
        out[name] = name
        bare = name[3:] if name.startswith("chr") else name
        out.setdefault("MT" if bare == "M" else bare, name)
        out.setdefault(f"chr{bare}", name)
    return out


@dataclass
class ReferenceFasta:
    """An open FASTA (pysam.FastaFile; its .fai is built by pysam when absent and the directory
    is writable). ``where``: the genotype file, named in the errors beside the FASTA."""

    path: str
    where: str
    _fasta: Any = field(repr=False)
    _names: dict[str, str] = field(repr=False)

    @classmethod
    def open(cls, path: str, where: str) -> ReferenceFasta:
        """Open ``path`` (raises InputDataError naming it when it is missing or not a FASTA pysam
        can index)."""
        import pysam

        try:
            fasta = pysam.FastaFile(path)
        except (OSError, ValueError) as e:
            raise InputDataError(f"pgs.reference_fasta cannot be read as an indexed FASTA: {e}", where=path) from None
        by_ref = _fasta_names(list(fasta.references))
        names: dict[str, str] = {}
        for fasta_name in fasta.references:
            names.setdefault(by_ref.get(fasta_name, fasta_name), fasta_name)
        return cls(path, where, fasta, names)

    def _name(self, contig: str, site: str) -> str:
        name = self._names.get(contig)
        if name is None:
            bare = contig[3:] if contig.startswith("chr") else contig
            for alt in (bare, f"chr{bare}", "MT" if bare == "M" else bare):
                if alt in self._fasta.references:
                    name = alt
                    break
        if name is None:
            raise InputDataError(f"pgs.reference_fasta {self.path} has no sequence {contig} (needed at {site}, "
                                 "near a score indel); give the FASTA of the genotypes' build", where=self.where)
        return name

    def bases(self, contig: str, start: int, end: int, site: str) -> str:
        """The reference bases ``start``..``end - 1`` (1-based) of ``contig``, upper case; raises
        InputDataError (naming ``site``) past the sequence's ends."""
        name = self._name(contig, site)
        length = self._fasta.get_reference_length(name)
        if start < 1 or end - 1 > length:
            raise InputDataError(f"pgs.reference_fasta {self.path}: {contig} has {length} bases, {site} (near a "
                                 f"score indel) needs {start}-{end - 1}; give the FASTA of the genotypes' build",
                                 where=self.where)
        return str(self._fasta.fetch(name, start - 1, end - 1)).upper()

    def left_align(self, contig: str, position: int, alleles: list[str]) -> tuple[int, list[str]]:
        """The record (``position``, ``alleles``: REF first) left-aligned and trimmed (module doc);
        raises InputDataError when its REF is not the FASTA's bases there."""
        site = f"{contig}:{position} {alleles[0]}>{','.join(alleles[1:])}"
        ref = alleles[0].upper()
        seen = self.bases(contig, position, position + len(ref), site)
        if seen != ref:
            raise InputDataError(f"the genotype record {site}: its REF is not pgs.reference_fasta {self.path}'s "
                                 f"bases there ({seen}); is the FASTA the genotypes' build? (bcftools norm "
                                 f"--check-ref e stops alike)", where=self.where)
        return self._normalised(contig, position, [a.upper() for a in alleles], site)

    def left_align_pair(self, contig: str, position: int, first: str, second: str) -> tuple[int, str, str] | None:
        """A score variant's allele pair (``first``, ``second``: either may be the REF, a scoring
        file does not say) at ``position`` left-aligned as ``left_align`` moves a record: the REF is
        the allele that is the FASTA's bases there (when both are, e.g. ``C/CA`` before an A, both
        readings give the same pair: the rule moves a set of alleles); returns (position, first,
        second) moved, or None when neither allele is the FASTA's bases (another build, a strand,
        two alts of one site: the pair is then matched as written)."""
        site = f"{contig}:{position} {first}/{second}"
        a, b = first.upper(), second.upper()
        length = self._length(contig, site)
        for swapped, (ref, alt) in enumerate(((a, b), (b, a))):
            if position + len(ref) - 1 <= length and self.bases(contig, position, position + len(ref), site) == ref:
                pos, out = self._normalised(contig, position, [ref, alt], site)
                if swapped:
                    out = out[::-1]
                return pos, out[0], out[1]
        return None

    def effect_is_ref(self, contig: str, position: int, effect: str, other: str) -> bool | None:
        """Which allele of a score indel's pair, as its file writes it at ``position``, is the REF:
        True when only ``effect`` is the FASTA's bases there, False when only ``other`` is, None
        when both are (``C/CA`` before an A: the insertion and the deletion are both read) or
        neither (``matching.left_aligned_sites``' ``SCORE_EFFECT_IS_REF``)."""
        site = f"{contig}:{position} {effect}/{other}"
        length = self._length(contig, site)
        fits = [position + len(a) - 1 <= length and self.bases(contig, position, position + len(a), site) == a.upper()
                for a in (effect, other)]
        return fits[0] if fits[0] != fits[1] else None

    def _normalised(self, contig: str, position: int, alleles: list[str], site: str) -> tuple[int, list[str]]:
        """vt normalize's Algorithm 1 on ``alleles`` (upper case, REF first) at ``position`` (module doc)."""
        out = list(alleles)
        pos = position
        changed = True
        while changed:
            changed = False
            if all(out) and len({a[-1] for a in out}) == 1:
                out = [a[:-1] for a in out]
                changed = True
            if not all(out):
                if pos <= 1:
                    break
                pos -= 1
                base = self.bases(contig, pos, pos + 1, site)
                out = [base + a for a in out]
                changed = True
        while all(len(a) >= 2 for a in out) and len({a[0] for a in out}) == 1:
            out = [a[1:] for a in out]
            pos += 1
        return pos, out

    def shift_extent(self, contig: str, position: int, seq: str) -> int:
        """How many bases right of ``position`` an indel anchored there (inserting or deleting
        ``seq``, read both ways) can be written in the FASTA: the length of the run after the
        anchor that repeats ``seq`` (an insertion of ``seq``) or the deleted bases (a deletion,
        when the bases after the anchor are ``seq``), at most ``MAX_FASTA_SHIFT`` (read 256
        bases at a time, more only while the run goes on)."""
        site = f"{contig}:{position}"
        n = len(seq)
        length = self._length(contig, site)
        want = 256
        while True:
            end = min(position + 1 + n + want, length + 1)
            ahead = self.bases(contig, position + 1, end, site)
            ins = 0
            while ins < len(ahead) and ins < MAX_FASTA_SHIFT and ahead[ins] == seq[ins % n]:
                ins += 1
            dele = 0
            if ahead[:n] == seq:
                while n + dele < len(ahead) and dele < MAX_FASTA_SHIFT and ahead[n + dele] == ahead[dele]:
                    dele += 1
            ran_out = len(ahead) >= n + want and max(ins, dele + n) >= len(ahead)
            if not ran_out or want > MAX_FASTA_SHIFT:
                return max(ins, dele)
            want *= 4

    def _length(self, contig: str, site: str) -> int:
        return int(self._fasta.get_reference_length(self._name(contig, site)))

