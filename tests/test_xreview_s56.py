"""Session 56 xreview: a second reviewer's checks of the session's commits (benchmarks/RESULTS.md
"Session 56 xreview")."""

import json
import subprocess
import sys

import pandas as pd


def test_a_cycle_alive_at_one_tasks_end_and_let_go_later_is_freed():
    """``worker_daemon.FrozenAfterCollect`` (cc73b2a) froze what survived each task's collection.
    A reference cycle still held when a task ended (a cache's last value, a registry entry, a
    loop variable of a module) and let go in a later task was then frozen garbage: never freed
    until the worker exited. Before this fix: 200 simulated tasks, each leaving a 2,000-node cycle
    (1.3 MB) held until the next one, kept all 200 alive (RSS 13 -> 355 MB; pyspark's own
    ``gc.collect`` kept 1, 16 MB). Now the freeze is undone every ``FULL_COLLECTION_EVERY``
    collections, so at most that many such cycles are alive."""
    code = (
        "import gc, weakref\n"
        "from trd_spark import worker_daemon\n"
        "from trd_spark.worker_daemon import FrozenAfterCollect\n"
        "FULL_COLLECTION_EVERY = getattr(worker_daemon, 'FULL_COLLECTION_EVERY', 50)  # before the fix: none\n"
        "g = FrozenAfterCollect()\n"
        "class Node: pass\n"
        "def build():\n"
        "    nodes = [Node() for _ in range(50)]\n"
        "    for i, n in enumerate(nodes): n.next = nodes[(i + 1) % 50]\n"
        "    return nodes\n"
        "refs, hold = [], [None]\n"
        "for task in range(3 * FULL_COLLECTION_EVERY):\n"
        "    hold[0] = build()  # held past this task's end, let go in the next\n"
        "    refs.append(weakref.ref(hold[0][0]))\n"
        "    g.collect()\n"
        "hold[0] = None\n"
        "g.collect()\n"
        "print(FULL_COLLECTION_EVERY, sum(r() is not None for r in refs), gc.get_freeze_count())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    every, alive, frozen = (int(v) for v in out)
    assert 1 <= every <= 100
    assert alive <= every, f"{alive} of {3 * every} dropped cycles never freed"
    assert frozen > 0  # still freezing between the full collections


def test_a_score_indel_written_as_its_record_keeps_its_match_with_the_fasta(hl, tmp_path):
    """27b47e9 (``pgs.reference_fasta``): a genotype record in the repeat of a left-aligned score indel
    whose indel is written shifted right is left-aligned before the match. When the score writes that
    same indel shifted right too (a scoring file not normalised, beside a left-aligned indel of the
    same repeat), the two matched exactly without the FASTA (ref_alt); before the session 56 fastafix
    fix the row had moved with it: not_found_unnormalised, its weight not scored. The FASTA of test_pgs_reference_fasta_s56 (1000 C,
    1001-1006 AGAGAG, 1007 T); the file 1000 CAG>C and 1002 GAGAG>G (AGAG deleted, shifted right)."""
    from test_pgs_reference_fasta_s56 import fasta_text
    from test_pgs_vds_shift_s56 import sites_frame

    from trd_spark.pgs.matching import ShiftWindows, left_aligned_rows, match_sites_frame, split_file_rows
    from trd_spark.pgs.reference_fasta import ReferenceFasta

    fasta = tmp_path / "ref.fa"
    fasta.write_text(fasta_text())
    rg = hl.get_reference("GRCh38")
    written = pd.DataFrame({"contig": "chr1", "position": [1000, 1002],
                            "alleles_json": [json.dumps(["CAG", "C"]), json.dumps(["GAGAG", "G"])]})
    rows = split_file_rows(written, rg.contigs)
    sites = sites_frame([(1000, "C", "CAG", 1.0), (1002, "G", "GAGAG", 0.5)])
    without = match_sites_frame(sites, rows, keep_ambiguous=False)["match_type"].tolist()
    assert without == ["ref_alt", "ref_alt"]
    ref = ReferenceFasta.open(str(fasta), "d.vcf")
    seen, _ = left_aligned_rows(rows, ref, ShiftWindows.of(hl, sites, "GRCh38", ref), rg.global_positions_dict)
    assert match_sites_frame(sites, seen, keep_ambiguous=False, left_aligned=True)["match_type"].tolist() == without
