"""The pgs stage leaves nothing in Hail's temp dir, published or failed, and says what it is
doing phase by phase.

Hail's routes write on the way: each dataset's score table (``stage.scores_of_dataset``: the
check and the Parquet write read it, so the pass runs once) and the readers' copies (a 5-field
.bim given a CM column, ``genotypes.bim_with_cm``; a BGEN's index or copy). They used to go to
``hl.utils.new_temp_file`` and stay there: at AoU scale a score table of ~250k persons x 61
scores per dataset per run, piling up on reruns. They now go to the stage's scratch directory
(``stage.run``: ``stage.stage_scratch``), removed when the stage ends either way (a killed
run's by the next run).

Between Spark jobs the driver parses, matches and sums for minutes at biobank scale; the
heartbeat's "no Spark job active" alone read as a hang, so each phase logs a line (score sites,
each dataset matched, each dataset scored), with no count of persons.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_pgs_stage import DATA, write_config

from trd_spark.config import load_config
from trd_spark.layout import Layout
from trd_spark.pgs import genotypes, stage
from trd_spark.pipeline import run_stage


def hail_temp_entries(hl) -> set[str]:
    """The names in Hail's temp dir (the shared session's: a local directory)."""
    local = genotypes.local_temp_file(hl.tmp_dir())
    assert local is not None
    return set(os.listdir(local)) if os.path.isdir(local) else set()


def five_field_plink(tmp: Path) -> str:
    """tiny.vcf as a PLINK 1 fileset (plink2; the multi-allelic row left out) whose .bim has
    five fields (no CM column): Hail reads it through ``genotypes.bim_with_cm``'s copy."""
    prefix = tmp / "tiny5"
    subprocess.run(["plink2", "--vcf", str(DATA / "tiny.vcf"), "--max-alleles", "2", "--make-bed",
                    "--out", str(prefix)], check=True, capture_output=True)
    bim = prefix.with_suffix(".bim")
    rows = [line.split("\t") for line in bim.read_text().splitlines()]
    bim.write_text("".join("\t".join([r[0], r[1], r[3], r[4], r[5]]) + "\n" for r in rows))
    return str(prefix)


def hail_route_config(tmp: Path):
    """test_pgs_stage's tiny config with one dataset on Hail's route (``pgs.native.engine:
    hail``): tiny.vcf as a .bed with a 5-field .bim, so both a reader's copy and a score table
    go to the stage's scratch."""
    path = write_config(tmp, min_overlap=0.3)
    raw = yaml.safe_load(path.read_text())
    raw["datasets"] = [{"name": "discovery", "role": "discovery",
                        "genotypes": {"format": "plink", "path": five_field_plink(tmp)}}]
    raw["pgs"]["native"] = {"engine": "hail"}
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def test_pgs_stage_removes_its_scratch_published_or_failed(hl, spark, tmp_path, monkeypatch, caplog):
    """Published: the stage's tables are there and Hail's temp dir holds what it held before
    (the .bim copy and the score table were in the stage's scratch). Failed after matching (the
    .bim copy written): the same, and nothing is published. The published run's progress
    names each phase."""
    cfg = hail_route_config(tmp_path)
    layout = Layout.of(cfg)

    before = hail_temp_entries(hl)
    wrote: list[int] = []
    real_write = stage.write_scores

    def recording_write(writer, parts):
        # A Spark frame over the Hail score table (Hail's route, not native rows), read lazily.
        assert len(parts) == 1 and hasattr(parts[0], "toPandas")
        wrote.append(real_write(writer, parts))
        return wrote[-1]

    monkeypatch.setattr(stage, "write_scores", recording_write)
    exports: list[str | None] = []
    real_scoring_scratch = stage.scoring_scratch

    def recording_scoring_scratch(hl, spark, cfg, scratch=None):
        exports.append(scratch)  # the stage's scratch directory, handed over
        return real_scoring_scratch(hl, spark, cfg, scratch)

    monkeypatch.setattr(stage, "scoring_scratch", recording_scoring_scratch)
    caplog.set_level(logging.INFO, logger="trd_spark")
    run_stage(spark, cfg, "pgs")
    lines = [r.getMessage() for r in caplog.records if r.name == "trd_spark.pgs.stage"]
    assert wrote == [8]  # 4 persons x 2 scores, read from the score table
    manifest = json.loads(Path(layout.file("pgs", "_manifest.json")).read_text())
    assert manifest["tables"]["scores"] == 8
    assert hail_temp_entries(hl) - before == set()
    assert len(exports) == 1 and exports[0] is not None and Path(exports[0]).name.startswith(stage.SCRATCH_PREFIX)

    def failing(*args, **kwargs):
        raise RuntimeError("stopped after matching")

    monkeypatch.setattr(stage, "variant_matches_of", failing)
    with pytest.raises(RuntimeError, match="stopped after matching"):
        run_stage(spark, cfg, "pgs")
    assert hail_temp_entries(hl) - before == set()
    assert json.loads(Path(layout.file("pgs", "_manifest.json")).read_text())["run_id"] == manifest["run_id"]
    assert not [p for p in os.listdir(layout.release_dir) if p.startswith(".")]

    # The published run's progress, phase by phase: PGS000901's 9 rows and PGS000950's 2, at
    # 11 distinct sites (a site is a locus with its alleles).
    assert "pgs: 11 score variants at 11 distinct sites on GRCh38" in lines, lines
    for phase in ("matched", "scored and checked"):
        assert any(re.fullmatch(rf"pgs: dataset discovery {phase} \(\d+\.\d s\)", m) for m in lines), lines


