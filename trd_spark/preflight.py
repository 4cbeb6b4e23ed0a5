"""Checks run before any Spark work: inputs exist (and a VCF is not cut short), the output
root is writable, disk has room.

Each failure is one ConfigError (a truncated VCF: InputDataError) naming the config key or
the file, so a user can fix it without reading a stack trace. ``check_inputs`` writes
nothing; ``run`` calls it before it creates the release's folder or its log, so a run
stopped by a missing input leaves no output that looks like a release.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trd_spark.config import Config, is_uri, local_path, named_key
from trd_spark.errors import ConfigError
from trd_spark.io import LocalFs
from trd_spark.layout import audit_root_problem

# external_inputs / missing_inputs live in stages (shared): releases.outdated_stages uses them too
from trd_spark.stages import SKIPPING_SPARK_CONF, STAGE_SPECS, _is_true, external_inputs, missing_inputs  # noqa: F401 (re-exported)

if TYPE_CHECKING:

    from trd_spark.layout import ListingFs

log = logging.getLogger(__name__)

# Below this much free space on a local output root we refuse to start (a toy run needs
# ~50 MB; real runs write to object stores, which are not checked).
MIN_FREE_BYTES = 200 * 1024 * 1024


# A PGS Catalog score ID (``PGS000001``), as pgsc_calc's ``--pgs_id`` takes it.
_PGS_ID = re.compile(r"PGS\d{6,}", re.IGNORECASE)


def missing_input_hint(key: str, path: str) -> str:
    """Words to add after a missing input's ``no such file or directory: <path>``: for a
    ``pgs.scoring_files`` entry that is a bare PGS Catalog ID (``PGS000001``, as pgsc_calc's
    ``--pgs_id`` takes it), where such a file comes from; else "". The line said only that
    ``<config dir>/PGS000001`` was no file, a path the user never meant (the pgs stage fetches
    nothing: ``trd-spark download-scores`` does, from the trait panel)."""
    if not key.startswith("pgs.scoring_files") or not _PGS_ID.fullmatch(os.path.basename(path.rstrip("/"))):
        return ""
    return ("; pgs.scoring_files takes scoring files (paths, globs, folders), not PGS Catalog IDs: name the ID in "
            "the trait panel (pgs.trait_panel) and fetch its harmonised file with `trd-spark download-scores` (needs "
            "the network; offline, run it on a machine that has it and copy the files), then list that folder here")


def uri_inputs(cfg: Config, stages: list[str]) -> list[tuple[str, str]]:
    """(config key, path) of every external input of ``stages`` on an object store or HDFS
    (``config.local_path`` None): ``missing_inputs`` leaves them to the readers, so
    check-config names them as not checked."""
    return [(key, path) for key, path in external_inputs(cfg, stages) if local_path(path) is None]


def toy_data_pending(cfg: Config) -> str | None:
    """The toy data directory of a toy config whose data are not generated yet (no
    ``truth.json``: ``pipeline.ensure_toy_data`` writes them when the run starts), else None."""
    if cfg.toy_data is None:
        return None
    try:
        if (Path(cfg.toy_data.dir) / "truth.json").exists():
            return None
    except OSError:  # e.g. a release name over the file system's limit in the path: not there
        pass
    return str(Path(cfg.toy_data.dir).resolve())


def release_outside_root(cfg: Config) -> str | None:
    """The words for a release that is no sub-directory of a local ``releases.input_root`` (a
    typo'd ``--release C2024Q3R6``, a release not copied in yet): ``release: 'x' is not a
    release under releases.input_root <dir> (found: ...)``; None when it is one, when the config
    has no local input root (gs:// is left to the readers, as its inputs are) or the root itself
    is missing (the missing inputs say so). Its inputs then miss as a whole: without this the
    run named only the first of them, a path the user never wrote."""
    from trd_spark.releases import LocalFs, found_releases, natural_key

    if cfg.toy_data is not None:  # toy releases are generated on first run (config: a known name)
        return None
    root = local_path(cfg.releases.input_root) if cfg.releases.input_root else None
    if root is None or not os.path.isdir(root) or os.path.isdir(os.path.join(root, cfg.release)):
        return None
    found = [n for n in found_releases(cfg, LocalFs()) if os.path.isdir(os.path.join(root, n))]
    return (f"release: {cfg.release!r} is not a release under releases.input_root {root} "
            f"(found: {', '.join(sorted(found, key=natural_key)) or 'none'})")


def check_inputs(cfg: Config, stages: list[str]) -> None:
    """Raise ConfigError naming the first missing input path (key and path) the stages declare, then
    InputDataError (exit 3) naming the first local VCF of the pgs stage that is cut short
    (``check_vcf_inputs``), then the scoring files against the trait panel (``check_panel``: a
    WARNING, or with ``pgs.strict_panel`` a ConfigError), then InputDataError naming the first local
    OMOP table of the phenotypes stage without a required column or with a column Spark would cast
    silently (``phenotypes.omop_preflight.check_omop_schemas``). Inputs under toy data not generated
    yet (``toy_data_pending``) are left for the check after their generation. Reads no output and
    writes nothing: ``run`` calls it before it creates the release's folder or its log. First, a
    ``spark.extra_conf`` key of ``stages.SKIPPING_SPARK_CONF`` set true is one ConfigError naming
    it: Spark's file reads would skip an unreadable or vanished part file and drop its records with
    no count."""
    for key in SKIPPING_SPARK_CONF:
        if _is_true(cfg.spark.extra_conf.get(key, "")):
            raise ConfigError(f"spark.extra_conf.{key}: true is refused: Spark's file reads (the OMOP tables, the "
                              "stage outputs) would skip a part file they cannot read and drop its records with no "
                              "count; remove the key and fix or re-copy the unreadable file", where=cfg.source_path)
    pending = toy_data_pending(cfg)
    missing = [(k, p) for k, p in missing_inputs(cfg, stages)
               if pending is None or not str(Path(p).resolve()).startswith(pending)]
    if missing:
        key, path = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        outside = release_outside_root(cfg)
        raise ConfigError(f"{outside + '; ' if outside else ''}{named_key(key, cfg)}: no such file or directory: "
                          f"{path}{more}{missing_input_hint(key, path)}", where=cfg.source_path)
    check_audit_roots(cfg, stages, LocalFs())
    if "pgs" in stages and pending is None:
        check_vcf_inputs(cfg)
        check_panel(cfg)
    if "phenotypes" in stages and pending is None:
        # A local OMOP table's missing column or silently cast type, from its footer or header
        # (no Spark): found once Spark had started, ~1.5 min in on a loaded machine (session 53)
        from trd_spark.phenotypes.omop_preflight import check_omop_schemas

        check_omop_schemas(cfg)


def check_audit_roots(cfg: Config, stages: list[str], fs: ListingFs, *, uris: bool = False) -> None:
    """ConfigError naming the first ``report.audit_output_roots`` entry that does not exist or
    holds no export (``layout.audit_root_problem``, the rule the report stage applies too) when
    the report is among ``stages``: the local roots (``fs`` a ``LocalFs``: ``check_inputs``,
    before Spark), or with ``uris`` the gs:// / hdfs:// ones (``fs`` the session's ``io.Fs``:
    ``pipeline.run_stages``, once Spark is up). The roots are no input of the fingerprint (an
    export published there later reruns nothing), but a wrong one stopped the run only at the
    report, after every other stage had run."""
    if "report" not in stages:
        return
    for root in cfg.report.audit_output_roots:
        if (local_path(root) is None) == uris and (problem := audit_root_problem(fs, local_path(root) or root)):
            raise ConfigError(f"report.audit_output_roots: {root} {problem}", where=cfg.source_path)


@dataclass(frozen=True)
class PanelMismatch:
    """Scoring files against the trait panel, from the local files' ``#pgs_id`` headers:
    ``not_in_panel`` (pgs_ids of files with no panel entry: scored with domain 'unassigned'),
    ``without_file`` (panel pgs_ids no file has: their fits end 'pgs_absent' at the models
    stage; only known when every ``pgs.scoring_files`` entry is local and matches a file), the
    URI entries not read (``uri_patterns``) and the local entries matching no file
    (``unmatched``: ``missing_inputs`` names them; toy data not generated yet)."""

    not_in_panel: list[str]
    without_file: list[str]
    uri_patterns: list[str]
    unmatched: list[str]

    def message(self) -> str | None:
        """One line with the counts and the pgs_ids, or None when files and panel agree."""
        parts = []
        if self.not_in_panel:
            parts.append(f"{len(self.not_in_panel)} scoring file score(s) not in the trait panel (scored with "
                         f"domain 'unassigned'): {', '.join(self.not_in_panel)}")
        if self.without_file:
            parts.append(f"{len(self.without_file)} trait-panel score(s) without a scoring file (their fits "
                         f"would fail as 'pgs_absent'): {', '.join(self.without_file)}")
        return "pgs.scoring_files vs pgs.trait_panel: " + "; ".join(parts) if parts else None

    def uri_note(self) -> str | None:
        """The line naming the scoring-file entries not read here (object stores, HDFS)."""
        if not self.uri_patterns:
            return None
        return (f"pgs.scoring_files: {len(self.uri_patterns)} gs:// / hdfs:// entr"
                f"{'ies' if len(self.uri_patterns) > 1 else 'y'} not read for the trait-panel check "
                "(panel scores without a file are not looked for)")


def scoring_file_pgs_id(path: str) -> str | None:
    """The ``#pgs_id`` of a local scoring file (plain or gzip), read from its ``#`` header
    lines only (``scoring_files.read_scoring_file_header``: PGS Catalog format 1.0 keys too);
    None when it has none or cannot be read (the pgs stage names that file's problem). A header
    the full parse refuses (a key given twice with two values) raises its InputDataError here
    too: which ``#pgs_id`` the file means is unknown."""
    import zlib

    from trd_spark.pgs.scoring_files import read_scoring_file_header

    try:
        meta = read_scoring_file_header(path)
    except (OSError, EOFError, zlib.error):
        return None
    value = meta.get("pgs_id", ("", 0))[0]
    return value if value and value.upper() != "NR" else None


def panel_mismatch(cfg: Config) -> PanelMismatch:
    """Compare the local ``pgs.scoring_files``' ``#pgs_id`` headers with the trait panel's
    scores (``PanelMismatch``); reads only each file's header lines. An entry matching no
    file is left to ``missing_inputs``."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.scoring_files import scoring_file_paths

    uris = [p for p in cfg.pgs.scoring_files if local_path(p) is None]
    ids: set[str] = set()
    unmatched = []
    for pattern in cfg.pgs.scoring_files:
        if pattern in uris:
            continue
        try:
            paths = scoring_file_paths(None, [local_path(pattern) or pattern])
        except InputDataError:
            unmatched.append(pattern)
            continue
        ids.update(i for p in paths if (i := scoring_file_pgs_id(p)) is not None)
    panel = [s.pgs_id for s in cfg.trait_panel.scores] if cfg.trait_panel else []
    return PanelMismatch(not_in_panel=sorted(ids - set(panel)),
                         without_file=[] if uris or unmatched else [i for i in panel if i not in ids],
                         uri_patterns=uris, unmatched=unmatched)


def check_panel(cfg: Config) -> None:
    """At run start (pgs stage): the scoring files' scores against the trait panel
    (``panel_mismatch``): one WARNING line when they disagree, a ConfigError (exit 2) naming
    the trait panel when ``pgs.strict_panel`` is set; one INFO line for URI entries not read."""
    found = panel_mismatch(cfg)
    if (note := found.uri_note()) is not None:
        log.info("%s", note)
    if (message := found.message()) is None:
        return
    if cfg.pgs.strict_panel:
        raise ConfigError(f"{message} (pgs.strict_panel is true)", where=cfg.pgs.trait_panel)
    log.warning("%s", message)


def check_vcf_inputs(cfg: Config) -> None:
    """Each local VCF of a ``format: vcf`` dataset, checked before any Spark work, by what a
    cut-short copy shows at its ends (at All of Us scale Hail would find it minutes into the
    pgs stage): ``pgs.genotypes.check_vcf_files`` (header and first record; a BGZF file must
    end with the 28-byte BGZF end-of-file block, SAM/BAM spec 4.1.2), then the last line
    (``last_line_problem``: it must end with a newline and, when it lies whole in the file's
    last 1 MiB / last BGZF block, have as many tab-separated fields as the ``#CHROM`` header
    line). Plain gzip files are not decompressed to their end (a full read). Each file's tail
    is read once (``vcf_tail``) for both checks.

    A file of 0 bytes is refused first (named as what it is, not as an uncompressed file under
    a .bgz name), and a dataset whose every file ends in its header (``header_only``: no variant
    record; a plain gzip file is read from its start up to its first record line instead) is
    refused after: Hail read such a dataset and the pgs stage failed minutes later on a scratch
    file of its rows that was never written (new-user trial, session 30).

    Raises InputDataError (exit 3) naming the file: one error line."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.genotypes import check_vcf_files, compression

    for i, d in enumerate(cfg.datasets):
        source = d.genotypes
        if source.format != "vcf" or is_uri(source.path):
            continue
        paths = sorted(glob.glob(source.path))
        for path in paths:
            if os.path.isfile(path) and os.path.getsize(path) == 0:
                raise InputDataError("empty file (0 bytes, not even a VCF header); copy it again", where=path)
        check_vcf_files(source)
        without_records = []
        for path in paths:
            kind = compression(path)
            tail = vcf_tail(path, kind)  # read once: both checks below look at it
            problem = last_line_problem(path, kind, tail)
            if problem:
                raise InputDataError(f"VCF cut short? {problem}; copy the file again", where=path)
            if header_only(path, kind, tail):
                without_records.append(path)
        # One shard without records (e.g. a chromosome with no variant in a subset) is valid;
        # a dataset with none at all has nothing to score.
        if paths and len(without_records) == len(paths):
            more = f" (as do its {len(paths) - 1} other files)" if len(paths) > 1 else ""
            raise InputDataError(f"the VCF has its header but no variant record{more}: nothing to score for "
                                 f"{named_key(f'datasets.{i}.genotypes.path', cfg)}; copy or export it again",
                                 where=paths[0])


# The last decompressed bytes looked at: one BGZF block holds at most 64 KiB of data.
_TAIL_BYTES = 1 << 20
# The fixed start of a BGZF block header (SAM/BAM spec 4.1): gzip magic, CM 8, FLG.FEXTRA.
_BGZF_MAGIC = b"\x1f\x8b\x08\x04"


def vcf_tail(path: str, kind: str) -> bytes:
    """The decompressed end of a VCF file (``kind``: ``pgs.genotypes.compression`` of it), what
    ``last_line_problem`` and ``header_only`` read: an uncompressed file's last 1 MiB, a BGZF
    file's last data block (located by walking back from the end-of-file block to a block whose
    BSIZE ends there); b"" for a plain gzip file (its end cannot be reached without
    decompressing it whole)."""
    if kind == "gzip":
        return b""
    return _bgzf_last_block_text(path) if kind == "bgzf" else _plain_tail(path)


def last_line_problem(path: str, kind: str, tail: bytes | None = None) -> str | None:
    """What is wrong with the last line of a VCF file (``kind``: ``pgs.genotypes.compression``
    of it; ``tail``: its ``vcf_tail``, read here when None), or None: no final newline, or (when
    the whole line is in the text read) fewer or more tab-separated fields than the ``#CHROM``
    line. A plain gzip file is not checked (None). A file with no record after its header has
    no last line to check (None)."""
    if kind == "gzip":
        return None
    tail = vcf_tail(path, kind) if tail is None else tail
    if not tail:
        return None
    if not tail.endswith(b"\n"):
        return "its last line has no final newline"
    body = tail[:-1]
    cut = body.rfind(b"\n")
    if cut < 0:
        return None  # the last line began before the text read: its length is not known here
    last = body[cut + 1:]
    if last.startswith(b"#"):
        return None
    n_header = _header_field_count(path, kind)
    n_last = last.count(b"\t") + 1
    if n_header is not None and n_last != n_header:
        return f"its last line has {n_last} tab-separated fields, the #CHROM line {n_header}"
    return None


def header_only(path: str, kind: str, tail: bytes | None = None) -> bool:
    """True when the VCF holds no variant record, only header lines (VCF 4.2 1.3: the header
    lines come first). Uncompressed and BGZF files: its last line, seen whole in ``tail`` (its
    ``vcf_tail``, read here when None), is a header line; False when records follow or when
    the last line began before the text read (a ``#CHROM`` line of many samples longer than a
    BGZF block: not known here). A plain gzip file has no end to look at without decompressing
    it whole, so it is read from its start: ``_gzip_has_no_record``."""
    if kind == "gzip":
        return _gzip_has_no_record(path)
    tail = vcf_tail(path, kind) if tail is None else tail
    body = tail[:-1] if tail.endswith(b"\n") else tail
    cut = body.rfind(b"\n")
    if cut < 0:  # one line: whole only when it is a whole uncompressed file, read from its start
        return kind == "none" and len(tail) < _TAIL_BYTES and body.startswith(b"#")
    return body[cut + 1:].startswith(b"#")


# Decompressed bytes read at a time from a plain gzip file by ``_gzip_has_no_record``.
_GZIP_CHUNK = 1 << 16


def _gzip_has_no_record(path: str) -> bool:
    """True when a plain gzip VCF ends within its header lines (every line starts with ``#``).
    The cost is bounded by the header: the file is decompressed from its start only until the
    first byte of the first line not starting with ``#`` (a record), plus the chunk that byte
    lies in; a header line itself is passed over chunk by chunk, never held whole (a #CHROM
    line of 400k samples is megabytes). A stream that cannot be read (corrupt, cut short inside
    the header) is False here: ``pgs.genotypes.check_vcf_files`` names that file's problem."""
    import gzip
    import zlib

    at_line_start = True
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(_GZIP_CHUNK):
                i = 0
                while i < len(chunk):
                    if at_line_start and chunk[i:i + 1] != b"#":
                        return False  # a record line: stop reading here
                    newline = chunk.find(b"\n", i)
                    if newline < 0:
                        at_line_start = False
                        break
                    i, at_line_start = newline + 1, True
    except (OSError, EOFError, zlib.error):
        return False
    return True


def _plain_tail(path: str) -> bytes:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - _TAIL_BYTES))
        return f.read()


