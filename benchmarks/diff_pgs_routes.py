"""Differential fuzz of the PGS scoring routes against plink2 --score (not part of the suite).

Per seed: a small random target (default 40 samples x ~60 records: biallelic SNVs, palindromic
A/T and C/G SNVs, insertions and deletions, multi-allelic SNV records, multi-allelic indel records
(``AT>ATC,A[,GT]``), an SNV and a deletion at
one position, chrX non-PAR records with haploid male calls, 0-60% missing calls per record, now
and then a record no sample is called at), written as a VCF; every other format is made from
the same calls by plink2 2.00a3.5 (sex by ``--update-sex``):

  d.vcf        the VCF (multi-allelic records unsplit)         -> Hail's read + export, Hail's pass
  d.mt         ``hl.import_vcf`` of it                          -> Hail's read + export (Hail's pass:
                                                                   route mt-hail-pass, not by default)
  g.pgen       ``plink2 --vcf d.vcf --make-pgen`` (unsplit)     -> native engine; plink2's oracle input
  s.bed        ``plink2 --vcf split.vcf --make-bed``            -> native engine, Hail's pass (split per
                                                                   alt with the record's REF, as
                                                                   ``bcftools norm -m-`` without -f;
                                                                   plink2 2.00a3.5 has no split)
  s.bgen       ``plink2 --bfile s --export bgen-1.2 bits=8 ref-first id-paste=iid`` -> native engine
               (Hail's ``import_bgen``: route bgen-hail-pass, not by default)

and two random Catalog scoring files (rows matching ALT/REF or REF/ALT, strand-flipped rows,
A/T and C/G rows, rows one base off any record (absent), rows with an empty other_allele at a
one-alt locus, lower-case rows, rows repeated with their alleles in either order or on the other
strand, flipped rows where no flip is tried (indels, multi-allelic sites: not_found), rows whose
two alleles are both alts (not_found)). The pgs options vary with the seed (``missing_genotypes``
mean_impute / zero = plink2 ``no-mean-imputation``, ``--bad-freqs`` under mean_impute since
plink2 refuses in-sample frequencies of < 50 samples; ``keep_ambiguous``; ``duplicate_variants:
first``). The oracle: this script's own reading of docs/pgs.md's matching rules (the rows it expects
matched, each as the unsplit .pgen's variant ID and the allele counted), scored by ``plink2
--pfile g --score`` with the same flags. Compared per sample and score: every route's sum with
plink2's (|diff| <= 1e-5 x max(1, |sum|): plink2 prints 6 significant digits), the routes' sums
with each other (1e-9), n_matched with the oracle's row count, allele_count with plink2's
ALLELE_CT and n_missing with the oracle's count of missing calls at the matched records. Each
route's published rows and match log are left in ``<work-dir>/seed<N>/run_<route>/``.

    .venv/bin/python benchmarks/diff_pgs_routes.py --seeds 1 2 3
    .venv/bin/python benchmarks/diff_pgs_routes.py --seeds 1-20 --routes pgen bed

Prints one line per seed and route that disagrees, then one summary line
``SUMMARY seeds=N runs=R disagreements=D``. One Spark/Hail session for every seed.
``--match-only``: the matcher alone (the .pgen's and split .bed's variant lists, no Spark or
Hail, no sums), n_matched against the oracle: seconds per seed (``--seeds 1-2000``).

Session 51 shapes (each changes the draws: other targets than the same seed without):
``--orders``: also the split .bed with its rows shuffled within each contig (``u``; plink2
refuses a contig split in two) and the BGEN written REF-last (``r.bgen``, plink2's default: each
split row ``ALT,REF``), routes bed-unsorted, bed-unsorted-hail-pass, bgen-ref-last (Hail's BGEN
route refuses a male's haploid X); no ``AT>ATC,A`` records (a REF-last BGEN's indel rows are
scored each alone, docs/pgs.md's documented departure). ``--dosages``: a DS on the biallelic
records in quarters (exact in a .pgen), haploid-scale on a male's X, some beside a missing GT,
some ``.`` beside a called one (``dosages``); no multi-allelic record (plink2 2.00a3.5 writes
no .pgen of dosages with one); routes vcf, vcf-hail-pass, mt (``dosage_field: DS``), pgen
(``--vcf dosage=DS``) and bgen (8-bit, from plink2's .pgen of the split VCF: compared within
its rounding, 1/255 x sum |w|). ``--more-files``: the second scoring file's weights written as
odds ratios (``#weight_type=OR``, summed as ln) and a third, rsID-only file (``pgs.match_rsid``:
biallelic records by their ID, as written, swapped, flipped, or an ID no row has).
``--uncalled``: the share of records no sample is called at (default 0.04).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
COMPLEMENT = str.maketrans("ACGT", "TGCA")
ROUTES = {  # route -> (format, file below the seed's dir, extra pgs settings)
    "vcf": ("vcf", "d.vcf", ""),
    "vcf-hail-pass": ("vcf", "d.vcf", "  native: {engine: hail}\n"),
    "mt": ("mt", "d.mt", ""),
    "pgen": ("pgen", "g", ""),
    "bed": ("plink", "s", ""),
    "bed-hail-pass": ("plink", "s", "  native: {engine: hail}\n"),
    "bgen": ("bgen", "s.bgen", ""),
    "mt-hail-pass": ("mt", "d.mt", "  native: {engine: hail}\n"),
    "bgen-hail-pass": ("bgen", "s.bgen", "  native: {engine: hail}\n"),
    # --orders: the split .bed with its rows shuffled (a site's rows apart), and the BGEN written
    # REF-last (plink2's default: each split row's REF second).
    "bed-unsorted": ("plink", "u", ""),
    "bed-unsorted-hail-pass": ("plink", "u", "  native: {engine: hail}\n"),
    "bgen-ref-last": ("bgen", "r.bgen", ""),
}
ORDER_ROUTES = ["bed-unsorted", "bed-unsorted-hail-pass", "bgen-ref-last"]
# --dosages: formats that carry the VCF's DS (a .bed holds hard calls); the BGEN from plink2's
# split .pgen of it (8-bit probabilities, so its sums are compared within their rounding).
DOSAGE_ROUTES = ["vcf", "vcf-hail-pass", "mt", "pgen", "bgen"]
BGEN_DOSAGE_ERROR = 2 * 0.5 / 255  # one 8-bit dosage's rounding: P(het) and P(hom alt) each 1/510 off
DEFAULT_ROUTES = ["vcf", "vcf-hail-pass", "mt", "pgen", "bed", "bed-hail-pass", "bgen"]
X_START = 3_000_000  # chrX outside GRCh38's PAR1 (ends 2,781,479)
PAR_START = 100_000  # chrX inside PAR1 (10,001-2,781,479): diploid for everyone (plink2 --split-par hg38)
Y_START = 3_000_000  # chrY outside its PAR1: males haploid, others uncalled
CONTIG_ORDER = {"chr1": 0, "chrX": 1, "chrY": 2, "chrM": 3}  # chrM: diff_pgs_kinds.py --mito


def _flip(a: str) -> str:
    return a.translate(COMPLEMENT)


def bases_of(rng: np.random.Generator) -> str:
    return "ACGT"[int(rng.integers(4))]


def generate(rng: np.random.Generator, n_samples: int, n_records: int, more_contigs: bool = False,
             uncalled: float = 0.04, multi_indel: bool = True, multi: bool = True
             ) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Records (chrom, pos, id, ref, alts, kind) and calls: an int array (records x samples x 2)
    of allele indexes, -1 missing, the second haplotype -2 where the call is haploid (a male's
    chrX and chrY; a non-male's chrY is uncalled, ``.``); and the male flags. ``more_contigs``:
    a sex-contig record is also one in X's PAR1 or on chrY (the same draws otherwise). ``uncalled``:
    the share of records no sample is called at; ``multi_indel`` False: none of the ``AT>ATC,A``
    kind (a REF-last BGEN's indel rows are scored each alone, README's documented departure);
    ``multi`` False: no multi-allelic record at all (plink2 2.00a3.5 writes no .pgen of dosages
    with one: "multiallelic dosage size request")."""
    kinds = ["snv", "snv", "snv", "palindromic", "ins", "del", "multi", "samepos"] + (["multi_indel"] if multi_indel
                                                                                     else ["multi"])
    if not multi:
        kinds = [k if k not in ("multi", "multi_indel") else "snv" for k in kinds]
    male = rng.random(n_samples) < 0.5
    records: list[dict] = []
    bases = "ACGT"
    pos1 = 10_000
    posx, pospar, posy = X_START, PAR_START, Y_START
    for _ in range(n_records):
        on_x = rng.random() < 0.15
        kind = rng.choice(kinds) \
            if not on_x else rng.choice(["snv", "snv", "palindromic"])
        where = str(rng.choice(["x", "par", "y"])) if on_x and more_contigs else "x"
        if on_x and where == "par":
            pospar += int(rng.integers(500, 5000))
            chrom, pos = "chrX", pospar
        elif on_x and where == "y":
            posy += int(rng.integers(500, 5000))
            chrom, pos = "chrY", posy
        elif on_x:
            posx += int(rng.integers(500, 5000))
            chrom, pos = "chrX", posx
        else:
            pos1 += int(rng.integers(500, 5000))
            chrom, pos = "chr1", pos1
        ref = bases[rng.integers(4)]
        if kind == "palindromic":
            alts = [_flip(ref)]
        elif kind in ("snv", "samepos"):
            alts = [rng.choice([b for b in bases if b not in (ref, _flip(ref))])]
        elif kind == "ins":
            alts = [ref + "".join(rng.choice(list(bases), int(rng.integers(1, 3))))]
        elif kind == "del":
            ref = ref + "".join(rng.choice(list(bases), int(rng.integers(1, 3))))
            alts = [ref[0]]
        elif kind == "multi_indel":  # AT>ATC,A[,GT]: an insertion, a deletion, maybe an SNV at the anchor
            ref = ref + bases[rng.integers(4)]
            alts = [ref + bases[rng.integers(4)], ref[0]]
            if rng.random() < 0.5:
                alts.append(rng.choice([b for b in bases if b != ref[0]]) + ref[1:])
        else:  # multi: two or three alts
            alts = list(rng.choice([b for b in bases if b != ref], int(rng.integers(2, 4)), replace=False))
        records.append({"chrom": chrom, "pos": pos, "id": f"v{len(records)}", "ref": ref, "alts": alts,
                        "kind": str(kind)})
        if kind == "samepos":  # a deletion at the same position, its REF starting with the SNV's REF
            records.append({"chrom": chrom, "pos": pos, "id": f"v{len(records)}",
                            "ref": ref + bases[rng.integers(4)], "alts": [ref], "kind": "del"})
    if more_contigs and not any(r["chrom"] == "chrX" and r["pos"] >= X_START for r in records):
        # plink2 2.00a3.5 --split-par with PAR1 rows and no other X row relabels the next
        # contig's first row X (chrY:3003703 became X:3003703, session 50): one X row after PAR1.
        records.append({"chrom": "chrX", "pos": X_START + 1, "id": f"v{len(records)}", "ref": "C", "alts": ["T"],
                        "kind": "snv"})
    calls = np.full((len(records), n_samples, 2), -1, dtype=np.int64)
    for r, rec in enumerate(records):
        n_alleles = 1 + len(rec["alts"])
        freqs = rng.dirichlet(np.ones(n_alleles))
        calls[r] = rng.choice(n_alleles, size=(n_samples, 2), p=freqs)
        miss = rng.choice([0.0, 0.05, 0.2, 0.6]) if rng.random() > uncalled else 1.0
        calls[r][rng.random(n_samples) < miss] = -1
        if rec["chrom"] == "chrX" and rec["pos"] >= X_START:
            calls[r][male, 1] = -2
        if rec["chrom"] == "chrY":
            calls[r][male, 1] = -2
            calls[r][~male] = (-1, -2)
    return records, calls, male


