"""Reading and writing at the edges: files on any Hadoop filesystem (local, gs://, hdfs://).

Transforms never call this module; jobs and the layout do. Small text files (manifests,
TSV, HTML) go through the JVM's Hadoop FileSystem so that the same code works for local
paths and object stores.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from trd_spark.config import is_uri, local_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Observation, SparkSession
    from pyspark.sql.types import StructType

log = logging.getLogger(__name__)

# How long ``observed`` waits, once the observed action has returned, for Spark to deliver the
# metrics (its listener bus is asynchronous: normally milliseconds). A safeguard, not a tuning
# knob: an Observation whose node the optimizer removed gets no metrics (Spark 3.5.9 delivers
# an empty set; other releases may never deliver, and ``Observation.get`` would block
# forever); then the caller's fallback computes the same values from the written files.
OBSERVED_METRICS_WAIT_S = 120.0


class LocalFs:
    """Fs's operations on local paths, without a Spark session (releases, compare-releases' check
    before Spark); ``Fs`` reads local files through it too."""

    def exists(self, path: str) -> bool:
        return Path(path).exists()

    def listdirs(self, path: str) -> list[str]:
        p = Path(path)
        return sorted(x.name for x in p.iterdir() if x.is_dir()) if p.is_dir() else []

    def read_text(self, path: str) -> str:
        return Path(path).read_text()

    def read_bytes(self, path: str) -> bytes:
        return Path(path).read_bytes()

    def write_text(self, path: str, text: str) -> None:
        """Create or overwrite ``path`` with ``text`` (UTF-8), its folder made when missing (as ``Fs.write_text``)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")

    def list_files(self, path: str) -> dict[str, int]:
        """{path relative to directory ``path``: bytes} of every file below it (recursive), except
        hidden ones (a name starting with ``.``, and everything below a hidden directory); {}
        when ``path`` does not exist."""
        root = Path(path)
        out = {}
        for d, dirs, names in os.walk(root):
            dirs[:] = [x for x in dirs if not x.startswith(".")]
            for name in names:
                if not name.startswith("."):
                    f = Path(d) / name
                    out[f.relative_to(root).as_posix()] = f.stat().st_size
        return dict(sorted(out.items()))

    def delete(self, path: str) -> None:
        Path(path).unlink(missing_ok=True)

    def mtime(self, path: str) -> float:
        """Modification time, seconds since the epoch."""
        return Path(path).stat().st_mtime

    def create_new(self, path: str, text: str) -> bool:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return True


def java_class(spark: SparkSession, name: str) -> Any:
    """The JVM class ``name`` (fully qualified: ``org.apache.hadoop.fs.Path``) as a py4j
    ``JavaClass`` of ``spark``'s gateway, made without a round trip to the JVM (calling it, or
    reading a static member, is one). Why not ``jvm.org.apache.hadoop.fs.Path``: py4j asks the
    JVM about each dotted part, and each part that is no class is a search of every jar on the
    class path, the first one once per star import of PySpark's JVM view; ~500 ``Path`` lookups
    of a 600-person toy run cost ~2,300 round trips (session 57, benchmarks/RESULTS.md)."""
    from py4j.java_gateway import JavaClass  # type: ignore[import-untyped]

    jvm = spark.sparkContext._jvm  # noqa: SLF001
    # pyspark types _jvm as optional: it is None only before a SparkContext starts.
    assert jvm is not None, "a JVM class needs a running SparkSession"
    return JavaClass(name, jvm._gateway_client)  # noqa: SLF001 - the view's py4j connection


