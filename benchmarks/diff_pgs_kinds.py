"""Differential fuzz of the PGS field-case kinds diff_pgs_routes.py leaves out (not part of the suite).

Session 52 (helper pgskinds). The target, formats and scoring rows are diff_pgs_routes.py's
(``generate``, ``scoring_rows``, its routes and ``compare``); this script adds four shapes, each
with an independent oracle:

``--models``: every scoring row on chr1 flagged ``is_dominant`` or ``is_recessive`` (a third
each; chrX/chrY rows additive: docs/pgs.md refuses the modifiers on haploid contigs), the second
file's weights written as odds ratios (``#weight_type=OR``: an OR weight on a dominant row). Oracle:
plink2 ``--score`` on the unsplit .pgen run once per effect type with its ``dominant`` /
``recessive`` modifier and the SUMs and ALLELE_CTs added, as pgsc_calc runs it. Routes: every
default route of diff_pgs_routes.py and the two VDS routes.

``--vds``: the same calls also as a Hail VariantDataset (``d.vds``): local alleles (``LA`` = REF and
the alts the sample carries, ``LGT`` indexing into it; a male's X haploid), hom-ref calls as
reference blocks spanning runs of records (a hom-ref at a position shared with another record,
where a block would also cover the other, as a variant-data ``LGT`` 0/0), a missing call either
absent from both parts or a variant entry with a missing ``LGT``. Oracle: plink2 on the .pgen of
the same calls (diff_pgs_routes.py's). Routes vds (native engine on the exported calls) and
vds-hail-pass.

``--multi-dosages``: chr1 only, every record with a ``DS`` per alt (Number=A, in quarters, a
record's alts summing to at most 2): per entry all DS given, none (``.``: falls back to its GT),
or given for some alts and not others (``0.5,.``; in the split files: on some split records); a missing GT with all
DS given is read, with none is missing. Oracle: numpy (``numpy_oracle``): an alt effect allele
counts its DS (or GT copies), a REF one 2 - the site's alt dosages, a missing call w x the mean
dosage of the called samples (0 with ``zero``); plink2 imports no multi-allelic DS and reads split
records each alone, so it is no oracle for a REF effect allele. Routes: vcf (the unsplit records,
Hail's pass with ``dosage_field: DS``), mt (``hl.import_vcf`` of it), split-vcf (one record per
alt, ``bcftools norm -m-`` style, Hail's pass with its split-site sum), split-pgen (plink2
``--vcf split.vcf dosage=DS --make-pgen``: the native engine's site models) and split-bgen (8-bit,
compared within its rounding).

``--liftover``: the first scoring file written on GRCh37 positions (``#genome_build=GRCh37``, no
harmonised columns) through a made-up chain (``h37.chain``: chr1 and chrX blocks with their own
offsets, a gap no record lies in), read with ``pgs.liftover``; the second a harmonised file
(``#HmPOS_build=GRCh38`` with ``hm_chr``/``hm_pos``, its ``chr_position`` the GRCh37 place).
Oracle: the same matches as the GRCh38 file (diff_pgs_routes.py's plink2 sums).

``--liftover-minus`` (session 53): as ``--liftover`` with the second half of the chr1 and chrX
records moved into GRCh38 regions a negative-strand chain block reaches (``h37.chain`` gains
``MINUS_BLOCKS``: GRCh37 x = a - y, the region inverted), and the scoring rows of
diff_pgs_routes.py's ``extended`` draw (SNVs also written with one more base). A row there is
written as a GRCh37 file has it: single-base alleles complemented at x, an equal-length pair
(``AG/CG``) reverse-complemented at its last base's place x - (L - 1), an indel (or a multi-base
allele without other allele) reverse-complemented and anchored on its left, on a made-up base.
Oracle: the GRCh38 matches (plink2's sums) without the indel rows on the inverted blocks, which
docs/pgs.md counts as ``liftover_failed`` (their GRCh38 anchor base is not in the file).

``--liftover-minus --harmonised`` (session 54): both files harmonised instead (``#HmPOS_build=GRCh38``,
``hm_pos`` the GRCh37 place lifted one base, as pyliftover gives it; alleles as the GRCh37 file
has them); records one per position, no ``AT>ATC,A``; a block with one row left out. Oracle
(``harmonised_inverted``): off the blocks the GRCh38 matches; on them docs/pgs.md's rule (rows of
several bases, without other allele, or A/T / C/G unplaced; single-base pairs matched as written,
else strand-flipped unless an allele is the site's), printing any match counting another allele
than its GRCh38 row. Works with ``--match-only`` (no liftover needed).

``--mito`` (session 53): diff_pgs_routes.py's target plus records on chrM (SNVs, A/T and C/G
SNVs, multi-allelic SNVs, deletions), each sample's call haploid (``1``, ``.``) or, for a share of
samples per record, diploid-coded (``0/1``, ``1/1``, ``1/2``, ``./.``: callers that write every
contig diploid). Oracle: plink2 --score on the .pgen of the same calls (chrM haploid for everyone:
a ``0/1`` is half a copy on the haploid scale, w/2; docs/pgs.md "Dosage policy"); the BGEN's 8-bit
rounding of those half copies within 1/255 x sum |w| of the chrM rows. Default routes.

``--indel-repeats`` (session 54): diff_pgs_routes.py's target plus chr1 records in repeats (``Repeat``:
a unit of 1-3 bases repeated 2-5 times between bases that stop its shifts), each one or two or
three of its indels (a unit or two deleted or inserted), one alt written left-aligned (mostly),
right-aligned, or with one shared base more on the right, several alts as one left-aligned
record; a third scoring file's rows name those indels (or another of the repeat, absent) written
as the record has them, left- or right-aligned, anchored inside the repeat, with a shared base more
on either side, or anchored on the right (REF/ALT sharing a suffix), the effect allele either side.
Oracle: docs/pgs.md's "Indel representations" (as written, else the minimal form when one
orientation fits) in the script's own code, the matched alleles scored by plink2 on the .pgen
(in parts where a record's REF is counted twice); the ``not_found_unnormalised`` rows counted
from the reference stretch (not found, and the minimal form not the left-aligned one, or, from
session 55, left-aligned while the record writes it shifted right) against each route's match log; and, printed only, the matches whose variant is not the row's (the
insertion's pair met as the deletion's: the alleles cannot tell). ``--match-only``: the
matcher alone on the .pgen's and split .bed's lists (diff_pgs_routes.py's), seconds per seed.
With ``--routes vds vds-hail-pass`` (session 56) the calls are also written as ``--vds``'s VDS
(records no sample carries left out of every format, as there).

``--crosses``: the field cases' ID and duplicate kinds in the VDS and BGEN shapes, each on both
engines, the expected outcome one error (``crosses``): sample-ids-leading-zeros as a VDS (its
columns) and as a BGEN (IDs embedded, and only in its ``.sample``: plink2's export with its sample
block stripped), duplicate-genotype-rows' two chunks as one VDS (a variant-data row twice).

    .venv/bin/python benchmarks/diff_pgs_kinds.py --models --seeds 1-5
    .venv/bin/python benchmarks/diff_pgs_kinds.py --vds --seeds 1-5
    .venv/bin/python benchmarks/diff_pgs_kinds.py --multi-dosages --seeds 1-5
    .venv/bin/python benchmarks/diff_pgs_kinds.py --liftover-minus --seeds 1-20 --routes pgen vcf
    PYTHONPATH=$PWD .venv/bin/python benchmarks/diff_pgs_kinds.py --indel-repeats --match-only --seeds 1-500

(From a worktree, set ``PYTHONPATH`` to it: else the installed package, /work/main's, is imported.)

Prints one line per seed and route that disagrees, then ``SUMMARY seeds=N runs=R
disagreements=D``. One Spark/Hail session for every seed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import diff_pgs_routes as R  # noqa: E402

KIND_ROUTES = {
    **R.ROUTES,
    "vds": ("vds", "d.vds", ""),
    "vds-hail-pass": ("vds", "d.vds", "  native: {engine: hail}\n"),
    "split-vcf": ("vcf", "split.vcf", ""),
    "split-pgen": ("pgen", "sp", ""),
    "split-bgen": ("bgen", "sp.bgen", ""),
}
VDS_ROUTES = ["vds", "vds-hail-pass"]
MULTI_DOSAGE_ROUTES = ["vcf", "mt", "split-vcf", "split-pgen", "split-bgen"]
MODELS = ("additive", "dominant", "recessive")
LIFT_SHIFT = {"1": 12_345, "X": 7_000}  # the made-up chain: GRCh37 position = GRCh38 position + shift
# --liftover-minus: contig -> (GRCh38 region (first, last), 1-based; GRCh37 x = a - y there, a
# negative-strand block; GRCh38 records moved there by ``shift``).
MINUS_BLOCKS = {"1": ((7_000_001, 8_000_000), 28_000_001, 7_000_000),
                "X": ((8_000_001, 9_000_000), 39_000_001, 5_000_000)}
GRCH37_SIZE = {"1": 249_250_621, "X": 155_270_560}
GRCH38_SIZE = {"1": 248_956_422, "X": 156_040_895}


# --- dominant / recessive rows --------------------------------------------------------------------

def model_of_rows(rng: np.random.Generator, rows: list[tuple]) -> list[str]:
    """An effect type per scoring row: chr1 rows a third each, other contigs additive."""
    return [str(rng.choice(MODELS)) if r[0] == "1" else "additive" for r in rows]


def write_model_file(path: Path, pgs_id: str, rows: list[tuple], models: list[str], odds_ratios: bool) -> None:
    """A Catalog file with ``is_dominant`` / ``is_recessive`` columns (TRUE/FALSE)."""
    def flag(b: bool) -> str:
        return "TRUE" if b else "FALSE"
    body = "".join(f"{c}\t{p}\t{e}\t{o}\t{repr(float(np.exp(w))) if odds_ratios else w}\t"
                   f"{flag(m == 'dominant')}\t{flag(m == 'recessive')}\n"
                   for (c, p, e, o, w), m in zip(rows, models, strict=True))
    kind = "#weight_type=OR\n" if odds_ratios else ""
    path.write_text(f"###PGS CATALOG SCORING FILE\n#format_version=2.0\n#pgs_id={pgs_id}\n#genome_build=GRCh38\n"
                    f"{kind}#variants_number={len(rows)}\nchr_name\tchr_position\teffect_allele\tother_allele\t"
                    f"effect_weight\tis_dominant\tis_recessive\n{body}")


def model_matches(rows: list[tuple], models: list[str], matches: list[tuple]) -> dict[str, list[tuple]]:
    """The oracle's matches split by the effect type of the row that won its site. ``scoring_rows``
    returns the matches in file order of their winning rows; the winning row of a match is the
    first row (file order) with its weight whose match it is: found by walking the rows in order
    and taking, per match, the next row of equal weight."""
    out: dict[str, list[tuple]] = {m: [] for m in MODELS}
    i = 0
    for vid, counted, w in matches:
        while rows[i][4] != w:
            i += 1
        out[models[i]].append((vid, counted, w))
        i += 1
    return out


def plink2_model_sums(work: Path, pgs_id: str, by_model: dict[str, list[tuple]], zero: bool
                      ) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """plink2 --score once per effect type (its modifier), the SUMs and ALLELE_CTs added; and per
    sample the rounding of the parts (each SUM printed to 6 significant digits: 1e-5 x max(1,
    |part|) each, which ``compare`` adds to its tolerance: seeds 12 and 16 of session 53 differed
    by 1.05e-5 on a sum of 0.24 made of 1.20, -2.72 and 1.77, every route alike)."""
    sums: dict[str, float] = {}
    cts: dict[str, int] = {}
    slack: dict[str, float] = {}
    for model, matches in by_model.items():
        if not matches:
            continue
        table = work / f"{pgs_id}.{model}.plink2.tsv"
        table.write_text("ID\tA1\tW\n" + "".join(f"{v}\t{a}\t{w!r}\n" for v, a, w in matches))
        mod = [] if model == "additive" else [model]
        R.plink2("--pfile", str(work / "g"), "--score", str(table), "1", "2", "3", "header", *mod,
                 "cols=+scoresums", *(["no-mean-imputation"] if zero else ["--bad-freqs"]),
                 "--out", str(work / f"{pgs_id}.{model}.plink2"))
        out = pd.read_csv(work / f"{pgs_id}.{model}.plink2.sscore", sep="\t")
        for s, v, c in zip(out.iloc[:, 0].astype(str), out["SCORE1_SUM"], out["ALLELE_CT"], strict=True):
            sums[s] = sums.get(s, 0.0) + float(v)
            cts[s] = cts.get(s, 0) + int(c)
            slack[s] = slack.get(s, 0.0) + 1e-5 * max(1.0, abs(float(v)))
    return sums, cts, slack


# --- VDS ----------------------------------------------------------------------------------------

def write_vds(hl, path: Path, records: list[dict], calls: np.ndarray, samples: list[str],
              rng: np.random.Generator) -> None:
    """The calls as a VDS (module docstring, ``--vds``)."""
    locus_t = hl.tlocus("GRCh38")
    var_rows: list[dict] = []
    ref_rows: list[dict] = []
    n_at: dict[tuple, int] = {}
    for rec in records:
        n_at[(rec["chrom"], rec["pos"])] = n_at.get((rec["chrom"], rec["pos"]), 0) + 1
    order = sorted(range(len(records)), key=lambda r: (R.CONTIG_ORDER[records[r]["chrom"]], records[r]["pos"]))
    ref_allele = {}
    for r in order:
        rec = records[r]
        ref_allele[(rec["chrom"], rec["pos"])] = rec["ref"][0]
        alleles = [rec["ref"], *rec["alts"]]
        for s, c in zip(samples, calls[r], strict=True):
            a, b = int(c[0]), int(c[1])
            hom_ref = a == 0 and b in (0, -2)
            if a < 0:
                uncalled = (calls[r][:, 0] < 0).all()
                if uncalled or rng.random() < 0.5:
                    var_rows.append({"locus": hl.Locus(rec["chrom"], rec["pos"], "GRCh38"), "alleles": alleles,
                                     "s": s, "LGT": None, "LA": None})
                continue
            if hom_ref and n_at[(rec["chrom"], rec["pos"])] == 1:
                continue  # a reference block (below)
            la = [0, *sorted({a, b} - {0, -2})]
            lgt = hl.Call([la.index(a)]) if b == -2 else hl.Call(sorted([la.index(a), la.index(b)]))
            var_rows.append({"locus": hl.Locus(rec["chrom"], rec["pos"], "GRCh38"), "alleles": alleles, "s": s,
                             "LGT": lgt, "LA": la})
    # Reference blocks: per sample and contig, runs of records (position order) the sample is
    # hom-ref at and alone at its position, each one block from a random start after the
    # previous record to a random end before the next.
    for si, s in enumerate(samples):
        for contig in R.CONTIG_ORDER:
            rows = [r for r in order if records[r]["chrom"] == contig]
            hom = [n_at[(contig, records[r]["pos"])] == 1 and int(calls[r][si][0]) == 0
                   and int(calls[r][si][1]) in (0, -2) for r in rows]
            for start, end in _blocks([records[r] for r in rows], hom, rng):
                ref_rows.append({"locus": hl.Locus(contig, start, "GRCh38"), "s": s, "END": end})
    # Every sample a column of both parts: a one-base block at chr1:100 and a hom-ref variant
    # entry at chr1:5000 (before any record; no score row lies there).
    for s in samples:
        ref_rows.append({"locus": hl.Locus("chr1", 100, "GRCh38"), "s": s, "END": 100})
        var_rows.append({"locus": hl.Locus("chr1", 5000, "GRCh38"), "alleles": ["A", "C"], "s": s,
                         "LGT": hl.Call([0, 0]), "LA": [0]})
    var = hl.Table.parallelize(var_rows, hl.tstruct(locus=locus_t, alleles=hl.tarray(hl.tstr), s=hl.tstr,
                                                    LGT=hl.tcall, LA=hl.tarray(hl.tint32)))
    ref = hl.Table.parallelize(ref_rows, hl.tstruct(locus=locus_t, s=hl.tstr, END=hl.tint32))
    var_mt = var.to_matrix_table(row_key=["locus", "alleles"], col_key=["s"])
    ref_mt = ref.to_matrix_table(row_key=["locus"], col_key=["s"])
    refs = hl.literal({f"{c}:{p}": a for (c, p), a in ref_allele.items()})
    ref_mt = ref_mt.annotate_rows(ref_allele=refs.get(hl.str(ref_mt.locus), "N"))
    hl.vds.VariantDataset(ref_mt, var_mt).write(str(path), overwrite=True)


def _blocks(recs: list[dict], hom: list[bool], rng: np.random.Generator) -> list[tuple[int, int]]:
    """Reference blocks (start, END) over the runs of ``recs`` (one contig, position order) where
    ``hom``: each from a random start after the previous record's REF to a random end before the
    next record."""
    out = []
    k = 0
    while k < len(recs):
        if not hom[k]:
            k += 1
            continue
        j = k
        while j + 1 < len(recs) and hom[j + 1]:
            j += 1
        prev_end = recs[k - 1]["pos"] + len(recs[k - 1]["ref"]) if k else recs[k]["pos"] - 400
        nxt = recs[j + 1]["pos"] if j + 1 < len(recs) else recs[j]["pos"] + 400
        out.append((int(rng.integers(prev_end, recs[k]["pos"] + 1)), int(rng.integers(recs[j]["pos"], nxt))))
        k = j + 1
    return out


# --- multi-allelic dosages ----------------------------------------------------------------------

def multi_dosages(rng: np.random.Generator, records: list[dict], calls: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per record, sample and alt a DS (nan: ``.``) and per record and sample a shape: 0 all DS
    given, 1 none (GT read), 2 partial (some alts' DS given; the others
    read from the GT). A called GT's alts: its own copies (60%) or other quarters (40%) summing to
    at most 2; a missing GT: all alts given (30%) or none. A partial entry's given DS fit beside
    the GT copies of the others (sum at most 2)."""
    n_r, n_s = calls.shape[:2]
    k_max = max(len(r["alts"]) for r in records)
    ds = np.full((n_r, n_s, k_max), np.nan)
    shape = np.zeros((n_r, n_s), dtype=np.int64)
    for r, rec in enumerate(records):
        k = len(rec["alts"])
        for s in range(n_s):
            c = calls[r, s]
            own = np.array([float(int(c[0] == j) + int(c[1] == j)) for j in range(1, k + 1)])
            u = rng.random()
            if c[0] < 0:
                if u < 0.3:
                    ds[r, s, :k] = _quarters(rng, k)
                else:
                    shape[r, s] = 1
                continue
            if u < 0.15:
                shape[r, s] = 1
            elif u < 0.35 and k > 1:
                shape[r, s] = 2
                given = rng.random(k) < 0.5
                if given.all() or not given.any():
                    given = np.arange(k) == int(rng.integers(k))
                room = 2.0 - own[~given].sum()
                vals = _quarters(rng, int(given.sum()), room)
                ds[r, s, :k][given] = vals
            else:
                ds[r, s, :k] = own if rng.random() < 0.6 else _quarters(rng, k)
    return ds, shape