def dosages(rng: np.random.Generator, records: list[dict], calls: np.ndarray) -> np.ndarray:
    """A DS per record and sample (nan: none written, ``.``) on the biallelic chr1 and chrX records
    (plink2 imports no multi-allelic DS; chrY left to GT), in quarters, which a .pgen stores
    exactly (1/16384): a called GT's own alt count (70%), another value (20%) or none (10%: its
    GT read); a missing GT a value (30%, plink2 and README read ``./.:1.25`` as 1.25), else none.
    A haploid call (a male's X) takes the haploid scale 0..1 (plink2 doubles it, as README)."""
    ds = np.full(calls.shape[:2], np.nan)
    for r, rec in enumerate(records):
        if len(rec["alts"]) != 1 or rec["chrom"] == "chrY":
            continue
        c = calls[r]
        haploid = c[:, 1] == -2
        top = np.where(haploid, 4, 8)
        own = np.where(haploid, (c[:, 0] == 1) * 1.0, (c[:, 0] == 1) * 1.0 + (c[:, 1] == 1) * 1.0)
        other = rng.integers(0, top + 1) / 4.0
        u = rng.random(len(c))
        called = c[:, 0] >= 0
        ds[r] = np.where(called, np.where(u < 0.7, own, np.where(u < 0.9, other, np.nan)),
                         np.where(u < 0.3, other, np.nan))
    return ds


