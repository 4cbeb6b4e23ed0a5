"""Compressed user text files (scoring files, sample maps, sex files) recognised by their first
bytes, whatever they are called.

PGS Catalog users recompress the Catalog's ``.txt.gz`` (``.txt.zst``, ``.txt.bz2``, ``.txt.xz``)
or zip it; such a file failed with "not UTF-8 text", which named the file but not the cause.
gzip, zstd, bzip2 and xz are read (the standard library's ``gzip`` / ``bz2`` / ``lzma``; zstd
through Python 3.14's ``compression.zstd``, else its backport ``backports.zstd``, already a
declared dependency for ``.pvar.zst``: no new library); a zip archive (it may hold several
files) is one error naming the file and the command to extract it. Read by the pgs, cohort and
phenotypes stages, so it is a shared module (tests/test_import_dag.py: stages import only earlier ones).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from typing import IO, Any

from trd_spark.errors import InputDataError

# Magic numbers: gzip RFC 1952 2.3.1; zstd RFC 8878 3.1.1; bzip2 'BZh' + block size '1'-'9';
# xz file format 1.0.4 2.1.1.1; zip APPNOTE 4.3.7 (local file header; an empty archive is PK\5\6).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
)
# The command that turns each kind into plain text (``F``: the file), for the error lines.
_CONVERT = {"gzip": "gunzip F", "zstd": "zstd -d F", "bzip2": "bunzip2 F", "xz": "xz -d F", "zip": "unzip F"}
HEAD_BYTES = 6  # enough for every magic number above


def compression_of(head: bytes) -> str | None:
    """``gzip``, ``zstd``, ``bzip2``, ``xz`` or ``zip`` from a file's first bytes (at least
    ``HEAD_BYTES`` of them when the file has them), None for anything else (plain text). A
    bzip2 magic needs its block-size digit: a text file starting ``BZh`` is text."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            if kind == "bzip2" and not (len(head) > 3 and 0x31 <= head[3] <= 0x39):
                continue
            return kind
    return None


def convert_hint(kind: str, path: str) -> str:
    """The shell command that turns ``path`` (compressed as ``kind``) into plain text."""
    return _CONVERT[kind].replace("F", path.rsplit("/", 1)[-1])


def _zstd() -> Any:
    try:  # Python 3.14's module, else its backport (as variant_list.open_variant_text)
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        from backports import zstd
    return zstd


def decompress(raw: bytes, path: str, what: str = "file") -> bytes:
    """``raw`` (a whole file's bytes) decompressed by its first bytes (``compression_of``;
    several concatenated streams read as one, as ``zcat`` / ``bzcat`` / ``xzcat`` do), or as it
    is when plain. Raises InputDataError naming ``path``: a zip archive (with ``unzip``), and
    a compressed stream that is cut short or damaged (its format and the decompressor's word)."""
    kind = compression_of(raw[:HEAD_BYTES])
    if kind is None:
        return raw
    if kind == "zip":
        raise InputDataError(f"{what} is a zip archive, not text: extract it (`{convert_hint(kind, path)}`) "
                             "and name the extracted file", where=path)
    try:
        if kind == "gzip":
            return gzip.decompress(raw)
        if kind == "bzip2":
            return bz2.decompress(raw)
        if kind == "xz":
            return lzma.decompress(raw)
        return _zstd().decompress(raw)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, _zstd().ZstdError) as e:
        raise InputDataError(f"corrupt or truncated {kind} data: {e}", where=path) from None


def decode_text(raw: bytes, path: str, what: str = "file") -> str:
    """``raw`` decompressed (``decompress``) and decoded as UTF-8. A file that is still not
    UTF-8 is one error naming ``path`` and the byte; InputDataError as ``decompress``."""
    data = decompress(raw, path, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputDataError(f"{what} is not UTF-8 text: {e}", where=path) from None


def stream_errors() -> tuple[type[Exception], ...]:
    """What reading an ``open_text`` stream of xz or zstd data that is damaged raises besides
    OSError / EOFError (gzip's, bzip2's and a cut-short stream's) and zlib.error (gzip's deflate
    data): lzma.LZMAError and the zstd module's ZstdError, neither an OSError."""
    return (lzma.LZMAError, _zstd().ZstdError)


def open_text(path: str, encoding: str = "utf-8", errors: str = "strict") -> IO[str]:
    """A local file opened as text, decompressed as it is read when its first bytes say gzip,
    zstd, bzip2 or xz (``compression_of``). Raises InputDataError for a zip archive (as
    ``decompress``), OSError when it cannot be opened."""
    with open(path, "rb") as f:
        kind = compression_of(f.read(HEAD_BYTES))
    if kind == "zip":
        raise InputDataError(f"a zip archive, not text: extract it (`{convert_hint(kind, path)}`) "
                             "and name the extracted file", where=path)
    if kind is None:
        return open(path, encoding=encoding, errors=errors)
    opener: Any = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}.get(kind) or _zstd().open
    return opener(path, "rt", encoding=encoding, errors=errors)


# What Spark's CSV reader decompresses, chosen by the file name's suffix (Hadoop's
# CompressionCodecFactory: GzipCodec ``.gz``, BZip2Codec ``.bz2``, both pure Java; ZStandardCodec
# ``.zst`` only where Hadoop's native library has zstd: a cluster's, not a pip-installed
# pyspark's, where it fails "native zStandard library not available"). Any other compressed file
# is read as if it were text: its binary header became the column names ("missing column(s)").
_SPARK_SUFFIX = {"gzip": ".gz", "bzip2": ".bz2", "zstd": ".zst"}


def check_spark_text(path: str, what: str) -> None:
    """Refuse a local tab-separated file that Spark's CSV reader would read as garbage: one
    compressed (``compression_of``) under a name whose suffix does not make Spark decompress
    it (``_SPARK_SUFFIX``: gzip as ``.gz``, bzip2 as ``.bz2``, zstd as ``.zst``), or xz / zip,
    which it does not decompress at all. Raises InputDataError naming ``what`` and ``path``, the
    format found and the command giving plain text. A URI, a folder, a glob or a file that
    cannot be opened is left to Spark (its own error; ``spark_read_hint`` for a ``.zst`` Spark
    cannot read here)."""
    try:
        with open(path, "rb") as f:
            kind = compression_of(f.read(HEAD_BYTES))
    except OSError:
        return
    if kind is None or path.endswith(_SPARK_SUFFIX.get(kind, "\0")):
        return
    why = f"not named {_SPARK_SUFFIX[kind]}" if kind in _SPARK_SUFFIX else "which Spark does not read"
    found = "a zip archive" if kind == "zip" else f"{kind}-compressed"
    raise InputDataError(f"{what} is {found}, {why}: decompress it (`{convert_hint(kind, path)}`) "
                         "and name the plain file", where=path)


def spark_read_hint(path: str, error: str) -> str:
    """What to add to Spark's error ``error`` on reading the local file ``path``: the command
    giving plain text when it is zstd that this Spark cannot decompress (no native zstd in
    Hadoop's library: a pip-installed pyspark), else nothing."""
    if "zStandard" not in error:
        return ""
    try:
        with open(path, "rb") as f:
            kind = compression_of(f.read(HEAD_BYTES))
    except OSError:
        return ""
    return f" (zstd, which this Spark cannot decompress: `{convert_hint('zstd', path)}`)" if kind == "zstd" else ""
