"""The native pass's local files on a memory file system (``pgs.native.memory_dir``; issue 16, session 34).

Under a local master the pass keeps the weighted rows' arrays its tasks map and their partial
sums in a local directory (``pgen_engine.pass_directory``). On the benchmark host's ext4 the
driver's faults into the matrices it builds in those files cost 0.2-0.45 kernel CPU-s at 200k
rows x 61 scores; on a tmpfs no page is ever written to a disk. So the directory goes under
``pgs.native.memory_dir`` (default ``/dev/shm``) when that has room for the files, else to
``spark.local.dir`` as before; a killed run's folder is removed from either place by the next
pass. No Spark but the stage's test: the pass asks its session only for the master and
``spark.local.dir``; a directory on disk stands for the tmpfs (what is checked is where the
folder goes and that it goes away, not the file system's kind).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

from test_pgs_stage import write_config

from trd_spark.config import NativeEngineSettings, load_config
from trd_spark.pgs import scratch
from trd_spark.pgs.memory import room_for_files
from trd_spark.pgs.pgen_engine import SPILL_PREFIX, pass_directory, pass_files_bytes

# The default share of the memory dir's room a pass's files may take (pgs.native.memory_dir_share).
MEMORY_DIR_SHARE = NativeEngineSettings().memory_dir_share


def _session(local: Path, master: str = "local[2]") -> SimpleNamespace:
    """What ``pass_directory`` asks of a session: the master and ``spark.local.dir``."""
    conf = {"spark.local.dir": str(local)}
    return SimpleNamespace(sparkContext=SimpleNamespace(master=master),
                           conf=SimpleNamespace(get=lambda key, default=None: conf.get(key, default)))


def _killed_runs_folder(parent: Path) -> Path:
    """A pass folder whose owner's process is gone (a SIGKILLed run's)."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    path = parent / f"{SPILL_PREFIX}killed"
    path.mkdir(parents=True)
    (path / "slope.npy").write_bytes(b"\x93NUMPY")
    (path / scratch.OWNER).write_text(json.dumps({"host": socket.gethostname(), "pid": gone.pid,
                                                  "started": time.time()}))
    return path


def test_the_pass_folder_goes_to_the_memory_dir_when_it_has_room_and_a_killed_runs_is_removed(tmp_path):
    memory, local = tmp_path / "shm", tmp_path / "spark-local"
    memory.mkdir()
    killed = _killed_runs_folder(memory)
    with pass_directory(_session(local), str(memory), pass_files_bytes(200_000, 61, 0), MEMORY_DIR_SHARE) as path:
        assert path is not None and Path(path).parent == memory and Path(path).name.startswith(SPILL_PREFIX)
        assert json.loads((Path(path) / scratch.OWNER).read_text())["pid"] == os.getpid()
        assert not killed.exists()
        assert not local.exists() or not any(local.iterdir())
    assert not Path(path).exists()


def test_without_room_or_a_memory_dir_the_pass_folder_goes_to_the_local_dir_with_an_info_line(tmp_path, caplog):
    """More than ``MEMORY_DIR_SHARE`` of the memory dir's room, or no such directory: the disk,
    as before, one INFO line naming the setting (no byte count: the need holds samples x scores).
    A killed run's folder in the memory dir is removed all the same. ``memory_dir`` None: the disk
    with no line."""
    memory, local = tmp_path / "shm", tmp_path / "spark-local"
    memory.mkdir()
    killed = _killed_runs_folder(memory)
    too_much = int(room_for_files(str(memory)) / MEMORY_DIR_SHARE) + 2**20
    for given, need in ((memory, too_much), (tmp_path / "absent", 0)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="trd_spark.pgs.pgen_engine"):
            with pass_directory(_session(local), str(given), need, MEMORY_DIR_SHARE) as path:
                assert path is not None and Path(path).parent == local
                assert not killed.exists() and not any(memory.iterdir())
        assert not Path(path).exists()
        lines = [r.getMessage() for r in caplog.records if "pgs.native.memory_dir" in r.getMessage()]
        assert len(lines) == 1 and str(given) in lines[0] and str(local) in lines[0], lines
        assert not need or str(need) not in lines[0]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.pgen_engine"):
        with pass_directory(_session(local), None, 0, MEMORY_DIR_SHARE) as path:
            assert path is not None and Path(path).parent == local
    assert not caplog.records