class Fs:
    """A few filesystem operations through Hadoop's FileSystem API."""

    def __init__(self, spark: SparkSession):
        self._hadoop_path = java_class(spark, "org.apache.hadoop.fs.Path")
        self._byte_array_output = java_class(spark, "java.io.ByteArrayOutputStream")
        self._io_utils = java_class(spark, "org.apache.hadoop.io.IOUtils")
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001

    def _path(self, path: str):
        uri = path if is_uri(path) else "file://" + str(Path(path).absolute())
        jpath = self._hadoop_path(uri)
        return jpath.getFileSystem(self._conf), jpath

    def exists(self, path: str) -> bool:
        fs, p = self._path(path)
        return bool(fs.exists(p))

    def mkdirs(self, path: str) -> None:
        fs, p = self._path(path)
        fs.mkdirs(p)

    def delete(self, path: str) -> None:
        fs, p = self._path(path)
        if fs.exists(p):
            fs.delete(p, True)

    def rename(self, src: str, dst: str) -> None:
        fs, s = self._path(src)
        _, d = self._path(dst)
        if not fs.rename(s, d):
            raise OSError(f"could not rename {src} to {dst}")

    def create_new(self, path: str, text: str) -> bool:
        """Create ``path`` with ``text`` only if it does not exist (atomic on local disks,
        HDFS and GCS); False when it already exists."""
        fs, p = self._path(path)
        try:
            out = fs.create(p, False)
        except Exception as e:  # py4j wraps FileAlreadyExistsException
            if "FileAlreadyExists" in str(e) or fs.exists(p):
                return False
            raise
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
        return True

    def listdirs(self, path: str) -> list[str]:
        """Names of the sub-directories of ``path`` (empty when it does not exist)."""
        fs, p = self._path(path)
        if not fs.exists(p):
            return []
        return sorted(str(st.getPath().getName()) for st in fs.listStatus(p) if st.isDirectory())

    def listdir(self, path: str) -> list[str]:
        fs, p = self._path(path)
        if not fs.exists(p):
            return []
        return sorted(str(st.getPath().getName()) for st in fs.listStatus(p))

    def write_text(self, path: str, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    def write_bytes(self, path: str, data: bytes) -> None:
        """Create or overwrite ``path`` with ``data`` (one py4j transfer: small files only)."""
        fs, p = self._path(path)
        out = fs.create(p, True)
        try:
            out.write(bytearray(data))
        finally:
            out.close()

    def read_text(self, path: str) -> str:
        """The whole file as UTF-8 text. A local path is read directly, as ``read_bytes`` reads it:
        through Hadoop's checksummed local file system a file edited in place since Hadoop wrote
        it (a release lock refreshed by ``releases.rewrite_if_held``) failed its stale ``.crc``."""
        if not is_uri(path):
            return LocalFs().read_bytes(path).decode("utf-8")
        fs, p = self._path(path)
        stream = fs.open(p)
        try:
            buf = io.BytesIO()
            jbuf = self._byte_array_output()
            self._io_utils.copyBytes(stream, jbuf, 65536, False)
            buf.write(bytes(jbuf.toByteArray()))
            return buf.getvalue().decode("utf-8")
        finally:
            stream.close()

    def read_bytes(self, path: str) -> bytes:
        """The whole file as bytes (no decompression; one py4j transfer, not line by line).
        A local path is read directly: Hadoop's local file system checks it against its hidden
        ``.crc`` and fails on a file edited since it wrote it (``Layout.changed_outputs``
        hashes such files to see the edit)."""
        if not is_uri(path):
            return LocalFs().read_bytes(path)
        fs, p = self._path(path)
        stream = fs.open(p)
        try:
            jbuf = self._byte_array_output()
            self._io_utils.copyBytes(stream, jbuf, 1 << 20, False)
            return bytes(jbuf.toByteArray())
        finally:
            stream.close()

    def glob_files(self, pattern: str) -> list[str]:
        """Files matching a Hadoop glob (sorted URIs); a matching directory contributes its
        files, except hidden and ``_``-prefixed ones (``_SUCCESS``, ``.crc``)."""
        fs, p = self._path(pattern)
        out = []
        for st in fs.globStatus(p) or []:
            entries = fs.listStatus(st.getPath()) if st.isDirectory() else [st]
            for e in entries:
                name = str(e.getPath().getName())
                if not e.isDirectory() and not name.startswith((".", "_")):
                    uri = str(e.getPath().toString())
                    # Hadoop prints local files as file:/x; keep them recognisable as URIs.
                    out.append("file://" + uri[5:] if uri.startswith("file:/") and not uri.startswith("file://") else uri)
        return sorted(out)

    def list_files(self, path: str) -> dict[str, int]:
        """{path relative to directory ``path``: bytes} of every file below it (recursive),
        except hidden ones (a name starting with ``.``: Hadoop's ``.crc`` files); {} when
        ``path`` does not exist. A local path is listed by ``LocalFs``."""
        if not is_uri(path):
            return LocalFs().list_files(path)
        fs, p = self._path(path)
        if not fs.exists(p):
            return {}
        base = str(fs.getFileStatus(p).getPath().toUri().getPath()).rstrip("/")
        files = fs.listFiles(p, True)
        out = {}
        while files.hasNext():
            st = files.next()
            rel = str(st.getPath().toUri().getPath())[len(base) + 1:]
            if not any(part.startswith(".") for part in rel.split("/")):
                out[rel] = int(st.getLen())
        return dict(sorted(out.items()))

    def mtime(self, path: str) -> float:
        """Modification time of a file, seconds since the epoch."""
        fs, p = self._path(path)
        return int(fs.getFileStatus(p).getModificationTime()) / 1000

    def fingerprint(self, path: str, recorded: dict[str, list] | None = None,
                    only: set[str] | None = None) -> dict[str, object]:
        """Fingerprint of a file, or of every file under a directory, from the listing alone
        (no byte is read: a VCF callset or an OMOP export can be terabytes): file count, total
        bytes, latest modification time and the SHA-256 of every file's (path in the directory,
        ``listing_version``). Per file, not only totals: a part moved to another partition
        directory, or replaced by another of the same size whose mtime was kept (HDFS ``mv``,
        ``hdfs dfs -cp -p`` / ``distcp -pt`` from another release) while a newer file held the
        latest mtime, left count, bytes and latest mtime as they were, and nothing reran.

        A file on a scheme of ``CHECKSUM_SCHEMES`` (``gs://``) is versioned by the checksum the
        store keeps of its bytes (``getFileChecksum``: the GCS connector's CRC32C with
        ``fs.gs.checksum.type``, which the session sets; one metadata request, no byte read),
        not by its mtime, which GCS moves on a metadata-only update too (a label, a custom
        metadata key, a storage-class change): that reran every stage after it with a loud
        "input changed". The request is made only for a file whose (size, mtime) differs from
        ``recorded`` (``STAT_RECORD`` of the stage's manifest: {uri: [size, mtime_ms,
        checksum]}); the result carries its own record. Elsewhere (HDFS, where only a write
        moves mtime) the mtime as before; a replacement with the same size and the same mtime
        (an HDFS copy with ``-p`` of a file of that same mtime) is still not seen there.
        ``only``: the URIs to keep of the listing (``listing_fingerprint``)."""
        fs, p = self._path(path)
        if not fs.exists(p):
            return {"path": path, "exists": False}
        base = str(fs.getFileStatus(p).getPath().toUri().getPath()).rstrip("/")
        files = fs.listFiles(p, True)
        entries = []
        while files.hasNext():
            st = files.next()
            rel = str(st.getPath().toUri().getPath())[len(base) + 1:]
            entries.append((str(st.getPath().toString()), rel, int(st.getLen()), int(st.getModificationTime())))

        def checksum(uri: str) -> str | None:
            # None: no checksum type set, or none kept (a composite object has no MD5): the mtime.
            cs = fs.getFileChecksum(self._hadoop_path(uri))
            raw = None if cs is None else cs.getBytes()
            return None if raw is None else f"{cs.getAlgorithmName()}:{bytes(raw).hex()}"

        scheme = path.partition("://")[0] if is_uri(path) else "file"
        return listing_fingerprint(path, entries, recorded, checksum if scheme in CHECKSUM_SCHEMES else None, only)


# Key of the per-file records an input fingerprint carries to spare reading (local files) or
# asking about (object-store checksums) an unchanged file again; never compared.
STAT_RECORD = "stat"
# Schemes whose Hadoop file system answers getFileChecksum from the object's metadata (no byte
# read): the GCS connector (with ``fs.gs.checksum.type``: session.spark_conf sets CRC32C).
CHECKSUM_SCHEMES = ("gs",)


# ``listing_version`` kinds that are digests of an object's bytes (``generation`` is not: the same
# bytes copied to another bucket get a new one; ``mtime_ms`` is not): a listing whose every file
# has one keys its input by content (``BY_CONTENT``). Of these ``Fs.fingerprint`` produces only
# ``checksum`` (the GCS connector's CRC32C): ``md5Hash`` and ``crc32c`` are fields of a GCS object
# resource, kept on purpose for a listing of those (``listing_version``'s rule, pinned by
# tests/test_rerun_minimal.py), which the pipeline does not read today.
CONTENT_VERSIONS = ("md5Hash", "crc32c", "checksum")
# Key of an input fingerprint whose files are versioned by their bytes alone (every one a
# ``CONTENT_VERSIONS`` kind): its ``path`` is then no part of what is compared
# (``stages.compared_inputs``), as for a local input: the same objects under another bucket or
# folder rerun nothing.
BY_CONTENT = "by_content"


def listing_version(record: Mapping[str, Any]) -> list[Any]:
    """What of one object's listing record changes with its content, and only with it: [size,
    kind, value]. ``record`` holds ``size`` and any of the store's fields: a GCS object
    resource's ``md5Hash`` (absent on composite objects), ``generation`` (a new one for every
    write of the content, none for a metadata update: that moves ``metageneration`` and
    ``updated``) and ``crc32c``; Hadoop's ``checksum`` ("ALGORITHM:hex", ``Fs.fingerprint``);
    else ``mtime_ms`` (Hadoop's modification time; GCS's is ``updated``, moved by a metadata-only
    update too). Taken in that order: a digest of the bytes first (the same bytes uploaded again
    rerun nothing), the generation before a 32-bit CRC (never a stale rerun for a collision, one
    in 2^32 same-size rewrites), the mtime last. Source: GCS object resource
    (cloud.google.com/storage/docs/json_api/v1/objects), GCS connector ``getFileChecksum``.

    What the pipeline's own records hold (``Fs.fingerprint``: a Hadoop listing + ``getFileChecksum``)
    is ``checksum`` or ``mtime_ms`` only, no generation: on ``gs://`` an input is keyed by each
    file's name under the input, size and 32-bit CRC32C, with no bucket (``BY_CONTENT``,
    ``stages.compared_inputs``). So the rule above does not hold there: a rewrite, or another
    bucket's files of the same names and sizes, whose CRC32C all collide (about 2^-32 per file)
    would rerun nothing. Accepted: MD5 is absent on composite objects (gcloud's parallel composite
    uploads) and a generation is per bucket (the same data in another bucket, or copied
    again, would rerun everything); ``--force`` reruns regardless."""
    for kind in ("md5Hash", "generation", "crc32c", "checksum"):
        if record.get(kind) not in (None, ""):
            return [record["size"], kind, record[kind]]
    return [record["size"], "mtime_ms", record["mtime_ms"]]


def listing_fingerprint(path: str, entries: list[tuple[str, str, int, int]], recorded: Mapping[str, list] | None,
                        checksum: Callable[[str], str | None] | None,
                        only: set[str] | None = None) -> dict[str, object]:
    """``Fs.fingerprint`` of the input ``path`` from its listing ``entries`` ([(uri, path in the
    folder, size, mtime_ms)]): {path, exists, files, bytes, mtime_ms (latest), digest (of every
    file's (path in the folder, ``listing_version``)), ``STAT_RECORD``, ``BY_CONTENT`` (True when
    every file's version is a digest of its bytes: ``CONTENT_VERSIONS``)}. ``checksum(uri)``: the
    store's checksum of a file's bytes (None: the store keeps none; ``checksum`` None: not asked);
    asked only for a file whose [size, mtime_ms] differs from ``recorded[uri]`` (the last
    fingerprint's record), so an unchanged folder of thousands of objects costs one listing.
    ``only``: the URIs of the entries to keep (the files a stage reads of a folder,
    ``stages.files_fingerprint``), the others left out of every field."""
    if only is not None:
        entries = [e for e in entries if e[0] in only]
    parts, stats = [], {}
    for uri, rel, size, mtime_ms in sorted(entries, key=lambda e: e[1]):
        record: dict[str, Any] = {"size": size, "mtime_ms": mtime_ms}
        if checksum is not None:
            before = (recorded or {}).get(uri)
            known = isinstance(before, list) and len(before) == 3 and before[:2] == [size, mtime_ms]
            record["checksum"] = before[2] if known else checksum(uri)  # type: ignore[index]
            stats[uri] = [size, mtime_ms, record["checksum"]]
        parts.append((rel, *listing_version(record)))
    out: dict[str, object] = {"path": path, "exists": True, "files": len(parts), "bytes": sum(e[2] for e in entries),
                              "mtime_ms": max((e[3] for e in entries), default=0),
                              "digest": hashlib.sha256(json.dumps(parts).encode()).hexdigest(),
                              BY_CONTENT: bool(parts) and all(p[2] in CONTENT_VERSIONS for p in parts)}
    if stats:
        out[STAT_RECORD] = stats
    return out


def bgen_sample_file_candidates(path: str) -> tuple[str, str]:
    """Where the Oxford .sample of the BGEN ``path`` may be, in the order looked at:
    ``x.sample`` for ``x.bgen``, then ``x.bgen.sample`` (the reader, ``pgs.bgen_reader``, and
    the rerun fingerprint, ``stages.plink_fileset_inputs``, name the same files; here because
    the shared layer may not import a stage package)."""
    stem = path[:-5] if path.endswith(".bgen") else path
    return f"{stem}.sample", f"{path}.sample"


def pgen_variant_file(prefix: str) -> str:
    """The variant list a pgen fileset at ``prefix`` (a path, or a URI, without ``.pgen``) is
    read from, in the form ``prefix`` was given: ``prefix.pvar``, or ``prefix.pvar.zst`` when the
    .pvar is not there and that is (plink2 ``--make-pgen vzs`` writes only the .pvar.zst). A
    ``file://`` prefix is looked at as its local path (``config.local_path``); gs:// / hdfs:// get
    the .pvar, not looked at (pgenlib reads no URI: ``engine.engine_for`` refuses one). The one
    rule of the reader (``native_task.PlinkFiles.variants``) and of the rerun fingerprint
    (``stages.plink_fileset_inputs``): each decided on its own, a ``file://`` prefix had the
    fingerprint take the .pvar.zst and the reader the .pvar (here, as
    ``bgen_sample_file_candidates``, because the shared layer may not import a stage package)."""
    plain = f"{prefix}.pvar"
    local = local_path(plain)
    if local is not None and not os.path.exists(local) and os.path.exists(f"{local}.zst"):
        return f"{plain}.zst"
    return plain


def observed(obs: Observation, spark: SparkSession, fallback: Callable[[], dict[str, Any]], *,
             wait_s: float = OBSERVED_METRICS_WAIT_S) -> dict[str, Any]:
    """The metrics of ``obs`` (metric name -> value), once the first action on its observed
    DataFrame has returned; ``fallback()`` (the same metrics computed another way, e.g. from
    the written files) when Spark delivers none (the node was optimised away) or none within
    ``wait_s`` seconds (see ``OBSERVED_METRICS_WAIT_S``). Exact when the observed node runs in
    the action's final (result) stage: Spark merges a result task's metrics once per
    partition, whereas a shuffle-map stage that is re-run (a lost executor) would add its rows
    again.
    """
    assert obs._jo is not None, "observed() needs an observed DataFrame"  # noqa: SLF001
    wait = java_class(spark, "scala.concurrent.duration.FiniteDuration")(
        int(wait_s * 1000), java_class(spark, "java.util.concurrent.TimeUnit").MILLISECONDS)
    try:
        java_class(spark, "scala.concurrent.Await").ready(obs._jo.future(), wait)  # noqa: SLF001
    except Exception as e:  # py4j wraps java.util.concurrent.TimeoutException
        if "TimeoutException" not in str(e):
            raise
        log.info("observed metrics not delivered within %.0f s; computed again from the written data", wait_s)
        return fallback()
    metrics = dict(obs.get)
    if not metrics:
        log.info("no observed metrics (the observed node was optimised away); computed again from the written data")
        return fallback()
    return metrics


def write_table(df: DataFrame, path: str) -> int:
    """Write a Spark DataFrame as Parquet (overwrite) and return its row count.

    The rows are counted while they are written (an ``Observation`` on top of the plan, so in
    the write job's result stage: exact, see ``observed``), not by a second job reading the
    files back; the read-back count is only the fallback of ``observed``.
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    obs = Observation()
    df.observe(obs, F.count(F.lit(1)).alias("n_rows")).write.mode("overwrite").parquet(path)
    spark = df.sparkSession
    return int(observed(obs, spark, lambda: {"n_rows": spark.read.parquet(path).count()})["n_rows"])


def write_pandas(spark: SparkSession, pdf: pd.DataFrame, path: str, struct: StructType) -> int:
    """Write a small pandas frame as one Parquet file in directory ``path`` (overwrite) and
    return its row count; local paths and Hadoop FS URIs (gs://) alike.

    The frame is encoded by pyarrow with ``struct``, the table's declared Spark schema
    (``pyspark.sql.pandas.types.to_arrow_schema``: Spark reads the file back with exactly
    these types; NaN and None become null) and written by ``write_arrow``. Spark's own route
    (``createDataFrame`` + write) starts a Python worker and a job for a table of a few hundred
    rows: 1.2-2 s per table, 7 tables in the models stage; this route takes milliseconds.

    Raises TrdSparkError naming the path when a column does not convert to its declared type.
    """
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    from trd_spark.errors import TrdSparkError

    try:
        table = pa.Table.from_pandas(pdf[struct.names], schema=to_arrow_schema(struct), preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as e:
        raise TrdSparkError(f"{path}: the frame does not convert to its declared schema: {e}") from None
    return write_arrow(spark, table, path, arrow_schema=True)


def write_arrow(spark: SparkSession, table: Any, path: str, *, arrow_schema: bool = False) -> int:
    """Write the pyarrow Table ``table`` (already in the table's declared types; a string column
    may be dictionary-encoded) as one Parquet file in directory ``path`` (overwrite) and return
    its row count, without a Spark job: ``part-00000-<uuid>-c000.snappy.parquet`` plus
    ``_SUCCESS``, the layout of a one-task Spark write. Spark reads the file with the types of
    the Parquet schema (string, int64 as long, double; every column nullable, as Spark's own
    files read). ``arrow_schema``: pyarrow's own copy of the Arrow schema is stored in the file
    too (what pandas readers restore types from; False for a dictionary-encoded column, which
    pandas would read back as categorical); never pandas' metadata. pyarrow's row groups (at
    most 1Mi rows each) let Spark split the file between tasks when it reads.

    A local path is written by pyarrow directly; a Hadoop FS URI (gs://, hdfs://) is written to
    a local temporary file first and copied by the Hadoop FileSystem (``copyFromLocalFile``: no
    bytes through py4j, however large the table). The person-level score table of a native
    pass (20k samples x 61 scores, 1.2M rows, 24 MB) takes ~0.4 CPU-s this way where Spark's
    write of the same rows from Arrow took ~20 JVM CPU-s (benchmarks/RESULTS.md, session 25)."""
    import tempfile
    import uuid

    import pyarrow as pa
    import pyarrow.parquet as pq

    fs = Fs(spark)
    fs.delete(path)
    name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    table = table.replace_schema_metadata(None)
    # Dictionary encoding for every column but the floating-point ones (the same values read
    # back; only the pages' encoding differs). A float column holds computed values (score sums
    # and averages, estimates), nearly all distinct: pyarrow's writer would hash each into a
    # dictionary that grows to its page limit (1 MiB) and then falls back to plain encoding,
    # ~30 MB of fresh allocator memory for a score table of 2,500 or 20,000 samples x 61 scores
    # (1.2-4.4 MB this way; the benchmark's scores file at 2,500 samples 18% smaller, the integer
    # columns still dictionary encoded). On the benchmark host those fresh pages cost the driver
    # 0.15-0.4 kernel CPU-s in the scores' write (huge pages zeroed in pyarrow's allocator arena,
    # perf), 0.04-0.09 this way: issue 16, benchmarks/RESULTS.md session 34 flatmt.
    options = {"compression": "snappy", "store_schema": arrow_schema,
               "use_dictionary": [f.name for f in table.schema if not pa.types.is_floating(f.type)]}
    if not is_uri(path):
        os.makedirs(path, exist_ok=True)
        pq.write_table(table, f"{path}/{name}", **options)
        Path(f"{path}/_SUCCESS").touch()
        return table.num_rows
    with tempfile.TemporaryDirectory(prefix="trd_spark_parquet_") as tmp:
        pq.write_table(table, f"{tmp}/{name}", **options)
        hfs, dst = fs._path(f"{path}/{name}")  # noqa: SLF001
        hfs.copyFromLocalFile(True, True, fs._path(f"{tmp}/{name}")[1], dst)  # noqa: SLF001
    fs.write_bytes(f"{path}/_SUCCESS", b"")
    return table.num_rows


def read_table(spark: SparkSession, path: str) -> DataFrame:
    """Read a published Parquet table (local path or Hadoop FS URI)."""
    return spark.read.parquet(path)


def csv_columns_named_twice(spark: SparkSession, path: str, options: dict[str, str],
                            wanted: list[str]) -> list[str]:
    """The ``wanted`` columns that the header line of the CSV file(s) at ``path`` names more than
    once (read with ``options``, the header as a row; names compared without case). Spark's CSV
    reader renames such columns ``<name><index>`` (both, or all), so a required one then reads as
    missing: the error names the repeat instead. For an error path only (one small Spark job)."""
    row = spark.read.options(**{**options, "header": "false"}).csv(path).first()
    names = [(v or "").strip().lower() for v in (row or [])]
    return [c for c in wanted if names.count(c.lower()) > 1]


def to_tsv(frame: pd.DataFrame) -> str:
    """A small table as tab-separated text with a header; NaN as empty, full float precision."""
    return frame.to_csv(sep="\t", index=False, na_rep="", lineterminator="\n")