def _ds(value: float) -> str:
    return "." if np.isnan(value) else f"{value:g}"


def _gt(call: np.ndarray) -> str:
    a, b = int(call[0]), int(call[1])
    if b == -2:
        return "." if a < 0 else str(a)
    return "./." if a < 0 else f"{a}/{b}"


def write_vcf(path: Path, records: list[dict], calls: np.ndarray, samples: list[str],
              ds: np.ndarray | None = None, order: np.ndarray | None = None) -> None:
    """The VCF; ``ds`` (records x samples, nan: ``.``): FORMAT GT:DS on the records with some DS;
    ``order``: the records in this order (else sorted by contig and position)."""
    head = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>", "##contig=<ID=chrX,length=156040895>",
            "##contig=<ID=chrY,length=57227415>", "##contig=<ID=chrM,length=16569>",
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
            *(['##FORMAT=<ID=DS,Number=A,Type=Float,Description="Dosage">'] if ds is not None else []),
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples)]
    if order is None:
        order = sorted(range(len(records)), key=lambda r: (CONTIG_ORDER[records[r]["chrom"]], records[r]["pos"]))

    def entries(r: int) -> str:
        if ds is None or np.isnan(ds[r]).all():
            return "GT\t" + "\t".join(_gt(c) for c in calls[r])
        return "GT:DS\t" + "\t".join(f"{_gt(c)}:{_ds(d)}" for c, d in zip(calls[r], ds[r], strict=True))

    lines = [f"{records[r]['chrom']}\t{records[r]['pos']}\t{records[r]['id']}\t{records[r]['ref']}\t"
             f"{','.join(records[r]['alts'])}\t.\tPASS\t.\t" + entries(r) for r in order]
    path.write_text("\n".join(head + lines) + "\n")


def split(records: list[dict], calls: np.ndarray, ds: np.ndarray | None = None
          ) -> tuple[list[dict], np.ndarray, np.ndarray | None]:
    """One record per alt with the record's REF (``bcftools norm -m-`` without -f): a call's
    other alts become REF, a missing allele stays missing; a biallelic record's DS kept."""
    out_r, out_c, out_d = [], [], []
    for r, (rec, c) in enumerate(zip(records, calls, strict=True)):
        for k, alt in enumerate(rec["alts"], start=1):
            # A biallelic record keeps its ID in every format (an rsID-only file names it).
            out_r.append({**rec, "id": f"{rec['id']}_{k}" if len(rec["alts"]) > 1 else rec["id"], "alts": [alt]})
            out_c.append(np.where(c < 0, c, (c == k).astype(np.int64)))
            if ds is not None:
                out_d.append(ds[r] if len(rec["alts"]) == 1 else np.full(c.shape[0], np.nan))
    return out_r, np.array(out_c), (np.array(out_d) if ds is not None else None)


def check_contigs(path: Path, records: list[dict], record_id) -> None:
    """Every row of plink2's .pvar/.bim on its record's contig (PAR1 for X's PAR1): plink2's own
    import is an input here, not under test, and a relabelled row made the oracle wrong."""
    table = pd.read_csv(path, sep="\t", comment=None, header=None, dtype=str,
                        skiprows=sum(1 for line in path.open() if line.startswith("#")))
    ids = table[1] if path.suffix == ".bim" else table[2]
    want = {"chr1": "1", "chrX": "X", "chrY": "Y", "chrM": "MT"}
    for contig, vid in zip(table[0], ids, strict=True):
        rec = records[int(record_id(vid).removeprefix("v"))]
        expected = "PAR1" if rec["chrom"] == "chrX" and rec["pos"] < X_START else want[rec["chrom"]]
        if contig not in (expected, {"PAR1": "XY"}.get(expected)):
            raise RuntimeError(f"{path}: {vid} on {contig}, its record on {rec['chrom']}:{rec['pos']} (plink2's import)")


def plink2(*args: str) -> None:
    subprocess.run(["plink2", "--threads", "1", *args], check=True, capture_output=True)