def test_a_cluster_gets_no_pass_folder_whatever_the_memory_dir(tmp_path):
    """Executors on other hosts cannot read the driver's tmpfs: on a cluster the tasks get their
    rows in their pickles, as before (no folder, nothing made under the memory dir)."""
    memory = tmp_path / "shm"
    memory.mkdir()
    with pass_directory(_session(tmp_path / "local", master="yarn"), str(memory), 0, MEMORY_DIR_SHARE) as path:
        assert path is None
    assert not any(memory.iterdir())


def test_room_for_files_is_the_free_space_at_most_the_available_memory(tmp_path):
    """A tmpfs's pages are RAM: its room is its free space but never more than MemAvailable
    (/proc/meminfo); no directory (or none this process may write into): 0."""
    room = room_for_files(str(tmp_path))
    fs = os.statvfs(tmp_path)
    with open("/proc/meminfo") as f:
        available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    assert 0 < room <= fs.f_bavail * fs.f_frsize and room <= available * 1.05
    assert room_for_files(str(tmp_path / "absent")) == 0
    (tmp_path / "file").write_text("x")
    assert room_for_files(str(tmp_path / "file")) == 0


def test_the_default_memory_dir_is_dev_shm_and_a_relative_one_is_resolved_against_the_config(tmp_path):
    """``/dev/shm`` (Linux's tmpfs for shared memory) unless the config says otherwise; a path
    field, so a relative one is made absolute against the config's directory, as spark.tmp_dir."""
    assert NativeEngineSettings().memory_dir == "/dev/shm"
    path = write_config(tmp_path, min_overlap=0.3)
    path.write_text(path.read_text().replace("  min_overlap: 0.3\n", "  min_overlap: 0.3\n  native: {memory_dir: shm}\n"))
    assert load_config(path).pgs.native.memory_dir == str(tmp_path / "shm")


def test_the_stage_builds_the_weights_under_the_memory_dir(spark, tmp_path):
    """``stage.native_weights_directory`` (where ``weight_matrices`` builds slope and n_vars for the
    pass) hands ``pgs.native.memory_dir`` and the pass's size to ``pass_directory``: the folder
    is made there, and on the disk (``spark.local.dir``) when the memory dir is unset."""
    from trd_spark.pgs import stage

    cfg = load_config(write_config(tmp_path, min_overlap=0.3))
    source = cfg.datasets[0].genotypes  # a VCF: the export route with a scratch directory
    memory = tmp_path / "shm"
    memory.mkdir()
    local = Path(spark.sparkContext.getConf().get("spark.local.dir").split(",")[0])
    for memory_dir, parent in ((str(memory), memory), (None, local)):
        native = cfg.pgs.native.model_copy(update={"memory_dir": memory_dir})
        run = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"native": native})})
        with stage.native_weights_directory(run, source, str(tmp_path), 1000, 2) as directory:
            assert directory is not None and Path(directory).parent == parent
        assert not Path(directory).exists()


def test_the_memory_dir_is_in_no_stage_slice(tmp_path):
    """Where the pass keeps its files changes no number (the equality tests pass either way): the
    setting is a tuning key (``stages.TUNING_KEYS``), in no stage's config slice, so moving or
    unsetting it reruns nothing (a pgs rerun is hours on All of Us)."""
    from trd_spark.stages import STAGE_SPECS, config_slice

    cfg = load_config(write_config(tmp_path, min_overlap=0.3))
    for change in ({"memory_dir": None}, {"memory_dir_share": 0.9}):
        native = cfg.pgs.native.model_copy(update=change)
        unset = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"native": native})})
        for spec in STAGE_SPECS.values():
            assert config_slice(cfg, spec) == config_slice(unset, spec), (spec.name, change)


