"""Issue 16, session 41 flat: two cuts of the native score phase's serial driver path.

1. ``engine.haploid_contig_rows``: the rows on X outside its PARs, on chrY and on chrM from one
   hash pass over the contigs; the same masks as the three rules it replaces (``x_haploid_rows``
   and numpy's ``isin`` of the Y and MT contigs over every row).
2. ``scratch.release_soon``: the native pass's directory renamed away at once and its files
   removed by a background thread; ``wait_removals`` (called by ``release``, the pgs stage's last
   step, and by the next ``pass_directory``) waits for them; a removal a killed process left half
   done is swept by the next run's ``remove_abandoned``.
Both fail on f0075d6 (neither function exists there; ``pass_directory`` removed in place).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from trd_spark.pgs import scratch


def test_haploid_contig_rows_are_the_x_y_and_mt_rules(hl):
    from trd_spark.pgs.engine import haploid_contig_rows
    from trd_spark.pgs.genotypes import x_haploid_rows

    rg = hl.get_reference("GRCh38")
    par1_end = rg.par[0].end.position
    rows = pd.DataFrame({
        "contig": ["chr1", "chrX", "chrX", "chrY", "chrM", "chr22", "chrX", "chrY", "chr2"],
        "position": [5, 10_001, par1_end + 5, 3_000_000, 100, 7, 155_000_000, 12, 9],
    })
    contig, position = rows["contig"].to_numpy(object), rows["position"].to_numpy(np.int64)
    on_x, on_y, on_m = haploid_contig_rows(rg, rows)
    assert on_x.tolist() == x_haploid_rows(rg, contig, position).tolist() == \
        [False, False, True, False, False, False, True, False, False]
    assert on_y.tolist() == np.isin(contig, list(rg.y_contigs)).tolist()
    assert on_m.tolist() == np.isin(contig, list(rg.mt_contigs)).tolist()
    assert on_y.sum() == 2 and on_m.sum() == 1
    # No row there (most scores): three all-False masks of the rows' length.
    none = haploid_contig_rows(rg, rows[rows["contig"].isin(["chr1", "chr2", "chr22"])])
    assert [m.tolist() for m in none] == [[False] * 3] * 3
    assert all(m.dtype == bool for m in (on_x, on_y, on_m, *none))


def _folder(parent: Path, name: str, mb: int = 1) -> Path:
    folder = parent / name
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "slope.npy").write_bytes(b"\0" * (mb << 20))
    return folder


def test_release_soon_frees_the_name_at_once_and_release_waits_for_the_files(tmp_path, monkeypatch):
    folder = _folder(tmp_path, "pgs_native_partials_a")
    scratch.claim(str(folder), refresh_seconds=3600)
    # The removal held until the test lets it go: the name is free before the files are gone.
    go = threading.Event()
    real_rmtree = scratch.shutil.rmtree

    def held_rmtree(path, *args, **kwargs):
        go.wait(30)
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(scratch.shutil, "rmtree", held_rmtree)
    scratch.release_soon(str(folder))
    assert not folder.exists()
    assert str(folder) not in scratch._CLAIMED  # its refresher stopped
    left = [p.name for p in tmp_path.iterdir()]
    assert left == [f"pgs_native_partials_a{scratch._REMOVING}{os.getpid()}"]
    # ``release`` (of another folder: the stage's scratch directory) waits for it first.
    other = _folder(tmp_path, "pgs_stage_b")
    waiter = threading.Thread(target=scratch.release, args=(str(other),))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # waiting for the removal under way
    go.set()
    waiter.join(30)
    assert not waiter.is_alive()
    assert list(tmp_path.iterdir()) == []


def test_a_half_done_background_removal_is_swept_by_the_next_run(tmp_path, monkeypatch):
    # A process killed during the removal (here: a removal that never ran) leaves the renamed
    # folder: the next run's sweep of the prefix removes it, whoever owned it.
    folder = _folder(tmp_path, "pgs_native_partials_x")
    real_rmtree = scratch.shutil.rmtree
    monkeypatch.setattr(scratch.shutil, "rmtree", lambda *a, **k: None)
    scratch.release_soon(str(folder))
    scratch.wait_removals()
    (left,) = tmp_path.iterdir()
    assert left.name.startswith("pgs_native_partials_x") and (left / "weights" / "slope.npy").exists()
    monkeypatch.setattr(scratch.shutil, "rmtree", real_rmtree)
    assert scratch.remove_abandoned(str(tmp_path), "pgs_native_partials_", None) == []
    assert not left.exists()


def test_pass_directory_removes_its_files_in_the_background_and_the_next_waits(spark, tmp_path):
    from trd_spark.pgs.pgen_engine import SPILL_PREFIX, pass_directory

    memory = tmp_path / "shm"
    memory.mkdir()
    with pass_directory(spark, str(memory), 0, 0.5) as first:
        assert first is not None and Path(first).parent == memory
        (Path(first) / "slope.npy").write_bytes(b"\0" * (4 << 20))
    assert not Path(first).exists()  # the name is free at the block's end
    with pass_directory(spark, str(memory), 0, 0.5) as second:
        # the first's files were gone before the second was made (its room measured after)
        assert [p.name for p in memory.iterdir()] == [Path(second).name]
    scratch.wait_removals()
    assert not [p for p in memory.iterdir() if p.name.startswith(SPILL_PREFIX)]
    # ``score``'s own directory (``_spill_dir``) is removed in place, as before.
    from trd_spark.pgs.pgen_engine import _spill_dir

    with _spill_dir(spark, None, str(memory), 0, 0.5) as third:
        assert third is not None
    assert list(memory.iterdir()) == []


def test_python_exit_waits_for_a_background_removal(tmp_path):
    """A process that exits right after ``release_soon`` leaves no renamed folder behind: Python's
    exit waits for the removal (registered by ``release_soon`` itself: a registration at import
    would make the run-control module more than definitions, digested whole into pgs). The
    removal is slowed so that a process exiting without waiting kills the daemon thread first."""
    import subprocess
    import sys

    folder = _folder(tmp_path, "pgs_native_partials_exit")
    code = (
        "import shutil, sys, time\n"
        "from trd_spark.pgs import scratch\n"
        "real = shutil.rmtree\n"
        "def slow(path, *a, **k):\n"
        "    time.sleep(1.0)\n"
        "    return real(path, *a, **k)\n"
        "scratch.shutil.rmtree = slow\n"
        "scratch.release_soon(sys.argv[1])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(folder)], check=True, timeout=120,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert list(tmp_path.iterdir()) == []