def scoring_rows(rng: np.random.Generator, records: list[dict], keep_ambiguous: bool, extended: bool = False
                 ) -> tuple[list[tuple], list[tuple[str, str, float]]]:
    """A scoring file's rows (chr_name, chr_position, effect, other, weight) in file order, and
    the oracle's matches (unsplit variant ID, allele whose copies count, weight), docs/pgs.md's rules:
    the first row of a site (same position and allele pair, either order) wins
    (duplicate_variants: first); rows whose alleles are an A/T or C/G pair dropped unless keep_ambiguous; a strand-flipped
    SNV row counts the complement; a row at a position with no record is not found. ``extended``:
    also rows of a one-alt record written with one more base (SNVs on either side, indels on the
    right: ``AG/CG`` for A>C, ``ATG/AG`` for AT>A), matched in minimal form."""
    rows: list[tuple] = []
    shared: dict[int, int] = {}
    for rec in records:
        shared[rec["pos"]] = shared.get(rec["pos"], 0) + 1
    for rec in records:
        if rng.random() < 0.2:
            continue
        chrom = rec["chrom"].removeprefix("chr")
        w = float(np.round(rng.normal(0, 1), 4))
        alt = rec["alts"][int(rng.integers(len(rec["alts"])))]
        shape = rng.choice(["ref_alt", "alt_ref", "flip", "flip_swap", "absent", "effect_only", "lower",
                            "both_alts"])
        snv = len(rec["ref"]) == 1 and len(alt) == 1 and len(rec["alts"]) == 1
        if shape == "absent":
            rows.append((chrom, rec["pos"] + 1, alt, rec["ref"], w, None))
            continue
        if shape == "both_alts" and len(rec["alts"]) > 1:
            # Effect and other allele both alts of the record: not_found (README, as pgsc_calc).
            e, o = rng.choice(rec["alts"], 2, replace=False)
            rows.append((chrom, rec["pos"], str(e), str(o), w, None))
            continue
        indel_or_multi_snv = len(alt) != len(rec["ref"]) or (len(rec["ref"]) == 1 and len(rec["alts"]) > 1)
        if shape == "flip" and indel_or_multi_snv and rec["kind"] != "palindromic" and rng.random() < 0.5:
            # Both alleles complemented where no strand flip is tried: an indel (SNVs only) or a
            # multi-allelic SNV site, whose three alleles meet any flipped pair (README: A/C at
            # G>A,C,T is not_found); found only as written (REF effect G, other C at G>C,A).
            # Not the SNV alt of a multi-allelic indel record (AA>GA of AA>AAT,A,GA): its pair
            # complemented base by base, CT/TT, is the SNV C/T in minimal form, G/A flipped,
            # which docs/pgs.md's rules match (ref_alt_flipped, session 50 seed 126 of the matcher).
            e, o = _flip(alt), _flip(rec["ref"])
            m = (rec["id"], rec, e) if e == rec["ref"] and o in rec["alts"] else None
            rows.append((chrom, rec["pos"], e, o, w, m))
            continue
        if shape == "effect_only" and len(rec["alts"]) == 1 and shared[rec["pos"]] == 1:
            # No other allele (an empty cell): README matches the effect allele at a one-alt locus.
            e = alt if rng.random() < 0.5 else rec["ref"]
            rows.append((chrom, rec["pos"], e, "", w, (rec["id"], rec, e)))
            continue
        if extended and len(rec["alts"]) == 1 and rng.random() < 0.15:
            # README: failing the written alleles, in minimal representation (one orientation).
            pad = bases_of(rng)
            left = len(rec["ref"]) == len(alt) and rng.random() < 0.5
            e, o = (pad + alt, pad + rec["ref"]) if left else (alt + pad, rec["ref"] + pad)
            if rng.random() < 0.5:
                rows.append((chrom, rec["pos"] - left, e, o, w, (rec["id"], rec, alt)))
            else:
                rows.append((chrom, rec["pos"] - left, o, e, w, (rec["id"], rec, rec["ref"])))
            continue
        if shape == "lower":  # alleles compared in upper case (docs/pgs.md: Allele case)
            rows.append((chrom, rec["pos"], alt.lower(), rec["ref"].lower(), w, (rec["id"], rec, alt)))
            continue
        if shape.startswith("flip") and snv and rec["kind"] != "palindromic":
            e, o = (_flip(alt), _flip(rec["ref"])) if shape == "flip" else (_flip(rec["ref"]), _flip(alt))
            rows.append((chrom, rec["pos"], e, o, w, (rec["id"], rec, _flip(e))))
        elif shape in ("alt_ref", "flip_swap"):
            rows.append((chrom, rec["pos"], rec["ref"], alt, w, (rec["id"], rec, rec["ref"])))
        else:
            rows.append((chrom, rec["pos"], alt, rec["ref"], w, (rec["id"], rec, alt)))
        if rng.random() < 0.08 and rows[-1][3]:  # the same site again, alleles in either order, another weight
            c, p, e, o, _, m = rows[-1]
            if rng.random() < 0.5:  # swapped: the other allele counts (its complement on a flipped row)
                e, o = o, e
                if len(rec["alts"]) == 1:
                    m = (m[0], m[1], rec["ref"] if m[2] == rec["alts"][0] else rec["alts"][0])
                else:
                    m = (m[0], m[1], e.upper())
            if snv and rec["kind"] != "palindromic" and rng.random() < 0.4:
                # The same variant on the other strand: another site in the file, one variant once
                # matched, which duplicate_variants: first drops there (docs/pgs.md: Duplicate policy).
                e, o = _flip(e.upper()), _flip(o.upper())
            rows.append((c, p, e, o, float(np.round(rng.normal(0, 1), 4)), m))
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    seen: set = set()
    matches = []
    for c, p, e, o, w, m in rows:
        key = (c, p, frozenset((e.upper(), o.upper())))
        if key in seen:
            continue
        seen.add(key)
        if m is None:
            continue
        vid, rec, counted = m
        # Once matched, a later row on the genotype row an earlier one took is dropped too
        # (matching.matched_duplicates: the pair on the other strand).
        both = {e.upper(), o.upper()} if o else set()
        on_strand = both if both & {rec["ref"], *rec["alts"]} else {_flip(a) for a in both}
        galt = next(iter(on_strand - {rec["ref"]}), rec["alts"][0]) if len(rec["alts"]) > 1 else rec["alts"][0]
        # README: a score row whose alleles are an A/T or C/G pair is dropped, whatever the
        # genotype row (also at a multi-allelic site G>A,C: pgsc_calc decides on the score's pair);
        # a row without other allele by the genotyped pair (matching.match_sites_frame's rule).
        pair = (e, o) if o else (rec["ref"], rec["alts"][0])
        if len(pair[0]) == 1 and pair[0].upper() == _flip(pair[1].upper()) and not keep_ambiguous:
            continue
        if (vid, galt) in seen:
            continue
        seen.add((vid, galt))
        matches.append((vid, counted, w))
    return [r[:5] for r in rows], matches