def _quarters(rng: np.random.Generator, k: int, total: float = 2.0) -> np.ndarray:
    """k dosages in quarters summing to at most ``total``."""
    left = int(round(total * 4))
    out = np.zeros(k)
    for j in rng.permutation(k):
        q = int(rng.integers(0, left + 1))
        out[j] = q / 4.0
        left -= q
    return out


def effective_dosages(records: list[dict], calls: np.ndarray, ds: np.ndarray) -> np.ndarray:
    """Per record, sample and alt the dosage read (DS, else the GT's copies; nan: missing)."""
    out = np.full(ds.shape, np.nan)
    for r, rec in enumerate(records):
        for j in range(1, len(rec["alts"]) + 1):
            c = calls[r]
            gt = np.where(c[:, 0] < 0, np.nan, (c[:, 0] == j) * 1.0 + (c[:, 1] == j) * 1.0)
            out[r, :, j - 1] = np.where(np.isnan(ds[r, :, j - 1]), gt, ds[r, :, j - 1])
    return out


def write_multi_vcfs(work: Path, records: list[dict], calls: np.ndarray, ds: np.ndarray, shape: np.ndarray,
                     samples: list[str]) -> list[dict]:
    """d.vcf (unsplit, DS Number=A: a partial entry with ``.`` for the alts not given) and split.vcf (one record per alt, the record's REF; DS per split record, ``.`` where
    not given). Returns the split records."""
    head = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>",
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
            '##FORMAT=<ID=DS,Number=A,Type=Float,Description="Dosage">',
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples)]
    order = sorted(range(len(records)), key=lambda r: records[r]["pos"])
    lines, split_lines, srec = [], [], []
    for r in order:
        rec = records[r]
        k = len(rec["alts"])
        entries = []
        for s in range(len(samples)):
            gt = R._gt(calls[r, s])
            if shape[r, s] == 1:
                entries.append(f"{gt}:.")
            else:  # a partial entry with '.' for the alts not given (docs/pgs.md: per alt, its GT)
                entries.append(f"{gt}:" + ",".join("." if np.isnan(v) else f"{v:g}" for v in ds[r, s, :k]))
        lines.append(f"chr1\t{rec['pos']}\t{rec['id']}\t{rec['ref']}\t{','.join(rec['alts'])}\t.\tPASS\t.\tGT:DS\t"
                     + "\t".join(entries))
        for j, alt in enumerate(rec["alts"], start=1):
            vid = f"{rec['id']}_{j}" if k > 1 else rec["id"]
            srec.append({**rec, "id": vid, "alts": [alt]})
            sentries = []
            for s in range(len(samples)):
                c = calls[r, s]
                sc = np.where(c < 0, c, (c == j).astype(np.int64))
                d = ds[r, s, j - 1]
                sentries.append(f"{R._gt(sc)}:" + ("." if np.isnan(d) else f"{d:g}"))
            split_lines.append(f"chr1\t{rec['pos']}\t{vid}\t{rec['ref']}\t{alt}\t.\tPASS\t.\tGT:DS\t"
                               + "\t".join(sentries))
    (work / "d.vcf").write_text("\n".join(head + lines) + "\n")
    (work / "split.vcf").write_text("\n".join(head + split_lines) + "\n")
    return srec


