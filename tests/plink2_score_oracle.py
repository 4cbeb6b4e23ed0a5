"""plink2 --score as the oracle of a few-sample PGS case (tests' support module).

One plink2 2.0 run per score on a fileset, mean imputation with ``--read-freq`` of the
fileset's own ``--freq`` (plink2 --score will not compute frequencies itself below 50
samples), the weights written as ``ID A1 W`` (``header-read``). Shared by the round-21 sex
cases and the uncalled-variant cases (one helper where each had its own copy, session 44).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def plink2(*args: str) -> None:
    """plink2 with one thread; its output captured, a failure raised (CalledProcessError)."""
    subprocess.run([shutil.which("plink2") or "plink2", *args, "--threads", "1"], check=True, capture_output=True)


def write_scoring_files(tmp: Path, scores: Mapping[str, Sequence[tuple]]) -> str:
    """One PGS Catalog scoring file per score under ``tmp/scores/`` (``scores``: pgs_id -> rows
    ``(chr_name, chr_position, effect_allele, other_allele, effect_weight)``, GRCh38); returns the
    glob the pipeline's config takes. The pipeline's input beside ``score_runs``' plink2 weights."""
    (tmp / "scores").mkdir()
    for pgs_id, rows in scores.items():
        (tmp / "scores" / f"{pgs_id}.txt").write_text(
            f"#pgs_id={pgs_id}\n#genome_build=GRCh38\n"
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
            + "".join(f"{c}\t{p}\t{e}\t{o}\t{w}\n" for c, p, e, o, w in rows))
    return str(tmp / "scores" / "*.txt")


def score_runs(tmp: Path, fileset: Sequence[str], scores: Mapping[str, Sequence[tuple]],
               ids: Mapping[tuple[str, int], str], tag: str = "o",
               ) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], float]]:
    """plink2 --score's ALLELE_CT and its sum (W_SUM; 6 printed digits) by (pgs_id, IID) on
    ``fileset`` (plink2's input flags, e.g. ``["--pfile", prefix]``), one run per score of
    ``scores`` (pgs_id -> rows ``(chrom, position, effect, other, weight)``, the variant IDs by
    ``ids[chrom, position]``). Files under ``tmp`` named with ``tag`` (``{tag}.afreq``,
    ``{pgs_id}.{tag}.sscore``)."""
    plink2(*fileset, "--freq", "--out", str(tmp / tag))
    counts, sums = {}, {}
    for pgs_id, rows in scores.items():
        w = tmp / f"{pgs_id}.{tag}.w"
        w.write_text("ID\tA1\tW\n" + "".join(f"{ids[c, p]}\t{e}\t{wt}\n" for c, p, e, _, wt in rows))
        plink2(*fileset, "--read-freq", str(tmp / f"{tag}.afreq"), "--score", str(w), "1", "2", "3",
               "header-read", "cols=+scoresums", "--out", str(tmp / f"{pgs_id}.{tag}"))
        with open(tmp / f"{pgs_id}.{tag}.sscore") as f:
            header = [c.lstrip("#") for c in f.readline().split()]  # (#IID, or #FID IID from a .fam)
            for r in (line.split() for line in f):
                person = int(r[header.index("IID")])
                counts[pgs_id, person] = int(r[header.index("ALLELE_CT")])
                sums[pgs_id, person] = float(r[header.index("W_SUM")])
    return counts, sums