def write_scoring_file(path: Path, pgs_id: str, rows: list[tuple], odds_ratios: bool = False) -> None:
    """A Catalog file; ``odds_ratios``: ``#weight_type=OR``, each weight written as exp(w) (README:
    summed as ln(weight)), to 17 significant digits."""
    body = "".join(f"{c}\t{p}\t{e}\t{o}\t{repr(float(np.exp(w))) if odds_ratios else w}\n" for c, p, e, o, w in rows)
    kind = "#weight_type=OR\n" if odds_ratios else ""
    path.write_text(f"###PGS CATALOG SCORING FILE\n#format_version=2.0\n#pgs_id={pgs_id}\n#genome_build=GRCh38\n"
                    f"{kind}#variants_number={len(rows)}\nchr_name\tchr_position\teffect_allele\tother_allele\t"
                    f"effect_weight\n{body}")


def rsid_rows(rng: np.random.Generator, records: list[dict], keep_ambiguous: bool
              ) -> tuple[list[tuple], list[tuple[str, str, float]]]:
    """An rsID-only file's rows (rsID, effect, other, weight) of the biallelic records (their ID,
    kept by every format), and the oracle's matches: README's rsID rule (the locus of the row with
    that rsID, then the alleles as a positional row): as written either way, strand-flipped SNVs,
    an rsID no row has (not found), A/T and C/G rows dropped unless keep_ambiguous."""
    rows, matches = [], []
    for rec in records:
        if len(rec["alts"]) != 1 or rng.random() < 0.3:
            continue
        w = float(np.round(rng.normal(0, 1), 4))
        alt, ref = rec["alts"][0], rec["ref"]
        shape = rng.choice(["ref_alt", "alt_ref", "flip", "absent"])
        snv = len(ref) == 1 and len(alt) == 1
        if shape == "absent":
            rows.append((f"{rec['id']}x", alt, ref, w))
            continue
        if shape == "flip" and snv and rec["kind"] != "palindromic":
            e, o, counted = _flip(alt), _flip(ref), alt
        elif shape == "alt_ref":
            e, o, counted = ref, alt, ref
        else:
            e, o, counted = alt, ref, alt
        rows.append((rec["id"], e, o, w))
        if snv and e == _flip(o) and not keep_ambiguous:
            continue
        matches.append((rec["id"], counted, w))
    order = rng.permutation(len(rows))
    return [rows[i] for i in order], matches


def write_rsid_file(path: Path, pgs_id: str, rows: list[tuple]) -> None:
    body = "".join(f"{r}\t{e}\t{o}\t{w}\n" for r, e, o, w in rows)
    path.write_text(f"###PGS CATALOG SCORING FILE\n#format_version=2.0\n#pgs_id={pgs_id}\n#genome_build=GRCh38\n"
                    f"#variants_number={len(rows)}\nrsID\teffect_allele\tother_allele\teffect_weight\n{body}")


def plink2_sums(work: Path, pgs_id: str, matches: list[tuple[str, str, float]], zero: bool
                ) -> tuple[dict[str, float], dict[str, int]]:
    """plink2 --score on the unsplit .pgen with the oracle's matched rows: sample -> SUM, and
    sample -> ALLELE_CT (README: ``allele_count`` is plink2's ALLELE_CT)."""
    if not matches:
        return {}, {}
    table = work / f"{pgs_id}.plink2.tsv"
    table.write_text("ID\tA1\tW\n" + "".join(f"{v}\t{a}\t{w!r}\n" for v, a, w in matches))
    plink2("--pfile", str(work / "g"), "--score", str(table), "1", "2", "3", "header", "cols=+scoresums",
           # Under 50 founders plink2 refuses in-sample frequencies without --bad-freqs.
           *(["no-mean-imputation"] if zero else ["--bad-freqs"]), "--out", str(work / f"{pgs_id}.plink2"))
    out = pd.read_csv(work / f"{pgs_id}.plink2.sscore", sep="\t")
    ids = out.iloc[:, 0].astype(str)
    return (dict(zip(ids, out["SCORE1_SUM"], strict=True)),
            dict(zip(ids, out["ALLELE_CT"].astype(int), strict=True)))


def missing_counts(calls: np.ndarray, samples: list[str], matches: list[tuple[str, str, float]],
                   records: list[dict], male: np.ndarray, ds: np.ndarray | None = None) -> dict[str, int]:
    """sample -> matched variants whose call is missing (``n_missing``: a record's alts are
    missing together, a male's chrX call is his first allele; a non-male's chrY call is no
    missing call, docs/pgs.md: Dosage policy)."""
    rec = [int(v.removeprefix("v")) for v, _, _ in matches]
    if not rec:
        return dict.fromkeys(samples, 0)
    miss = calls[rec, :, 0] < 0
    if ds is not None:  # a missing GT with a DS is read (README: falls back to its GT the other way round)
        miss &= np.isnan(ds[rec])
    on_y = np.array([records[r]["chrom"] == "chrY" for r in rec])
    miss[np.ix_(on_y, ~male)] = False
    return dict(zip(samples, (int(x) for x in miss.sum(axis=0)), strict=True))