def numpy_oracle(records: list[dict], calls: np.ndarray, ds: np.ndarray, samples: list[str],
                 matches: list[tuple[str, str, float]], zero: bool) -> dict:
    """sums, allele_ct and n_missing per sample from the dosages read (module docstring)."""
    eff = effective_dosages(records, calls, ds)
    by_id = {rec["id"]: r for r, rec in enumerate(records)}
    n = len(samples)
    total, n_called, n_miss = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for vid, counted, w in matches:
        r = by_id[vid]
        rec = records[r]
        k = len(rec["alts"])
        if counted == rec["ref"]:
            d = 2.0 - eff[r, :, :k].sum(axis=1)
        else:
            d = eff[r, :, rec["alts"].index(counted)]
        miss = np.isnan(eff[r, :, :k]).any(axis=1) if counted == rec["ref"] else np.isnan(d)
        mean = float(np.mean(d[~miss])) if (~miss).any() else 0.0
        total += np.where(miss, 0.0 if zero else w * mean, w * np.nan_to_num(d))
        n_called += ~miss
        n_miss += miss
    return {"sums": dict(zip(samples, total.tolist(), strict=True)),
            "allele_ct": dict(zip(samples, (2 * n_called).tolist(), strict=True)),
            "n_missing": dict(zip(samples, n_miss.tolist(), strict=True))}


# --- liftover -----------------------------------------------------------------------------------

def write_chain(path: Path) -> None:
    """GRCh37 -> GRCh38 (t = GRCh37, q = GRCh38, 0-based starts): chr1 q [0, 5,000,000) from t +
    12,345, a 100-base gap, then q [5,000,100, 6,000,000) (no record lies past 1,000,000); chrX q
    [0, 10,000,000) from t + 7,000 (``LIFT_SHIFT``). No other contig: no row lies there."""
    t1, tx = LIFT_SHIFT["1"], LIFT_SHIFT["X"]
    path.write_text(f"chain 1000 1 249250621 + {t1} {t1 + 6_000_000} chr1 248956422 + 0 6000000 1\n"
                    f"5000000\t100\t100\n999900\n\n"
                    f"chain 1000 X 155270560 + {tx} {tx + 10_000_000} chrX 156040895 + 0 10000000 2\n"
                    f"10000000\n\n")


def write_minus_chain(path: Path) -> None:
    """``write_chain``'s blocks and one negative-strand block per contig of ``MINUS_BLOCKS``
    (UCSC chain: q coordinates of a ``-`` block count from the q contig's end, 0-based)."""
    write_chain(path)
    text = path.read_text()
    for k, (c, ((first, last), a, _)) in enumerate(MINUS_BLOCKS.items()):
        n = last - first + 1
        t_start = a - last - 1  # 0-based GRCh37 start: x = a - y, x of y = last is the block's first
        q_size = GRCH38_SIZE[c]
        text += (f"chain 1000 {c} {GRCH37_SIZE[c]} + {t_start} {t_start + n} chr{c} {q_size} - "
                 f"{q_size - last} {q_size - first + 1} {3 + k}\n{n}\n\n")
    path.write_text(text)