def test_a_killed_runs_folder_is_removed_before_the_room_is_measured(tmp_path, monkeypatch):
    """A killed run's leftovers in a full memory dir (room 0 while they are there) are removed
    first, and the room measured after: this pass then goes to the memory dir, not the disk
    (before the fix the room was measured first: 0, nothing removed, the files went to disk)."""
    from trd_spark.pgs import memory as memory_module

    memory, local = tmp_path / "shm", tmp_path / "spark-local"
    memory.mkdir()
    killed = _killed_runs_folder(memory)
    # The tmpfs is full exactly while the leftover folder holds its pages.
    monkeypatch.setattr(memory_module, "room_for_files", lambda d: 0 if killed.exists() else 2**30)
    with pass_directory(_session(local), str(memory), pass_files_bytes(1000, 2, 0), MEMORY_DIR_SHARE) as path:
        assert not killed.exists()
        assert path is not None and Path(path).parent == memory


def _fake_cgroup(tmp_path: Path, v2: bool, limit: int, usage: int, inactive_file: int) -> tuple[str, str]:
    """A cgroup file system (root, /proc/self/cgroup file) of one container cgroup ``ctr``
    under an unlimited root, v2 or v1 layout (the kernel's file names)."""
    root = tmp_path / ("cg2" if v2 else "cg1")
    base = root if v2 else root / "memory"
    leaf = base / "ctr"
    leaf.mkdir(parents=True)
    if v2:
        (base / "memory.max").write_text("max\n")
        (base / "memory.current").write_text("99999999999\n")
        (leaf / "memory.max").write_text(f"{limit}\n")
        (leaf / "memory.current").write_text(f"{usage}\n")
        (leaf / "memory.stat").write_text(f"anon 5\nshmem 7\ninactive_file {inactive_file}\nactive_file 3\n")
        proc = "0::/ctr\n"
    else:
        (base / "memory.limit_in_bytes").write_text("9223372036854771712\n")
        (base / "memory.usage_in_bytes").write_text("99999999999\n")
        (leaf / "memory.limit_in_bytes").write_text(f"{limit}\n")
        (leaf / "memory.usage_in_bytes").write_text(f"{usage}\n")
        (leaf / "memory.stat").write_text(f"cache 9\ntotal_inactive_file {inactive_file}\n")
        proc = "9:name=systemd:/\n4:memory:/ctr\n0::/\n"
    (tmp_path / f"proc_cgroup_{v2}").write_text(proc)
    return str(root), str(tmp_path / f"proc_cgroup_{v2}")


def test_room_for_files_is_at_most_the_containers_cgroup_room(tmp_path):
    """In a container MemAvailable is the host's, while tmpfs pages count against the container's
    memory cgroup: the room is at most its limit less its usage (the reclaimable inactive file
    cache left out), v2 (memory.max / memory.current) and v1 (limit_in_bytes / usage_in_bytes)
    alike; a full cgroup gives 0; no limit (v2 "max", v1's 2**63-ish) or no cgroup files: no cap."""
    from trd_spark.pgs.memory import cgroup_room

    shm = tmp_path / "shm"
    shm.mkdir()
    for v2 in (True, False):
        where = tmp_path / f"v2_{v2}"
        where.mkdir()
        root, proc = _fake_cgroup(where, v2, limit=64 * 2**20, usage=60 * 2**20, inactive_file=2 * 2**20)
        assert cgroup_room(root, proc) == 6 * 2**20
        assert room_for_files(str(shm), root, proc) == 6 * 2**20
        full = where / "full"
        full.mkdir()
        root, proc = _fake_cgroup(full, v2, limit=64 * 2**20, usage=80 * 2**20, inactive_file=0)
        assert room_for_files(str(shm), root, proc) == 0
    unlimited = tmp_path / "unlimited"
    unlimited.mkdir()
    (unlimited / "memory.max").write_text("max\n")
    (unlimited / "memory.current").write_text("5\n")
    (tmp_path / "proc_root").write_text("0::/\n")
    assert cgroup_room(str(unlimited), str(tmp_path / "proc_root")) is None
    assert cgroup_room(str(tmp_path / "none"), str(tmp_path / "no_proc")) is None
    assert room_for_files(str(shm), str(unlimited), str(tmp_path / "proc_root")) > 64 * 2**20
    assert room_for_files(str(shm), str(tmp_path / "none"), str(tmp_path / "no_proc")) > 64 * 2**20