def make_seed(hl, work: Path, seed: int, n_samples: int, n_records: int, extended: bool = False,
              orders: bool = False, with_dosages: bool = False, uncalled: float = 0.04,
              more_files: bool = False) -> dict:
    """Writes the seed's target in every format and its scoring files; returns the case.
    ``orders``: also the split .bed with its rows shuffled (``u``) and the REF-last BGEN
    (``r.bgen``), no ``AT>ATC,A`` records; ``with_dosages``: a DS on the biallelic records
    (``dosages``), no multi-allelic record, the .pgen imported with ``dosage=DS`` and the BGEN
    made from plink2's .pgen of the split VCF (8-bit). ``more_files``: the second file's weights
    written as odds ratios (``#weight_type=OR``) and a third, rsID-only file (``pgs.match_rsid``)."""
    rng = np.random.default_rng(seed)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    records, calls, male = generate(rng, n_samples, n_records, extended, uncalled, multi_indel=not orders,
                                    multi=not with_dosages)
    ds = dosages(rng, records, calls) if with_dosages else None
    samples = [str(1001 + i) for i in range(n_samples)]
    write_vcf(work / "d.vcf", records, calls, samples, ds)
    srec, scalls, sds = split(records, calls, ds)
    write_vcf(work / "split.vcf", srec, scalls, samples, sds)
    (work / "sex.txt").write_text("#IID\tSEX\n" + "".join(f"{s}\t{1 if m else 2}\n" for s, m in zip(samples, male, strict=True)))
    common = ["--update-sex", str(work / "sex.txt"), "--split-par", "hg38", "--vcf-half-call", "missing"]
    dosage = ["dosage=DS"] if with_dosages else []
    plink2("--vcf", str(work / "d.vcf"), *dosage, *common, "--make-pgen", "--out", str(work / "g"))
    plink2("--vcf", str(work / "split.vcf"), *common, "--make-bed", "--out", str(work / "s"))
    if with_dosages:
        plink2("--vcf", str(work / "split.vcf"), *dosage, *common, "--make-pgen", "--out", str(work / "sp"))
    plink2("--pfile" if with_dosages else "--bfile", str(work / ("sp" if with_dosages else "s")), "--export",
           "bgen-1.2", "bits=8", "ref-first", "id-paste=iid", "--out", str(work / "s"))
    if orders:
        # Shuffled within each contig (plink2 refuses a contig split in two: "split chromosome").
        shuffled = np.concatenate([rng.permutation(np.flatnonzero(np.array([r["chrom"] == c for r in srec])))
                                   for c in CONTIG_ORDER])
        write_vcf(work / "shuffled.vcf", srec, scalls, samples, order=shuffled)
        plink2("--vcf", str(work / "shuffled.vcf"), *common, "--make-bed", "--out", str(work / "u"))
        check_contigs(work / "u.bim", records, lambda v: v.rsplit("_", 1)[0])
        plink2("--bfile", str(work / "s"), "--export", "bgen-1.2", "bits=8", "id-paste=iid", "--out", str(work / "r"))
    check_contigs(work / "g.pvar", records, lambda v: v)
    check_contigs(work / "s.bim", records, lambda v: v.rsplit("_", 1)[0])
    if hl is not None:
        hl.import_vcf(str(work / "d.vcf"), reference_genome="GRCh38").write(str(work / "d.mt"), overwrite=True)
    opts = {"zero": bool(rng.random() < 0.5), "keep_ambiguous": bool(rng.random() < 0.5)}
    (work / "scores").mkdir()
    oracle = {}
    for k in range(3 if more_files else 2):
        pgs_id = f"PGS99{seed % 1000:03d}{k}"
        if k == 2:
            rsid, matches = rsid_rows(rng, records, opts["keep_ambiguous"])
            write_rsid_file(work / "scores" / f"{pgs_id}.txt", pgs_id, rsid)
        else:
            rows, matches = scoring_rows(rng, records, opts["keep_ambiguous"], extended)
            write_scoring_file(work / "scores" / f"{pgs_id}.txt", pgs_id, rows, odds_ratios=more_files and k == 1)
        sums, allele_ct = plink2_sums(work, pgs_id, matches, opts["zero"])
        # The BGEN's 8-bit rounding of the DS records' dosages, at most: per sample sum(|w|) x 1/255.
        on_ds = {f"v{r}" for r in range(len(records))} if ds is None else \
            {f"v{r}" for r in range(len(records)) if not np.isnan(ds[r]).all()}
        oracle[pgs_id] = {"n_matched": len(matches), "sums": sums, "allele_ct": allele_ct,
                          "n_missing": missing_counts(calls, samples, matches, records, male, ds),
                          "bgen_slack": BGEN_DOSAGE_ERROR * sum(abs(w) for v, _, w in matches if v in on_ds)
                          if with_dosages else 0.0}
    return {"opts": opts, "oracle": oracle, "samples": samples, "n_records": len(records),
            "dosages": with_dosages, "rsid": more_files}


