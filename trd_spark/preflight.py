"""Checks run before any Spark work: inputs exist, the output root is writable, disk has room.

Each failure is one ConfigError naming the config key (and the file) so a user can fix it
without reading a stack trace, and nothing has been written yet when it is raised.
"""

from __future__ import annotations

import glob
import os
import shutil
import uuid
from pathlib import Path

from trd_spark.config import Config, is_uri
from trd_spark.errors import ConfigError
from trd_spark.stages import STAGE_SPECS

# Below this much free space on a local output root we refuse to start (a toy run needs
# ~50 MB; real runs write to object stores, which are not checked).
MIN_FREE_BYTES = 200 * 1024 * 1024


def missing_inputs(cfg: Config, stages: list[str]) -> list[tuple[str, str]]:
    """(config key, path) of every local external input (``stages.STAGE_SPECS``) of ``stages``
    whose path or glob matches nothing."""
    out = []
    for stage in stages:
        for key, path in STAGE_SPECS[stage].external(cfg):
            if is_uri(path):
                continue  # object stores are checked by the reader, with the same key in its error
            # A PLINK ``path`` may be the bed/bim/fam prefix (README): its .bed must exist.
            if not glob.glob(path) and not (_is_plink_prefix(cfg, key) and glob.glob(f"{path}.bed")):
                out.append((key, path))
    return out


def _is_plink_prefix(cfg: Config, key: str) -> bool:
    """``key`` is ``datasets.N.genotypes.path`` of a PLINK dataset."""
    parts = key.split(".")
    return (len(parts) == 4 and parts[0] == "datasets" and parts[2:] == ["genotypes", "path"]
            and cfg.datasets[int(parts[1])].genotypes.format == "plink")


def check_inputs(cfg: Config, stages: list[str]) -> None:
    """Raise ConfigError naming the first missing input path (key and path) the stages declare."""
    missing = missing_inputs(cfg, stages)
    if missing:
        key, path = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ConfigError(f"{key}: no such file or directory: {path}{more}", where=cfg.source_path)


def check_output_root(cfg: Config, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """The output root can be created and written, and (local) has room for a run."""
    root = cfg.output_root
    if is_uri(root) and not root.startswith("file://"):
        return
    path = Path(root.removeprefix("file://"))
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{uuid.uuid4().hex[:8]}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"output_root: cannot write to {root}: {e.strerror or e}", where=cfg.source_path) from None
    try:
        (path / cfg.release).mkdir(exist_ok=True)
    except OSError as e:
        # e.g. a release name longer than the file system's name limit (255 bytes on ext4).
        raise ConfigError(f"release: cannot create {path / cfg.release}: {e.strerror or e} "
                          f"({len(cfg.release)} characters)", where=cfg.source_path) from None
    free = shutil.disk_usage(path).free
    if free < min_free_bytes:
        raise ConfigError(
            f"output_root: only {free // (1024 * 1024)} MB free at {root} (need at least "
            f"{min_free_bytes // (1024 * 1024)} MB)", where=cfg.source_path)
    tmp = Path(cfg.spark.tmp_dir)
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        if not os.access(tmp, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as e:
        raise ConfigError(f"spark.tmp_dir: cannot write to {tmp}: {e.strerror or e}", where=cfg.source_path) from None