def test_pass_files_gone_mid_run_name_the_memory_dir_and_what_to_do(tmp_path):
    """systemd-logind's RemoveIPC=yes empties a user's /dev/shm entries at logout: a nohup run's
    pass folder may vanish mid-pass. A task mapping its rows, a task writing its partials and the
    driver reading one then raise one FileNotFoundError naming the path, pgs.native.memory_dir
    and a directory on disk, not a Task of None fields or a bare errno."""
    import numpy as np
    import pytest

    from trd_spark.pgs import pgen_engine
    from trd_spark.pgs.native_task import TaskRows, shared_task_rows, spilled

    folder = tmp_path / f"{SPILL_PREFIX}gone"
    rows = shared_task_rows(str(folder), {"variant_idx": np.arange(4, dtype=np.int64)}, [0, 2, 4])
    assert rows[0].load().variant_idx.tolist() == [0, 1]
    gone = str(folder / "weights")
    for name in os.listdir(gone):
        os.remove(os.path.join(gone, name))
    os.rmdir(gone)
    with pytest.raises(FileNotFoundError, match="pgs.native.memory_dir to a directory on disk") as err:
        TaskRows(gone, 0, 2).load()
    assert err.value.filename == gone
    with pytest.raises(FileNotFoundError, match="pgs.native.memory_dir") as err:
        list(spilled(str(tmp_path / "absent"), [(0, (np.zeros((1, 2)), np.zeros((1, 2))))]))
    assert err.value.filename == str(tmp_path / "absent")
    partial = SimpleNamespace(collect=lambda: [(0, (str(tmp_path / "absent.npy"), 0.1))])
    score_rows = SimpleNamespace(sample_slice=2)
    with pytest.raises(FileNotFoundError, match="RemoveIPC"):
        pgen_engine._summed_rows(partial, score_rows, 1, 2, pgen_engine._PassTimes(1, 1, 1, 0.0))


def test_the_pass_folder_says_where_pass_directory_put_it(tmp_path):
    """The native pass's log line says whether its files were on the memory dir or the disk: from
    ``pass_directory``'s own choice (``PassDirectory.files_in``), not re-derived by ``score`` from
    the path and the setting (two places deciding one thing); the path, a ``str``, carries it
    through ``weight_matrices`` to ``score``. On f691879 the yielded path has no such attribute."""
    memory, local = tmp_path / "shm", tmp_path / "spark-local"
    memory.mkdir()
    (tmp_path / "shm-link").symlink_to(memory)
    for given, where in ((str(memory), "memory_dir"), (str(tmp_path / "shm-link"), "memory_dir"),
                         (str(tmp_path / "absent"), "local dir"), (None, "local dir")):
        with pass_directory(_session(local), given, 0, MEMORY_DIR_SHARE) as path:
            assert path is not None and path.files_in == where and isinstance(path, str)
            assert os.path.isdir(path) and Path(path).name.startswith(SPILL_PREFIX)


def test_the_share_of_the_memory_dirs_room_is_the_configs(tmp_path, monkeypatch):
    """How much of the memory dir's room a pass may take is ``pgs.native.memory_dir_share`` (a
    policy, in the config: it was a module constant), 0.5 by default, in (0, 1]; a pass needing
    70% of the room goes to the disk at 0.5 and to the memory dir at 0.8."""
    import pytest
    from pydantic import ValidationError

    from trd_spark.pgs import memory as memory_module

    assert MEMORY_DIR_SHARE == 0.5
    for bad in (0.0, 1.5):
        with pytest.raises(ValidationError):
            NativeEngineSettings(memory_dir_share=bad)
    memory, local = tmp_path / "shm", tmp_path / "spark-local"
    memory.mkdir()
    monkeypatch.setattr(memory_module, "room_for_files", lambda d: 100 * 2**20)
    for share, parent in ((0.5, local), (0.8, memory)):
        with pass_directory(_session(local), str(memory), 70 * 2**20, share) as path:
            assert path is not None and Path(path).parent == parent, share