def run_route(hl, spark, work: Path, route: str, case: dict, routes: dict | None = None) -> pd.DataFrame:
    """The published scores (``published_frame``) of one route (``routes``, default ``ROUTES``:
    format, genotypes path, extra pgs settings) on a seed's case, through the stage's own
    functions; the match log and scores kept in ``work/run_<route>``. The case's ``rsid``,
    ``dosages`` and ``liftover`` (a ``work/h37.chain``) set the matching settings."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_field_cases_pgs import case_config, published_frame

    from trd_spark.pgs import stage
    from trd_spark.pgs.matching import variant_matches_pandas

    fmt, rel, extra = (ROUTES if routes is None else routes)[route]
    opts = case["opts"]
    pgs = (f"  missing_genotypes: {'zero' if opts['zero'] else 'mean_impute'}\n"
           f"  keep_ambiguous: {str(opts['keep_ambiguous']).lower()}\n  duplicate_variants: first\n{extra}"
           + ("  match_rsid: true\n" if case.get("rsid") else ""))
    if case.get("liftover"):
        pgs += f"  liftover: {{chain_file: {work / 'h37.chain'}, min_match: 0.95}}\n"
    tmp = work / f"run_{route}"
    tmp.mkdir(exist_ok=True)
    dosage = ", dosage_field: DS" if case.get("dosages") and fmt in ("vcf", "mt") else ""
    cfg = case_config(tmp, str(work / rel), f"{work}/scores/*.txt", fmt=fmt, extra_pgs=pgs,
                      extra_genotypes=f", sex_source: {{path: {work / 'sex.txt'}}}{dosage}")
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    matched = stage.match_dataset(hl, spark, cfg, "d", files)
    # The match log kept for minimising a disagreement (variant, match type per score row).
    variant_matches_pandas(matched.frame, "d").to_csv(tmp / "variant_matches.tsv", sep="\t", index=False)
    got = published_frame(stage.scores_of_dataset(hl, spark, cfg, matched))
    got.to_csv(tmp / "scores.tsv", sep="\t", index=False)
    return got


def compare(route: str, got: pd.DataFrame, case: dict, first: dict) -> list[str]:
    """Disagreements of one route: with plink2's sums, the oracle's match count, the first route's sums."""
    bad = []
    for pgs_id, want in case["oracle"].items():
        g = got[got["pgs_id"] == pgs_id]
        if g.empty:
            if want["n_matched"]:
                bad.append(f"{route} {pgs_id}: no rows, oracle matched {want['n_matched']}")
            continue
        n = set(g["n_matched"])
        if n != {want["n_matched"]}:
            bad.append(f"{route} {pgs_id}: n_matched {sorted(n)} != oracle {want['n_matched']}")
        sums = dict(zip(g["person_id"].astype(str), g["score_sum"], strict=True))
        if set(sums) != set(case["samples"]) or len(g) != len(sums):
            bad.append(f"{route} {pgs_id}: {len(g)} rows for {len(set(sums) & set(case['samples']))} of "
                       f"{len(case['samples'])} samples")
        avg = g["score_sum"] / (2 * g["n_matched"])
        if not np.allclose(g["score_avg"], avg, rtol=1e-12, atol=1e-12, equal_nan=True):
            bad.append(f"{route} {pgs_id}: score_avg is not score_sum / (2 n_matched)")
        for col, key in (("allele_count", "allele_ct"), ("n_missing", "n_missing")):
            ours = dict(zip(g["person_id"].astype(str), g[col].astype(int), strict=True))
            off = [s for s, v in want[key].items() if ours.get(s) != v]
            if off:
                bad.append(f"{route} {pgs_id} {col} of {len(off)} samples, e.g. {off[0]}: ours {ours.get(off[0])} "
                           f"oracle {want[key][off[0]]}")
        # A BGEN of dosages holds them to 8 bits: within their rounding of plink2's sums, and not
        # compared with the other routes (``bgen_slack``, 0 without --dosages).
        lossy = route.startswith("bgen") and want.get("bgen_slack", 0.0) > 0
        slack = want.get("bgen_slack", 0.0) if lossy else 0.0
        # ``sum_slack`` (per sample): an oracle added from several plink2 runs, each SUM to 6 digits.
        part_slack = want.get("sum_slack", {})
        for s, v in want["sums"].items():
            if abs(sums.get(s, np.nan) - v) > 1e-5 * max(1.0, abs(v)) + slack + part_slack.get(s, 0.0) \
                    or s not in sums:
                bad.append(f"{route} {pgs_id} sample {s}: ours {sums.get(s)} plink2 {v}")
                break
        ref = None if lossy else first.get(pgs_id)
        if ref is not None:
            for s, v in ref.items():
                if abs(sums.get(s, np.nan) - v) > 1e-9 or s not in sums:
                    bad.append(f"{route} {pgs_id} sample {s}: ours {sums.get(s)} vs first route {v}")
                    break
        elif not lossy:
            first[pgs_id] = sums
    return bad


class _Lengths:
    """Stands for Hail's reference in ``--match-only`` (the contigs the target uses)."""

    lengths = {"chr1": 248_956_422, "chrX": 156_040_895, "chrY": 57_227_415, "chrM": 16_569}

    @classmethod
    def get_reference(cls, _name: str) -> type[_Lengths]:
        return cls