def minus_block(c: str, p: int) -> tuple[int, int] | None:
    """(a, shift) of the negative-strand block holding GRCh38 ``c:p`` (``MINUS_BLOCKS``), or None."""
    block = MINUS_BLOCKS.get(c)
    return (block[1], block[2]) if block and block[0][0] <= p <= block[0][1] else None


COMPLEMENT_ANY_CASE = str.maketrans("ACGTacgt", "TGCAtgca")  # the "lower" rows keep their case


def _rc(a: str) -> str:
    return a.translate(COMPLEMENT_ANY_CASE)[::-1]


def to_grch37(row: tuple, rng: np.random.Generator) -> tuple[tuple, bool]:
    """A GRCh38 scoring row written as a GRCh37 file has it (module docstring, ``--liftover-minus``),
    and whether it should lift over to its GRCh38 match (False: an indel row on a negative-strand
    block, ``liftover_failed``)."""
    c, p, e, o, w = row
    block = minus_block(c, p)
    if block is None:
        return (c, p + LIFT_SHIFT.get(c, 0), e, o, w), True
    a, _ = block
    if len(e) == 1 and len(o) <= 1:
        return (c, a - p, e.translate(COMPLEMENT_ANY_CASE), o.translate(COMPLEMENT_ANY_CASE), w), True
    if o and len(e) == len(o):
        return (c, a - (p + len(e) - 1), _rc(e), _rc(o), w), True
    # VCF-style alleles sharing their first base (the anchor): the reference span is the
    # shorter allele's length for an insertion and the longer's for a deletion; the fuzzer's
    # rows are one or the other, so the span is the length of the allele that is a prefix
    # of the other or else the longer one.
    short, long_ = sorted([e, o or e], key=len)
    span = len(short) if long_.upper().startswith(short.upper()) else len(long_)
    base = "ACGT"[int(rng.integers(4))]
    e37 = base + _rc(e)[:-1]
    o37 = base + _rc(o)[:-1] if o else ""
    return (c, a - (p + span - 1) - 1, e37, o37, w), False


def lift37(c: str, x: int) -> int:
    """A GRCh37 position on the made-up chain's GRCh38 (``LIFT_SHIFT``, ``MINUS_BLOCKS``): one base."""
    for contig, ((first, last), a, _) in MINUS_BLOCKS.items():
        if contig == c and a - last <= x <= a - first:
            return a - x
    return x - LIFT_SHIFT.get(c, 0)


def harmonised_inverted(rows: list[tuple], lifted: list[tuple], matches: list[tuple], records: list[dict]
                        ) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """``--liftover-minus --harmonised`` (session 54): the rows, their GRCh37 forms and the oracle's
    matches for a harmonised file whose hm_pos is the GRCh37 place lifted, its alleles the GRCh37
    file's. A block with one row is left out of the file (an inverted mapping is seen from two
    rows: docs/pgs.md). On an inverted block a row with an allele of several bases, without other
    allele or with an A/T or C/G pair is left unplaced (not found); a pair of single bases is
    matched by docs/pgs.md's rules on the alleles as written (GRCh37's strand) at its GRCh38
    record: as written, else strand-flipped unless an allele is one of the site's; rows of one
    genotype row after the first dropped (duplicate_variants: first). Prints where such a match
    counts another allele than the GRCh38 file's row (none expected)."""
    on_block = [minus_block(r[0], r[1]) is not None for r in rows]
    per_block: dict[str, int] = {}
    for r, b in zip(rows, on_block, strict=True):
        if b:
            per_block[r[0]] = per_block.get(r[0], 0) + 1
    lone = {c for c, n in per_block.items() if n == 1}
    base = dict(zip(winning_rows(rows, matches), matches, strict=True))
    at = {(rec["chrom"].removeprefix("chr"), rec["pos"]): rec for rec in records}
    out, seen = [], set()
    for i, r in enumerate(rows):
        m = base.get(i)
        if not on_block[i]:
            if m is not None:
                out.append(m)
                seen.add((m[0], m[1]))
            continue
        if r[0] in lone:
            continue
        e, o = lifted[i][0][2].upper(), lifted[i][0][3].upper()
        rec = at.get((r[0], r[1]))
        if rec is None or len(e) != 1 or len(o) != 1 or e == R._flip(o):
            continue
        ref, alts = rec["ref"], rec["alts"]

        def fits(a: str, b: str) -> bool:
            return (a in alts and b == ref) or (a == ref and b in alts)  # noqa: B023
        if fits(e, o):
            counted = e
        elif {e, o} & {ref, *alts}:  # an allele of the site as written: no flip
            continue
        elif fits(R._flip(e), R._flip(o)):
            counted = R._flip(e)
        else:
            continue
        galt = counted if counted != ref else (o if fits(e, o) else R._flip(o))
        if (rec["id"], galt) in seen or (rec["id"], counted) in seen:
            continue
        seen.add((rec["id"], galt))
        if m is not None and m[1] != counted:
            print(f"  harmonised: row {r} counts {counted} on the inverted block, its GRCh38 row {m[1]}", flush=True)
        out.append((rec["id"], counted, r[4]))
    keep_rows = [i for i, r in enumerate(rows) if not (on_block[i] and r[0] in lone)]
    return [rows[i] for i in keep_rows], [lifted[i] for i in keep_rows], out


def winning_rows(rows: list[tuple], matches: list[tuple]) -> list[int]:
    """The row index of each oracle match (``model_matches``' walk: the next row of equal weight)."""
    out, i = [], 0
    for _, _, w in matches:
        while rows[i][4] != w:
            i += 1
        out.append(i)
        i += 1
    return out


def write_lifted_files(work: Path, pgs_id: str, rows: list[tuple], harmonised: bool,
                       rows37: list[tuple] | None = None) -> None:
    """The scoring file on GRCh37 positions (``harmonised``: hm_chr/hm_pos on GRCh38 beside them);
    ``rows37``: the rows as written on GRCh37 (``to_grch37``), else shifted by ``LIFT_SHIFT``."""
    def p37(c: str, p: int) -> int:
        return p + LIFT_SHIFT.get(c, 0)
    if rows37 is not None and harmonised:  # hm_pos: the GRCh37 position lifted (pyliftover's one base)
        body = "".join(f"{c}\t{p}\t{e}\t{o}\t{w}\t{c}\t{lift37(c, p)}\n" for c, p, e, o, w in rows37)
        head = "#HmPOS_build=GRCh38\n"
        cols = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos"
    elif rows37 is not None:
        body = "".join(f"{c}\t{p}\t{e}\t{o}\t{w}\n" for c, p, e, o, w in rows37)
        head = ""
        cols = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight"
    elif harmonised:
        body = "".join(f"{c}\t{p37(c, p)}\t{e}\t{o}\t{w}\t{c}\t{p}\n" for c, p, e, o, w in rows)
        head = "#HmPOS_build=GRCh38\n"
        cols = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos"
    else:
        body = "".join(f"{c}\t{p37(c, p)}\t{e}\t{o}\t{w}\n" for c, p, e, o, w in rows)
        head = ""
        cols = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight"
    (work / "scores" / f"{pgs_id}.txt").write_text(
        f"###PGS CATALOG SCORING FILE\n#format_version=2.0\n#pgs_id={pgs_id}\n#genome_build=GRCh37\n{head}"
        f"#variants_number={len(rows)}\n{cols}\n{body}")


# --- indels in repeats (session 54) -------------------------------------------------------------

REPEAT_START = 1_000_000  # chr1, past diff_pgs_routes.py's records (which end near 300,000)
REPEAT_KINDS = ("del1", "del2", "ins1", "ins2")