def test_reader_copies_go_to_the_given_scratch(hl, tmp_path):
    """``bim_with_cm``'s copy goes to the scratch directory it is given (the stage's)."""
    prefix = five_field_plink(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    copy = genotypes.bim_with_cm(hl, f"{prefix}.bim", str(scratch))
    assert Path(genotypes.local_temp_file(copy)).parent == scratch
    assert [line.split("\t")[2] for line in Path(genotypes.local_temp_file(copy)).read_text().splitlines()][:1] == ["0"]


def test_stage_scratch_is_removed_on_an_interrupt_and_a_killed_runs_is_removed_next_time(hl):
    """``stage.stage_scratch``: its directory goes when the block ends by an interrupt (removed
    by Python: after SIGTERM the JVM is gone); a directory a SIGKILLed run left (its pid no
    longer runs) is removed when the next one starts, a live process's is left alone."""
    base = Path(genotypes.local_temp_file(hl.tmp_dir()))
    base.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = base / f"{stage.SCRATCH_PREFIX}{dead.pid}_left"
    (stale / "pgs_scores_d.ht").mkdir(parents=True)
    live = base / f"{stage.SCRATCH_PREFIX}{os.getppid()}_another_run"
    live.mkdir()
    try:
        with pytest.raises(KeyboardInterrupt), stage.stage_scratch(hl) as scratch:
            assert Path(scratch).parent == base and Path(scratch).is_dir()
            assert not stale.exists() and live.is_dir()
            (Path(scratch) / "pgs_bim-x.bim").write_text("1\tv\t0\t100\tA\tG\n")
            raise KeyboardInterrupt
        assert not Path(scratch).exists()
    finally:
        shutil.rmtree(live, ignore_errors=True)


def test_a_native_export_goes_to_the_stage_scratch_so_a_killed_runs_is_removed_next_time(hl, spark, tmp_path):
    """47c107a's sibling: ``stage.scoring_scratch`` (every sample's hard calls at the matched
    rows, exported as PLINK for the native engine when Spark runs locally) was made in Hail's
    temp dir as ``pgs_export_*``, beside the stage's scratch: a SIGKILLed run left it there and
    no later run looked at it (``stage_scratch`` removes ``pgs_stage_<dead pid>_*`` only). It is
    now made in the stage's scratch directory, so the next run removes it with that directory.
    ``scores_of_dataset`` hands its scratch over (test_pgs_stage_removes_its_scratch_...)."""
    cfg = hail_route_config(tmp_path)
    assert cfg.pgs.native.export_dir is None and spark.sparkContext.master.startswith("local")
    with stage.stage_scratch(hl) as scratch, stage.scoring_scratch(hl, spark, cfg, scratch) as export:
        assert export is not None and Path(export).parent == Path(scratch) and Path(export).is_dir()
        assert Path(export).name.startswith("pgs_export_")
    assert not Path(scratch).exists()


def test_a_native_export_without_the_stage_scratch_is_claimed_and_a_killed_runs_removed(hl, spark, tmp_path):
    """``stage.scoring_scratch`` without the stage's scratch (a caller outside the stage: a
    benchmark, a notebook) exports directly into Hail's temp dir, which no ``stage_scratch``
    sweeps: a SIGKILLed run's export (every sample's hard calls at the matched rows) stayed
    there for good (93c1e64: ``pgs_export-*``, no owner record). It now holds its owner record
    (``scratch.claim``), and a folder whose run is gone is removed before a new one is made, as
    under ``pgs.native.export_dir``; a live run's stays."""
    import socket
    import time

    from trd_spark.pgs.scratch import OWNER

    cfg = load_config(write_config(tmp_path, min_overlap=0.3))
    assert cfg.pgs.native.export_dir is None and spark.sparkContext.master.startswith("local")
    base = Path(genotypes.local_temp_file(hl.tmp_dir()))
    gone = subprocess.Popen(["true"])  # a process that has ended: its pid names none now
    gone.wait()
    killed, live = base / f"{stage.EXPORT_PREFIX}killed_run", base / f"{stage.EXPORT_PREFIX}live_run"
    for folder, pid in ((killed, gone.pid), (live, os.getppid())):
        folder.mkdir(parents=True)
        (folder / OWNER).write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "started": time.time()}))
    try:
        with stage.scoring_scratch(hl, spark, cfg) as export:
            assert export is not None and Path(export).parent == base and Path(export).is_dir()
            assert json.loads((Path(export) / OWNER).read_text())["pid"] == os.getpid()
            assert not killed.exists() and live.is_dir()
        assert not Path(export).exists()
    finally:
        shutil.rmtree(killed, ignore_errors=True)
        shutil.rmtree(live, ignore_errors=True)