def _bgzf_last_block_text(path: str) -> bytes:
    """The decompressed data of the last non-empty BGZF block before the end-of-file block
    (b"" when none is found: a file of the EOF block only)."""
    import zlib

    from trd_spark.pgs.genotypes import BGZF_EOF

    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - len(BGZF_EOF) - (1 << 16) - 64))
        raw = f.read()
    end = len(raw) - len(BGZF_EOF)
    at = raw.rfind(_BGZF_MAGIC, 0, end)
    while at >= 0:
        # XLEN 6 with the BC subfield; BSIZE (total block size - 1) closes the block at ``end``.
        if raw[at + 12:at + 14] == b"BC" and at + int.from_bytes(raw[at + 16:at + 18], "little") + 1 == end:
            try:
                return zlib.decompress(raw[at + 18:end - 8], -15)
            except zlib.error:
                return b""
        at = raw.rfind(_BGZF_MAGIC, 0, at)
    return b""


def _header_field_count(path: str, kind: str) -> int | None:
    """Tab-separated fields of the ``#CHROM`` line (None when the header has none)."""
    import gzip

    with gzip.open(path, "rb") if kind != "none" else open(path, "rb") as f:
        for line in f:
            if line.startswith(b"#CHROM"):
                return line.rstrip(b"\r\n").count(b"\t") + 1
            if not line.startswith(b"#"):
                return None
    return None


def check_output_root(cfg: Config, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """The output root can be created and written, and (local) has room for a run."""
    root = cfg.output_root
    local = local_path(root)
    if local is None:
        return
    path = Path(local)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{uuid.uuid4().hex[:8]}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"output_root: cannot write to {root}: {e.strerror or e}", where=cfg.source_path) from None
    release_dir = path / cfg.release
    created = not os.path.isdir(release_dir)  # os.path: a name over the limit is False, not an error
    try:
        release_dir.mkdir(exist_ok=True)
    except OSError as e:
        # e.g. a release name longer than the file system's name limit (255 bytes on ext4).
        raise ConfigError(f"release: cannot create {path / cfg.release}: {e.strerror or e} "
                          f"({len(cfg.release)} characters)", where=cfg.source_path) from None
    try:
        _check_room(cfg, path, min_free_bytes)
    except ConfigError:
        if created:  # a run stopped here leaves no empty release folder
            release_dir.rmdir()
        raise


def _check_room(cfg: Config, path: Path, min_free_bytes: int) -> None:
    """Free space at the output root, and a writable ``spark.tmp_dir`` (ConfigError)."""
    root = cfg.output_root
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
