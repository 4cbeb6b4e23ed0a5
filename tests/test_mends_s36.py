"""Session 36 mends (helper mends1, found by helper rerun26): a live run's release lock taken
over by age, and ``dosage_field`` on a genotype format that holds no such field.

No Spark: the lock is a file, the config a pydantic model; ``check-config`` runs in process
(it starts no Spark session).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trd_spark.config import load_config
from trd_spark.errors import ConfigError, LockedError
from trd_spark.releases import LocalFs, ReleaseLock, lock_is_stale, process_identity, release_status

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cfg(tmp_path):
    return load_config(None, overrides={"output_root": str(tmp_path / "results")})


def _write_lock(cfg, held: dict) -> str:
    path = ReleaseLock(cfg, LocalFs()).path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Path(path).write_text(json.dumps(held))
    return path


def test_a_live_run_of_this_host_keeps_its_lock_whatever_its_age(cfg, caplog):
    """The lock's age was checked before its pid: a run of this host older than
    ``releases.lock_stale_hours`` (24 h; a pgs stage of 250k samples x 61 scores through Hail can
    take longer) lost its lock to the next scheduled run, and both wrote the same release:
    outputs that look complete but mix two runs. Now a live process of this host (the same
    process: its identity in the lock) is never stale; its lock is refused with exit 6's
    LockedError naming it. A dead pid, or a pid now naming another process, is taken over as
    before; another host's lock still goes stale by age."""
    fs = LocalFs()
    here, day = socket.gethostname(), cfg.releases.lock_stale_hours * 3600
    old = time.time() - 2 * day
    # A run of this process, started two days ago: alive, with and without its identity recorded.
    for held in ({"host": here, "pid": os.getpid(), "process": process_identity(os.getpid()), "started": old},
                 {"host": here, "pid": os.getpid(), "started": old}):
        path = _write_lock(cfg, held)
        assert not lock_is_stale(fs, path, cfg.releases.lock_stale_hours)
        assert release_status(cfg, fs, cfg.release).state == "running"
        with pytest.raises(LockedError) as err:
            ReleaseLock(cfg, fs).acquire()
        text = str(err.value)
        assert f"held by pid {os.getpid()} on host {here}" in text and "48h00m ago" in text, text
        assert "wait for it to end: its process is alive on this host, so its lock is kept whatever its age" in text, text
        assert json.loads(Path(path).read_text()) == held  # not taken over
    assert "stale lock" not in caplog.text

    # Killed runs' locks are taken over: a dead pid of this host (recent or old), this pid
    # recorded with another process's identity (the pid reused), another host's old lock.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for held in ({"host": here, "pid": dead.pid, "started": time.time()},
                 {"host": here, "pid": dead.pid, "started": old},
                 {"host": here, "pid": os.getpid(), "process": "another-boot:1", "started": time.time()},
                 {"host": "elsewhere", "pid": os.getpid(), "started": old}):
        path = _write_lock(cfg, held)
        os.utime(path, (held["started"],) * 2)  # a killed run's file: last written then (the storage's time judges)
        with ReleaseLock(cfg, fs) as lock:
            assert json.loads(Path(path).read_text()) == lock.owner, held
            assert lock.owner["process"] == process_identity(os.getpid())
    assert caplog.text.count("taking over a stale lock") == 4
    # Another host's recent lock is respected (its process cannot be asked).
    _write_lock(cfg, {"host": "elsewhere", "pid": 1, "started": time.time() - 60})
    with pytest.raises(LockedError):
        ReleaseLock(cfg, fs).acquire()


def _config(tmp_path: Path, genotypes: str) -> Path:
    """conf/toy.yaml with the discovery dataset's genotypes line replaced by ``genotypes``."""
    text = (REPO / "conf" / "toy.yaml").read_text()
    line = "genotypes: {format: vcf, path: ../out/toy/data/genotypes/discovery.vcf.bgz}"
    assert text.count(line) == 1
    text = (text.replace(line, genotypes)
            .replace("output_root: ../out/toy/results", f"output_root: {tmp_path / 'results'}")
            .replace("../out/toy/data", str(tmp_path / "absent"))
            .replace("trait_panel_toy.yaml", str(REPO / "conf" / "trait_panel_toy.yaml"))
            .replace("concept_sets: concept_sets.yaml", f"concept_sets: {REPO / 'conf' / 'concept_sets.yaml'}"))
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("fmt,path,reason", [
    ("plink", "g.bed", "PLINK 1 .bed holds hard calls only"),
    ("pgen", "g.pgen", "dosages are read whenever it stores them"),
    ("bgen", "g.bgen", "probabilities are always read"),
    ("vds", "g.vds", "read from its calls"),
])
def test_dosage_field_on_a_format_without_it_is_one_config_error(tmp_path, capsys, fmt, path, reason):
    """``dosage_field`` names a VCF FORMAT / MatrixTable entry field. On a local .bed, .pgen or
    BGEN the native engine scored the file and ignored it without a word (a user who set
    ``dosage_field: DS`` on a .bed believed dosages were scored: a .bed holds hard calls only,
    as plink2 --bfile reads it); on a URI or a VDS the read stopped after Spark had started.
    Now it is one ConfigError naming the dataset, the field and why, at load (check-config
    exits 2 with it); ``vcf`` and ``mt`` keep it."""
    from trd_spark.cli import main

    config = _config(tmp_path, f"genotypes: {{format: {fmt}, path: {tmp_path / path}, dosage_field: DS}}")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    text = str(err.value)
    assert "datasets.discovery: Value error, genotypes.dosage_field 'DS' applies to format vcf and mt only" in text, text
    assert reason in text and "remove dosage_field" in text and str(config) in text, text
    capsys.readouterr()
    assert main(["check-config", "--config", str(config)]) == 2
    assert "datasets.discovery: Value error, genotypes.dosage_field 'DS' applies" in capsys.readouterr().err
    for kept in ("vcf", "mt"):
        ok = load_config(_config(tmp_path, f"genotypes: {{format: {kept}, path: {tmp_path / path}, dosage_field: DS}}"))
        assert ok.datasets[0].genotypes.dosage_field == "DS"
    assert load_config(_config(tmp_path, f"genotypes: {{format: {fmt}, path: {tmp_path / path}}}")).datasets[0].name \
        == "discovery"