def _min_rep(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Hail's ``min_rep`` (suffix, then prefix, each while both alleles keep a base); the fuzz's own."""
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    k = 0
    while len(ref) - k > 1 and len(alt) - k > 1 and ref[k] == alt[k]:
        k += 1
    return pos + k, ref[k:], alt[k:]


class Repeat:
    """A reference stretch ``seg`` from ``start`` (1-based): a base E, the anchor F at ``p``, a unit
    U repeated ``n`` times, then T and a few more bases; F is not U's last base and T not its
    first, so the repeat's indels left-align onto F and right-align onto its last unit."""

    def __init__(self, rng: np.random.Generator, p: int) -> None:
        bases = "ACGT"
        size = int(rng.choice([1, 1, 2, 2, 3]))
        while True:
            unit = "".join(rng.choice(list(bases), size))
            if size == 1 or len(set(unit)) > 1 and unit != unit[:1] * size:
                if size != 2 or unit[0] != unit[1]:
                    break
        self.unit, self.n, self.p = unit, int(rng.integers(2, 6)), p
        f = str(rng.choice([b for b in bases if b != unit[-1]]))
        t = str(rng.choice([b for b in bases if b != unit[0]]))
        self.seg = bases[int(rng.integers(4))] + f + unit * self.n + t + "".join(rng.choice(list(bases), 3))
        self.start = p - 1

    def at(self, pos: int, length: int) -> str:
        i = pos - self.start
        assert 0 <= i and i + length <= len(self.seg), (pos, length)
        return self.seg[i:i + length]

    def apply(self, pos: int, ref: str, alt: str) -> str:
        """The stretch with the variant (``pos``, ``ref``, ``alt``) applied (``ref`` must be its bases)."""
        assert self.at(pos, len(ref)) == ref, (pos, ref, self.seg)
        i = pos - self.start
        return self.seg[:i] + alt + self.seg[i + len(ref):]

    def variant(self, kind: str) -> str | None:
        """The haplotype of ``kind`` (del1/del2/ins1/ins2: that many units), None if the repeat is too short."""
        k = int(kind[-1])
        if kind.startswith("del"):
            if k > self.n:
                return None
            return self.apply(self.p, self.at(self.p, 1 + len(self.unit) * k), self.at(self.p, 1))
        return self.apply(self.p, self.at(self.p, 1), self.at(self.p, 1) + self.unit * k)

    def forms(self, kind: str) -> dict[str, tuple[int, str, str]]:
        """Representations (pos, REF side, ALT side) of ``kind``: ``left`` (left-aligned, minimal),
        ``right`` (right-aligned), ``mid`` (anchored inside the repeat, when there is room),
        ``pad_left``/``pad_right`` (left with one shared base more on either side),
        ``right_pad`` (right with one on its right), ``right_anchor`` (the anchor base after the
        change: REF and ALT with a common suffix, not a prefix)."""
        hap = self.variant(kind)
        assert hap is not None
        k, u = int(kind[-1]), len(self.unit)
        span = u * k
        out: dict[str, tuple[int, str, str]] = {}
        anchors = []  # every anchor giving the same haplotype, leftmost first
        for a in range(self.p, self.p + u * self.n + 1):
            if kind.startswith("del"):
                if a + span > self.p + u * self.n:
                    break
                rep = (a, self.at(a, 1 + span), self.at(a, 1))
            else:
                i = a - self.start + 1
                rep = (a, self.at(a, 1), self.at(a, 1) + hap[i:i + span])
            if self.apply(*rep) == hap:
                anchors.append(rep)
        out["left"], out["right"] = anchors[0], anchors[-1]
        if len(anchors) > 2:
            out["mid"] = anchors[len(anchors) // 2]
        a, r, x = out["left"]
        e = self.at(a - 1, 1)
        out["pad_left"] = (a - 1, e + r, e + x)
        nxt = self.at(a + len(r), 1)
        out["pad_right"] = (a, r + nxt, x + nxt)
        a, r, x = out["right"]
        nxt = self.at(a + len(r), 1)
        out["right_pad"] = (a, r + nxt, x + nxt)
        out["right_anchor"] = (a + 1, r[1:] + nxt, x[1:] + nxt)
        for rep in out.values():
            assert self.apply(*rep) == hap, (kind, rep, self.seg)
        return out


def plink2_sums_in_parts(work: Path, pgs_id: str, matches: list[tuple], zero: bool, extra: list[tuple] = ()
                         ) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """``diff_pgs_routes.plink2_sums`` of ``matches`` in as many plink2 runs as one record is
    counted, as pgsc_calc splits its plink2 score files (pgscatalog.match ``plinkify``: one ID
    with two effect alleles goes to two files, scored and summed; plink2 refuses an allele twice
    in one --score file, and with two alleles of one ID in one file its ALLELE_CT counts the
    variant once), the SUMs and ALLELE_CTs added, with their rounding (``sum_slack``, as
    ``plink2_model_sums``)."""
    parts: list[list[tuple]] = []
    for m in [*matches, *((v, a, w, True) for v, a, w in extra)]:
        for part in parts:
            if all(x[0] != m[0] for x in part):
                part.append(m)
                break
        else:
            parts.append([m])
    sums: dict[str, float] = {}
    cts: dict[str, int] = {}
    slack: dict[str, float] = {}
    for i, part in enumerate(parts):
        counted = [m for m in part if len(m) == 3]  # the extra rows add to the sums only
        s, c = R.plink2_sums(work, f"{pgs_id}.part{i}", [m[:3] for m in part], zero)
        if len(counted) < len(part):
            _, c = R.plink2_sums(work, f"{pgs_id}.part{i}c", counted, zero)
        for k, v in s.items():
            sums[k] = sums.get(k, 0.0) + float(v)
            cts[k] = cts.get(k, 0) + int(c.get(k, 0))
            slack[k] = slack.get(k, 0.0) + (1e-5 * max(1.0, abs(float(v))) if len(parts) > 1 else 0.0)
    return sums, cts, slack


def repeat_records(rng: np.random.Generator, n: int, first_id: int) -> list[dict]:
    """``n`` records in repeats on chr1 from ``REPEAT_START`` (module docstring, ``--indel-repeats``):
    each a ``Repeat`` and its alts (one, or two or three as one left-aligned record), written
    left-aligned (most), right-aligned, or with one shared base more on the right (one alt)."""
    out = []
    pos = REPEAT_START
    for i in range(n):
        pos += int(rng.integers(500, 3000))
        rep = Repeat(rng, pos)
        kinds = [k for k in REPEAT_KINDS if rep.variant(k) is not None]
        alts_k = [str(k) for k in rng.choice(kinds, int(rng.choice([1, 1, 1, 2, 3])), replace=False)]
        if len(alts_k) == 1:
            form = str(rng.choice(["left", "left", "left", "right", "pad_right", "right_pad"]))
            p, ref, alt = rep.forms(alts_k[0])[form]
            alts = [alt]
        else:  # one record: REF the longest deletion's span, every alt anchored on F
            form = "left"
            kd = max([int(k[-1]) for k in alts_k if k.startswith("del")], default=0)
            p, ref = rep.p, rep.at(rep.p, 1 + len(rep.unit) * kd)
            alts = [ref[0] + rep.unit * (kd - int(k[-1]) if k.startswith("del") else kd + int(k[-1])) for k in alts_k]
            for k, a in zip(alts_k, alts, strict=True):
                assert rep.apply(p, ref, a) == rep.variant(k)
        out.append({"chrom": "chr1", "pos": p, "id": f"v{first_id + i}", "ref": ref, "alts": alts, "kind": "repeat",
                    "repeat": rep, "alt_kinds": alts_k, "form": form})
    return out


def repeat_calls(rng: np.random.Generator, records: list[dict], n_samples: int) -> np.ndarray:
    """Calls as ``diff_pgs_routes.generate`` draws them (chr1: diploid)."""
    calls = np.full((len(records), n_samples, 2), -1, dtype=np.int64)
    for r, rec in enumerate(records):
        k = 1 + len(rec["alts"])
        calls[r] = rng.choice(k, size=(n_samples, 2), p=rng.dirichlet(np.ones(k)))
        calls[r][rng.random(n_samples) < rng.choice([0.0, 0.05, 0.2])] = -1
    return calls


def shifted_alt(rec: dict, j: int) -> tuple[int, frozenset] | None:
    """The left-aligned minimal form (position, allele pair) of a repeat record's alt ``j`` when
    the record writes it shifted right (its minimal form not the left-aligned one: forms
    ``right``/``right_pad``), else None: a score row left-aligned on that pair is then
    ``not_found_unnormalised`` from the genotypes' side (``matching.shifted_genotype_indels``;
    either reading of the pair, an insertion or a deletion of the unit, is the same pair)."""
    rep: Repeat = rec["repeat"]
    left = rep.forms(rec["alt_kinds"][j])["left"]
    tp, tr, ta = _min_rep(rec["pos"], rec["ref"], rec["alts"][j])
    pair = (left[0], frozenset(left[1:]))
    return None if (tp, frozenset((tr, ta))) == pair else pair


def repeat_rows(rng: np.random.Generator, records: list[dict]
                ) -> tuple[list[tuple], list[tuple], int, int, list[tuple]]:
    """A scoring file's rows on the repeat records (chr, pos, effect, other, weight) and the oracle:
    its matches (record ID, allele counted as the .pgen writes it, weight), the count of
    ``not_found_unnormalised`` rows (not found, and their minimal form not the left-aligned one,
    or left-aligned while the record writes that variant shifted right: ``shifted_alt``),
    and the count of matches whose variant is not the row's (an insertion's pair met as the
    deletion's at one anchor: the written alleles cannot tell them apart; pgsc_calc alike); and
    the extra plink2 rows of a REF effect allele that is part of its record's REF (``kept_alts``:
    their copies added to the REF's, counted in the sums only).

    Rows: per record one or two variants, an alt of it or another indel of its repeat (absent),
    each in a form of ``Repeat.forms`` or as the record writes it, the effect allele the ALT or
    the REF side. The rules are docs/pgs.md's "Indel representations": the pair as the file
    writes it at its position, else in minimal form when only one orientation fits there."""
    rows: list[tuple] = []
    meta: list[tuple] = []
    seen_rows: set = set()
    for rec in records:
        rep: Repeat = rec["repeat"]
        kinds = [k for k in REPEAT_KINDS if rep.variant(k) is not None]
        for _ in range(int(rng.integers(1, 3))):
            kind = str(rng.choice(rec["alt_kinds"] if rng.random() < 0.7 else kinds))
            forms = rep.forms(kind)
            if kind in rec["alt_kinds"]:
                forms["written"] = (rec["pos"], rec["ref"], rec["alts"][rec["alt_kinds"].index(kind)])
            name = str(rng.choice(sorted(forms)))
            p, r, x = forms[name]
            alt_effect = rng.random() < 0.5
            e, o = (x, r) if alt_effect else (r, x)
            key = (p, frozenset((e, o)))
            if key in seen_rows:
                continue
            seen_rows.add(key)
            rows.append(("1", p, e, o, float(np.round(rng.normal(0, 1), 4))))
            meta.append((rec, kind, name, alt_effect))
    order = rng.permutation(len(rows))
    rows, meta = [rows[i] for i in order], [meta[i] for i in order]
    matches: list[tuple] = []
    taken: set = set()
    extra: list[tuple] = []
    unnormalised = wrong = 0
    for (_c, p, e, o, w), (rec, kind, name, alt_effect) in zip(rows, meta, strict=True):
        rep = rec["repeat"]
        found = None  # (alt index, effect is the ALT)
        written = [j for j, a in enumerate(rec["alts"]) if p == rec["pos"] and {e, o} == {rec["ref"], a}]
        if written:
            j = written[0]
            found = (j, e == rec["alts"][j])
        else:
            ms, mo, me = _min_rep(p, o, e)
            ra, ar = [], []
            for j, a in enumerate(rec["alts"]):
                tp, tr, ta = _min_rep(rec["pos"], rec["ref"], a)
                if tp == ms and (tr, ta) == (mo, me):
                    ra.append(j)
                if tp == ms and (tr, ta) == (me, mo):
                    ar.append(j)
            if ra and not ar:
                found = (sorted(ra, key=lambda j: _min_rep(rec["pos"], rec["ref"], rec["alts"][j])[1:])[0], True)
            elif ar and not ra:
                found = (sorted(ar, key=lambda j: _min_rep(rec["pos"], rec["ref"], rec["alts"][j])[1:])[0], False)
        if found is None:
            left = rep.forms(kind)["left"]
            ms, ma, mb = _min_rep(p, o, e)
            if (ms, frozenset((ma, mb))) != (left[0], frozenset(left[1:])):
                unnormalised += 1
            elif any(shifted_alt(rec, j) == (ms, frozenset((ma, mb))) for j in range(len(rec["alts"]))):
                unnormalised += 1  # the record's alt is this row's variant written shifted right (session 55)
            continue
        j, effect_alt = found
        if (rec["id"], j) in taken:
            continue  # duplicate_variants: first (one genotype row, two rows of the file)
        taken.add((rec["id"], j))
        if kind != rec["alt_kinds"][j] or effect_alt != alt_effect:
            wrong += 1
            if os.environ.get("PGSFUZZ_SHOW"):
                print(f"  another variant: row {p} {e}/{o} ({kind} {name}, effect the "
                      f"{'ALT' if alt_effect else 'REF'} side) met {rec['pos']} {rec['ref']}>{','.join(rec['alts'])} "
                      f"as {'alt ' + rec['alts'][j] if effect_alt else 'REF'} ({rec['alt_kinds'][j]})", flush=True)
        matches.append((rec["id"], rec["alts"][j] if effect_alt else rec["ref"], w))
        if not effect_alt and not (p == rec["pos"] and e == rec["ref"]):
            # A REF effect allele that is part of the record's REF (met in minimal form) keeps the
            # copies of the alts that leave its bases alone (docs/pgs.md "Multi-allelic sites": a
            # deletion keeps its anchor): 2 - the others = REF copies + these alts' copies.
            for k in kept_alts(rec, j):
                extra.append((rec["id"], rec["alts"][k], w))
    return rows, matches, unnormalised, wrong, extra


def kept_alts(rec: dict, j: int) -> list[int]:
    """The alts of ``rec`` other than ``j`` whose bases do not overlap the span of alt ``j``'s
    minimal REF (docs/pgs.md's partial-REF rule, the script's own reading): a deletion changes the
    bases after its anchor, an insertion its anchor base, anything else its REF's bases."""
    p0, r0, _ = _min_rep(rec["pos"], rec["ref"], rec["alts"][j])
    start, end = p0, p0 + len(r0) - 1
    out = []
    for k, a in enumerate(rec["alts"]):
        if k == j:
            continue
        q, r, x = _min_rep(rec["pos"], rec["ref"], a)
        if len(x) == 1 and len(r) > 1 and x == r[0]:
            lo, hi = q + 1, q + len(r) - 1
        elif len(r) == 1 and len(x) > 1 and x[0] == r:
            lo, hi = q, q
        else:
            lo, hi = q, q + len(r) - 1
        if not (lo <= end and hi >= start):
            out.append(k)
    return out


# --- chrM ---------------------------------------------------------------------------------------

def add_mito(rng: np.random.Generator, records: list[dict], calls: np.ndarray, n: int
             ) -> tuple[list[dict], np.ndarray]:
    """``n`` chrM records (module docstring, ``--mito``) after ``records``, with their calls:
    per record a share of samples (0-40%) diploid-coded, the others haploid (second allele -2)."""
    n_samples = calls.shape[1]
    new_r, new_c = [], []
    pos = 100
    for _ in range(n):
        pos += int(rng.integers(50, 600))
        ref = "ACGT"[int(rng.integers(4))]
        kind = str(rng.choice(["snv", "snv", "palindromic", "multi", "del"]))
        if kind == "palindromic":
            alts = [R._flip(ref)]
        elif kind == "snv":
            alts = [str(rng.choice([b for b in "ACGT" if b not in (ref, R._flip(ref))]))]
        elif kind == "del":
            ref, alts = ref + "ACGT"[int(rng.integers(4))], [ref]
        else:
            alts = [str(a) for a in rng.choice([b for b in "ACGT" if b != ref], int(rng.integers(2, 4)), replace=False)]
        new_r.append({"chrom": "chrM", "pos": pos, "id": f"v{len(records) + len(new_r)}", "ref": ref, "alts": alts,
                      "kind": kind})
        k = 1 + len(alts)
        c = rng.choice(k, size=(n_samples, 2), p=rng.dirichlet(np.ones(k)))
        diploid = rng.random(n_samples) < rng.choice([0.0, 0.1, 0.4])
        c[~diploid, 1] = -2
        c[rng.random(n_samples) < rng.choice([0.0, 0.05, 0.2])] = -1
        c[(c[:, 0] == -1) & ~diploid, 1] = -2
        new_c.append(c)
    return records + new_r, np.concatenate([calls, np.array(new_c, dtype=np.int64)]) if new_c else calls


# --- crosses of the ID / duplicate kinds ------------------------------------------------------------

CROSS_EXPECT = {"leading": "sample ID(s) are not a person_id written as a plain integer (the first: sample #2",
                "duplicate": "have a genotype row more than once in the genotypes"}


def crosses(hl, spark, root: Path) -> list[str]:
    """The ``--crosses`` checks (module docstring): one line per check whose outcome is not the
    expected error (no error, another error, or a sample ID in the message)."""
    import subprocess

    sys.path.insert(0, str(R.REPO / "tests"))
    from test_field_cases_pgs import CASES, case_config, run_scores
    from test_pgs_bgen import _strip_sample_ids
    from test_pgs_genotypes import write_vds as write_gt_vds

    bad = []
    leading = next((CASES / "sample-ids-leading-zeros" / "genotypes").iterdir())
    dup_chunks = sorted((CASES / "duplicate-genotype-rows" / "genotypes").iterdir())
    shapes = {}
    t = root / "crosses"
    if t.exists():
        shutil.rmtree(t)
    (t / "n").mkdir(parents=True)
    write_gt_vds(hl, hl.import_vcf(str(leading), reference_genome="GRCh38", force_bgz=True), str(t / "z.vds"))
    shapes["vds-leading-zeros"] = ("vds", t / "z.vds", "sample-ids-leading-zeros", "leading")
    chunks = [hl.import_vcf(str(p), reference_genome="GRCh38", force_bgz=True) for p in dup_chunks]
    write_gt_vds(hl, chunks[0].union_rows(chunks[1]), str(t / "dup.vds"))
    shapes["vds-duplicate-rows"] = ("vds", t / "dup.vds", "duplicate-genotype-rows", "duplicate")
    with (t / "z.vcf").open("w") as out:
        subprocess.run(["gunzip", "-c", str(leading)], stdout=out, check=True)
    R.plink2("--vcf", str(t / "z.vcf"), "--export", "bgen-1.2", "bits=8", "ref-first", "id-paste=iid",
             "--out", str(t / "e"))
    shapes["bgen-embedded-leading-zeros"] = ("bgen", t / "e.bgen", "sample-ids-leading-zeros", "leading")
    _strip_sample_ids(t / "e.bgen", t / "n" / "x.bgen")
    shutil.copy(t / "e.sample", t / "n" / "x.sample")
    shapes["bgen-sample-file-leading-zeros"] = ("bgen", t / "n" / "x.bgen", "sample-ids-leading-zeros", "leading")
    for name, (fmt, path, case, kind) in shapes.items():
        for engine in ("native", "hail"):
            run = t / f"run_{name}_{engine}"
            run.mkdir()
            extra = "  native: {engine: hail}\n" if engine == "hail" else ""
            cfg = case_config(run, str(path), f"{CASES / case}/scores/*", fmt=fmt, extra_pgs=extra)
            try:
                run_scores(hl, spark, cfg)
                bad.append(f"{name} {engine}: no error")
            except Exception as e:  # noqa: BLE001 - the outcome under test
                msg = str(e)
                if CROSS_EXPECT[kind] not in msg or "01001" in msg or "001004" in msg or "\n" in msg:
                    bad.append(f"{name} {engine}: {type(e).__name__}: {msg[:300]}")
    return bad


# --- one seed -----------------------------------------------------------------------------------

def make_seed(hl, work: Path, seed: int, args) -> dict:
    rng = np.random.default_rng(seed + 52_000)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    records, calls, male = R.generate(rng, args.samples, args.records, False, args.uncalled)
    samples = [str(1001 + i) for i in range(args.samples)]
    if args.multi_dosages:
        keep = [r for r, rec in enumerate(records) if rec["chrom"] == "chr1"]
        records = [{**records[r], "id": f"v{i}"} for i, r in enumerate(keep)]
        calls = calls[keep]
        male = np.zeros(len(samples), dtype=bool)
    vds = bool(args.vds or args.models or (args.indel_repeats and set(args.routes or ()) & set(VDS_ROUTES)))
    if vds:
        # A VDS has no row where no sample carries an alt (its score variants are not found,
        # docs/pgs.md "VDS"): such records (called, but hom-ref for all) are left out of every
        # format, so that plink2's .pgen stays the oracle. An uncalled record stays (its missing
        # entries are variant-data entries with a missing LGT, below).
        carried = ((calls > 0).any(axis=(1, 2))) | (calls[:, :, 0] < 0).all(axis=1)
        keep = [r for r in range(len(records)) if carried[r]]
        records = [{**records[r], "id": f"v{i}"} for i, r in enumerate(keep)]
        calls = calls[keep]
    if args.mito:
        records, calls = add_mito(rng, records, calls, max(4, args.records // 6))
    n_base = len(records)
    if args.indel_repeats:
        extra = repeat_records(rng, max(8, args.records // 3), len(records))
        extra_calls = repeat_calls(rng, extra, len(samples))
        if vds:  # as above: a record no sample carries has no VDS row (session 56: --indel-repeats on a VDS)
            carried = ((extra_calls > 0).any(axis=(1, 2))) | (extra_calls[:, :, 0] < 0).all(axis=1)
            keep = [r for r in range(len(extra)) if carried[r]]
            extra = [{**extra[r], "id": f"v{len(records) + i}"} for i, r in enumerate(keep)]
            extra_calls = extra_calls[keep]
        records = records + extra
        calls = np.concatenate([calls, extra_calls])
    if args.liftover_minus and args.harmonised:
        # One record per position and no AT>ATC,A records (harmonised_inverted's oracle reads one
        # record's alleles as the site's).
        n_at: dict[tuple, int] = {}
        for rec in records:
            n_at[(rec["chrom"], rec["pos"])] = n_at.get((rec["chrom"], rec["pos"]), 0) + 1
        keep = [r for r, rec in enumerate(records) if n_at[(rec["chrom"], rec["pos"])] == 1
                and rec["kind"] != "multi_indel"]
        records = [{**records[r], "id": f"v{i}"} for i, r in enumerate(keep)]
        calls = calls[keep]
        n_base = len(records)
    if args.liftover_minus:
        # The second half of each contig's records (by position) into its negative-strand block.
        for contig, (_, _, shift) in MINUS_BLOCKS.items():
            pos = [rec["pos"] for rec in records if rec["chrom"] == f"chr{contig}"]
            cut = float(np.median(pos)) if pos else 0.0
            for rec in records:
                if rec["chrom"] == f"chr{contig}" and rec["pos"] > cut:
                    rec["pos"] += shift
    (work / "sex.txt").write_text("#IID\tSEX\n" + "".join(f"{s}\t{1 if m else 2}\n"
                                                          for s, m in zip(samples, male, strict=True)))
    common = ["--update-sex", str(work / "sex.txt"), "--split-par", "hg38", "--vcf-half-call", "missing"]
    ds = None
    if args.multi_dosages:
        ds, shape = multi_dosages(rng, records, calls)
        write_multi_vcfs(work, records, calls, ds, shape, samples)
        R.plink2("--vcf", str(work / "split.vcf"), "dosage=DS", *common, "--make-pgen", "--out", str(work / "sp"))
        R.plink2("--pfile", str(work / "sp"), "--export", "bgen-1.2", "bits=8", "ref-first", "id-paste=iid",
                 "--out", str(work / "sp"))
    else:
        R.write_vcf(work / "d.vcf", records, calls, samples)
        srec, scalls, _ = R.split(records, calls)
        R.write_vcf(work / "split.vcf", srec, scalls, samples)
        R.plink2("--vcf", str(work / "d.vcf"), *common, "--make-pgen", "--out", str(work / "g"))
        R.plink2("--vcf", str(work / "split.vcf"), *common, "--make-bed", "--out", str(work / "s"))
        R.plink2("--bfile", str(work / "s"), "--export", "bgen-1.2", "bits=8", "ref-first", "id-paste=iid",
                 "--out", str(work / "s"))
        R.check_contigs(work / "g.pvar", records, lambda v: v)
    if hl is not None:
        hl.import_vcf(str(work / "d.vcf"), reference_genome="GRCh38", array_elements_required=False).write(
            str(work / "d.mt"), overwrite=True)
        if vds:
            # Its own draws: the scoring rows stay those of a run without Hail.
            write_vds(hl, work / "d.vds", records, calls, samples, np.random.default_rng(seed + 53_000))
    opts = {"zero": bool(rng.random() < 0.5), "keep_ambiguous": bool(rng.random() < 0.5)}
    (work / "scores").mkdir()
    if args.liftover:
        write_chain(work / "h37.chain")
    if args.liftover_minus:
        write_minus_chain(work / "h37.chain")
    oracle = {}
    for k in range(2):
        pgs_id = f"PGS98{seed % 1000:03d}{k}"
        path = work / "scores" / f"{pgs_id}.txt"
        if args.indel_repeats and k == 1:
            rows, matches, unnormalised, wrong, extra = repeat_rows(rng, records[n_base:])
            R.write_scoring_file(path, pgs_id, rows)
            sums, allele_ct, sum_slack = plink2_sums_in_parts(work, pgs_id, matches, opts["zero"], extra)
            oracle[pgs_id] = {"n_matched": len(matches), "sums": sums, "allele_ct": allele_ct,
                              "n_missing": R.missing_counts(calls, samples, matches, records, male),
                              "sum_slack": sum_slack, "unnormalised": unnormalised, "other_variant": wrong}
            continue
        rows, matches = R.scoring_rows(rng, records[:n_base], opts["keep_ambiguous"],
                                       extended=bool(args.liftover_minus))
        if args.liftover_minus:
            lifted = [to_grch37(row, rng) for row in rows]
            if args.harmonised:
                rows, lifted, matches = harmonised_inverted(rows, lifted, matches, records)
            keep = [lifted[i][1] for i in winning_rows(rows, matches)]
            matches = [m for m, k in zip(matches, keep, strict=True) if k]
            write_lifted_files(work, pgs_id, rows, harmonised=bool(args.harmonised), rows37=[r for r, _ in lifted])
            sums, allele_ct = R.plink2_sums(work, pgs_id, matches, opts["zero"])
            oracle[pgs_id] = {"n_matched": len(matches), "sums": sums, "allele_ct": allele_ct,
                              "n_missing": R.missing_counts(calls, samples, matches, records, male)}
            continue
        if args.models:
            models = model_of_rows(rng, rows)
            write_model_file(path, pgs_id, rows, models, odds_ratios=k == 1)
            sums, allele_ct, sum_slack = plink2_model_sums(work, pgs_id, model_matches(rows, models, matches),
                                                           opts["zero"])
            n_missing = R.missing_counts(calls, samples, matches, records, male)
            oracle[pgs_id] = {"n_matched": len(matches), "sums": sums, "allele_ct": allele_ct,
                              "n_missing": n_missing, "sum_slack": sum_slack}
            continue
        if args.liftover:
            write_lifted_files(work, pgs_id, rows, harmonised=k == 1)
        else:
            R.write_scoring_file(path, pgs_id, rows)
        if args.multi_dosages:
            assert ds is not None
            o = numpy_oracle(records, calls, ds, samples, matches, opts["zero"])
            slack = R.BGEN_DOSAGE_ERROR * 3 * sum(abs(w) for _, _, w in matches)  # up to 3 rows a site
            oracle[pgs_id] = {"n_matched": len(matches), **o, "bgen_slack": slack}
            continue
        sums, allele_ct = R.plink2_sums(work, pgs_id, matches, opts["zero"])
        oracle[pgs_id] = {"n_matched": len(matches), "sums": sums, "allele_ct": allele_ct,
                          "n_missing": R.missing_counts(calls, samples, matches, records, male)}
        if args.mito:  # the BGEN's 8-bit P of a diploid-coded chrM het (0.5 copies on the haploid scale)
            on_m = {rec["id"] for rec in records if rec["chrom"] == "chrM"}
            oracle[pgs_id]["bgen_slack"] = R.BGEN_DOSAGE_ERROR * sum(abs(w) for v, _, w in matches if v in on_m)
    return {"opts": opts, "oracle": oracle, "samples": samples, "n_records": len(records),
            "dosages": bool(args.multi_dosages), "liftover": bool(args.liftover or args.liftover_minus),
            "work": str(work)}


def compare(route: str, got: pd.DataFrame, case: dict, first: dict) -> list[str]:
    """diff_pgs_routes.compare; a split BGEN of dosages (8-bit) within its rounding; ``--indel-repeats``:
    also the ``not_found_unnormalised`` rows of the route's match log against the oracle's count."""
    bad = R.compare("bgen" if route == "split-bgen" else route, got, case, first)
    return bad + unnormalised_counts(Path(case["work"]) / f"run_{route}" / "variant_matches.tsv", route, case)


def unnormalised_counts(log: Path, route: str, case: dict) -> list[str]:
    """A match log's ``not_found_unnormalised`` rows per score against the oracle's count (scores
    with an ``unnormalised`` count only)."""
    bad = []
    if not log.exists():
        return bad
    vm = pd.read_csv(log, sep="\t", dtype=str)
    for pgs_id, want in case["oracle"].items():
        if "unnormalised" not in want:
            continue
        n = int(((vm["pgs_id"] == pgs_id) & (vm["match_type"] == "not_found_unnormalised")).sum())
        if n != want["unnormalised"]:
            bad.append(f"{route} {pgs_id}: not_found_unnormalised {n} != oracle {want['unnormalised']}")
    return bad


def match_only(work: Path, case: dict) -> list[str]:
    """diff_pgs_routes.match_only (the matcher on the .pgen's and split .bed's lists, no Spark)
    and the ``not_found_unnormalised`` counts of its match logs."""
    bad = R.match_only(work, case)
    for rel in ("g", "s"):
        bad += unnormalised_counts(work / f"match_{rel}" / "variant_matches.tsv", f"match-{rel}", case)
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs="+", default=["1"], help="seeds or ranges (3-9)")
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--records", type=int, default=60)
    ap.add_argument("--routes", nargs="+", choices=list(KIND_ROUTES), default=None)
    ap.add_argument("--work-dir", default="/tmp/trd_spark_diff_pgs_kinds")
    ap.add_argument("--uncalled", type=float, default=0.04)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--models", action="store_true", help="dominant/recessive rows, OR weights (plink2 modifiers)")
    mode.add_argument("--vds", action="store_true", help="the calls as a VDS too (local alleles, reference blocks)")
    mode.add_argument("--multi-dosages", action="store_true", help="DS per alt at multi-allelic records (numpy)")
    mode.add_argument("--liftover", action="store_true", help="GRCh37 scoring files through a chain / hm_pos")
    mode.add_argument("--liftover-minus", action="store_true",
                      help="GRCh37 files through a chain with negative-strand blocks (rows complemented there)")
    mode.add_argument("--mito", action="store_true", help="records on chrM, haploid or diploid-coded calls")
    mode.add_argument("--crosses", action="store_true", help="leading-zero IDs and duplicate rows in a VDS / BGEN")
    ap.add_argument("--harmonised", action="store_true",
                    help="with --liftover-minus: both files harmonised (hm_pos on GRCh38, alleles as on GRCh37)")
    mode.add_argument("--indel-repeats", action="store_true",
                      help="indels in repeats written left-/right-aligned, padded or right-anchored")
    ap.add_argument("--match-only", action="store_true",
                    help="the matcher alone on the .pgen and split .bed lists (n_matched; no Spark, no sums)")
    args = ap.parse_args()
    if args.routes is None:
        args.routes = (MULTI_DOSAGE_ROUTES if args.multi_dosages else VDS_ROUTES if args.vds
                       else R.DEFAULT_ROUTES + VDS_ROUTES if args.models else R.DEFAULT_ROUTES if args.mito
                       else ["vcf", "pgen", "bed"])
    if not shutil.which("plink2"):
        sys.exit("plink2 is not on PATH")
    if args.match_only:
        seeds, n_bad = R.parse_seeds(args.seeds), 0
        for seed in seeds:
            work = Path(args.work_dir) / f"seed{seed}"
            case = make_seed(None, work, seed, args)
            diffs = match_only(work, case)
            n_bad += len(diffs)
            print(f"seed {seed}: " + ", ".join(f"{k} matched {v['n_matched']}" + (
                f" (unnormalised {v['unnormalised']}, another variant {v['other_variant']})" if "unnormalised" in v
                else "") for k, v in case["oracle"].items()) + f", {len(diffs)} disagreements", flush=True)
            for b in diffs:
                print(f"  DIFF seed {seed} {b}", flush=True)
        print(f"SUMMARY match-only seeds={len(seeds)} runs={2 * len(seeds)} disagreements={n_bad}")
        return
    from trd_spark.config import SparkSettings
    from trd_spark.session import start_session

    root = Path(args.work_dir)
    root.mkdir(parents=True, exist_ok=True)
    spark = start_session(SparkSettings(master="local[2]", driver_memory="3g", shuffle_partitions=2,
                                        tmp_dir=str(root / "tmp")))
    import hail as hl

    if args.crosses:
        bad = crosses(hl, spark, root)
        for b in bad:
            print(f"  DIFF crosses {b}", flush=True)
        print(f"SUMMARY crosses runs=8 disagreements={len(bad)}")
        return
    R.run_seeds(R.parse_seeds(args.seeds), root, args.routes, lambda work, seed: make_seed(hl, work, seed, args),
                lambda work, route, case: R.run_route(hl, spark, work, route, case, KIND_ROUTES), compare)


if __name__ == "__main__":
    main()