def match_only(work: Path, case: dict) -> list[str]:
    """The matcher alone (``matching.match_sites_frame`` on the .pgen's and the split .bed's
    variant lists, as the native engine's route runs it; no Spark, no Hail): its used rows per
    score against the oracle's count. Seconds per seed, so thousands of seeds fit where the
    routes take minutes each."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_field_cases_pgs import case_config

    from trd_spark.pgs import matching, pgen_engine
    from trd_spark.pgs.native_task import PlinkFiles
    from trd_spark.pgs.scoring_files import read_scoring_files

    opts, bad = case["opts"], []
    pgs = f"  keep_ambiguous: {str(opts['keep_ambiguous']).lower()}\n  duplicate_variants: first\n"
    pgs += "  match_rsid: true\n" if case.get("rsid") else ""
    # --orders: also the shuffled split .bed (its rows out of position order).
    for fmt, rel in (("pgen", "g"), ("plink", "s"), *((("plink", "u"),) if (work / "u.bim").exists() else ())):
        tmp = work / f"match_{rel}"
        tmp.mkdir(exist_ok=True)
        cfg = case_config(tmp, str(work / rel), f"{work}/scores/*.txt", fmt=fmt, extra_pgs=pgs)
        sites = matching.score_sites(_Lengths, None, read_scoring_files(None, cfg.pgs, "GRCh38"), "GRCh38")
        index = pgen_engine.variant_index(PlinkFiles.of(cfg.dataset("d").genotypes), "GRCh38")
        m = matching.match_sites_frame(sites, index.frame, keep_ambiguous=opts["keep_ambiguous"],
                                       duplicate_variants="first")
        vm = matching.variant_matches_pandas(matching.frame_matches(m, index.frame), "d")
        vm.to_csv(tmp / "variant_matches.tsv", sep="\t", index=False)
        used = vm[vm["match_type"].isin(matching.USED_MATCH_TYPES)]
        for pgs_id, want in case["oracle"].items():
            n = int((used["pgs_id"] == pgs_id).sum())
            if n != want["n_matched"]:
                bad.append(f"match-{rel} {pgs_id}: n_matched {n} != oracle {want['n_matched']}")
    return bad


def parse_seeds(items: list[str]) -> list[int]:
    out = []
    for it in items:
        lo, _, hi = it.partition("-")
        out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs="+", default=["1"], help="seeds or ranges (3-9)")
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--records", type=int, default=60)
    ap.add_argument("--routes", nargs="+", choices=list(ROUTES), default=None,
                    help="default: " + ", ".join(DEFAULT_ROUTES) + " (+ the --orders routes; --dosages: its own)")
    ap.add_argument("--work-dir", default="/tmp/trd_spark_diff_pgs")
    ap.add_argument("--extended", action="store_true",
                    help="records also in X's PAR1 and on chrY, score rows written with one more base "
                         "(other seeds than without)")
    ap.add_argument("--orders", action="store_true",
                    help="also the split .bed shuffled and a REF-last BGEN (routes " + ", ".join(ORDER_ROUTES)
                         + "; no AT>ATC,A records; other seeds than without)")
    ap.add_argument("--dosages", action="store_true",
                    help="a DS on the biallelic records: the .pgen and BGEN carry them (routes "
                         + ", ".join(DOSAGE_ROUTES) + " unless --routes)")
    ap.add_argument("--more-files", action="store_true",
                    help="the second scoring file's weights as odds ratios (#weight_type=OR) and a third, rsID-only "
                         "file (pgs.match_rsid)")
    ap.add_argument("--uncalled", type=float, default=0.04, help="share of records no sample is called at")
    ap.add_argument("--match-only", action="store_true",
                    help="the matcher alone on the .pgen and split .bed (n_matched; no Spark, no sums)")
    args = ap.parse_args()
    if args.routes is None:
        args.routes = DOSAGE_ROUTES if args.dosages else DEFAULT_ROUTES + (ORDER_ROUTES if args.orders else [])
    if not shutil.which("plink2"):
        sys.exit("plink2 is not on PATH")
    if args.match_only:
        seeds, bad = parse_seeds(args.seeds), 0
        for seed in seeds:
            work = Path(args.work_dir) / f"seed{seed}"
            diffs = match_only(work, make_seed(None, work, seed, args.samples, args.records, args.extended,
                                               args.orders, args.dosages, args.uncalled, args.more_files))
            bad += len(diffs)
            for b in diffs:
                print(f"  DIFF seed {seed} {b}", flush=True)
        print(f"SUMMARY match-only seeds={len(seeds)} runs={2 * len(seeds)} disagreements={bad}")
        return
    from trd_spark.config import SparkSettings
    from trd_spark.session import start_session

    root = Path(args.work_dir)
    root.mkdir(parents=True, exist_ok=True)
    spark = start_session(SparkSettings(master="local[2]", driver_memory="3g", shuffle_partitions=2,
                                        tmp_dir=str(root / "tmp")))
    import hail as hl

    run_seeds(parse_seeds(args.seeds), root, args.routes,
              lambda work, seed: make_seed(hl, work, seed, args.samples, args.records, args.extended, args.orders,
                                           args.dosages, args.uncalled, args.more_files),
              lambda work, route, case: run_route(hl, spark, work, route, case), compare)


def run_seeds(seeds: list[int], root: Path, routes: list[str], make_case: Callable[[Path, int], dict],
              run: Callable[[Path, str, dict], pd.DataFrame],
              check: Callable[[str, pd.DataFrame, dict, dict], list[str]]) -> int:
    """Each seed's case (``make_case(root / f"seed{seed}", seed)``, with ``oracle``, ``n_records``
    and ``opts``) scored by every route (``run``) and checked (``check(route, got, case, first)``:
    the disagreements, ``first`` the first route's scores); a route's error is a disagreement.
    Prints one line per seed, each disagreement, and the ``SUMMARY`` line; returns the
    disagreements. Shared by this script and diff_pgs_kinds.py."""
    runs = disagreements = 0
    for seed in seeds:
        t0 = time.perf_counter()
        work = root / f"seed{seed}"
        case = make_case(work, seed)
        first: dict = {}
        bad_seed = []
        for route in routes:
            runs += 1
            try:
                got = run(work, route, case)
            except Exception as e:  # noqa: BLE001 - a route's error is a disagreement to report
                bad_seed.append(f"{route}: error {type(e).__name__}: {str(e).splitlines()[0][:300]}")
                continue
            bad_seed += check(route, got, case, first)
        disagreements += len(bad_seed)
        matched = {k: v["n_matched"] for k, v in case["oracle"].items()}
        print(f"seed {seed}: {case['n_records']} records, opts {case['opts']}, oracle matched {matched}, "
              f"{len(bad_seed)} disagreements, {time.perf_counter() - t0:.0f} s", flush=True)
        for b in bad_seed:
            print(f"  DIFF seed {seed} {b}", flush=True)
    print(f"SUMMARY seeds={len(seeds)} runs={runs} disagreements={disagreements}")
    return disagreements


if __name__ == "__main__":
    main()
