"""The genome build a genotype file's own header gives, checked against the dataset's declared one.

A VCF (and the .pvar plink2 writes from it) lists its contigs in its header with their
lengths, ``##contig=<ID=chr1,length=248956422>`` (VCF 4.3 section 1.4.7), which tell the
builds apart: chr1 is 249,250,621 bases on GRCh37 and 248,956,422 on GRCh38. Nothing else in
such a file says its build, and its records read on either: a GRCh37 file declared GRCh38
(``datasets[].genotypes.reference_genome``, default GRCh38) is matched on the wrong
coordinates, so almost no score variant is found and the stage stops at ``pgs.min_overlap``
with a match rate that names no cause, or, with a low ``min_overlap``, scores every person on
the few variants that happen to match. pgsc_calc does not look either (it trusts
``--target_build``); bcftools and GATK compare these lengths with the reference they are given
and refuse a mismatch (GATK: "incompatible contigs"). Here the header's lengths of the primary
contigs (1-22, X, Y) are compared with Hail's GRCh37 and GRCh38 references: a length that is
the other build's is one InputDataError naming the file, line and both builds; a length that
is neither's (another assembly, a hand-edited header) is a WARNING naming them, since the
records may still be on the declared build.

When no ``##contig`` line gives a primary contig's length (imputation servers write
``##contig=<ID=1>``), a ``##reference`` naming another build's FASTA is a WARNING (a name is a
hint, not proof). VCFs on a URI (the All of Us buckets) are read through Hail's file system,
the header only. MatrixTables and VDSs carry their build in their locus type (checked where
they are read); a .bim and a BGEN have no header: their positions are checked against the
declared reference's lengths when indexed (``pgen_engine.check_variant_loci``), and the score
sites the scoring files place on both builds tell their build (``build_positions``; a VCF's too,
whose header may give no length). A .pvar.zst (plink2 ``--make-pgen vzs``) is read as a .pvar.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import takewhile
from typing import IO, Any

from trd_spark.config import GenotypeSource, is_uri
from trd_spark.errors import InputDataError
from trd_spark.pgs.variant_list import open_variant_text, variant_text_errors

log = logging.getLogger(__name__)

# ``##contig=<ID=chr1,length=248956422,...>``: the ID and length fields, in any order.
_CONTIG_LINE = re.compile(r"^##contig=<(.*)>\s*$")
_FIELD = re.compile(r'(\w+)=("[^"]*"|[^,]*)')
# Contigs whose lengths tell GRCh37 from GRCh38 (the mitochondrion is left out: hg19's chrM is
# another sequence than GRCh37's MT, so its length says nothing about the nuclear build).
_PRIMARY = tuple([*(str(i) for i in range(1, 23)), "X", "Y"])
# Build names in a ``##reference`` value (a FASTA path, or the build itself): GRCh37/GRCh38,
# UCSC's hg19/hg38, the 1000 Genomes' hs37d5 / human_g1k_v37 and hs38DH, the Broad's
# Homo_sapiens_assembly19/38 and b37/b38; a letter or digit must not continue the number.
_REFERENCE_NAME = re.compile(r"(?i)(grch|hg|hs|assembly|b|_v)(37|38|19)(?![0-9])")
_REFERENCE_BUILDS = {"37": "GRCh37", "19": "GRCh37", "38": "GRCh38"}


def header_contigs(lines: Iterator[str]) -> Iterator[tuple[str, int, int]]:
    """(contig ID, length, 1-based line number) of each ``##contig`` header line with a
    decimal ``length`` among ``lines`` (a VCF's or .pvar's text, read up to the first line
    that does not start with ``#``)."""
    for line_no, line in enumerate(lines, 1):
        if not line.startswith("#"):
            return
        m = _CONTIG_LINE.match(line)
        if m is None:
            continue
        fields = {k.lower(): v.strip('"') for k, v in _FIELD.findall(m.group(1))}
        if "id" in fields and fields.get("length", "").isdecimal():
            yield fields["id"], int(fields["length"]), line_no


def _primary(contig: str) -> str | None:
    """``chr1`` / ``1`` / ``chrX`` -> ``1`` / ``X``; None for any other contig."""
    name = contig[3:] if contig.lower().startswith("chr") else contig
    name = name.upper() if name.lower() in ("x", "y") else name
    return name if name in _PRIMARY else None


def reference_build(value: str) -> str | None:
    """The build a ``##reference`` header value names (a FASTA path or a build name:
    ``GRCh37``, ``hg19``, ``hs37d5.fa``, ``human_g1k_v37.fasta``, GATK's
    ``Homo_sapiens_assembly19.fasta``; ``GRCh38``, ``hg38``, ``hs38DH.fa``,
    ``Homo_sapiens_assembly38.fasta``), or None when it names neither or both."""
    found = {_REFERENCE_BUILDS[m.group(2)] for m in _REFERENCE_NAME.finditer(value)}
    return found.pop() if len(found) == 1 else None


def check_header_build(lines: Iterable[str], path: str, declared: str,
                       lengths: Mapping[str, Mapping[str, int]]) -> None:
    """Check the ``##contig`` lengths of one header (``lines``, the text of ``path``; read up to
    its first record) against the ``declared`` build. ``lengths``: build -> primary contig
    (``1``..``22``, ``X``, ``Y``) -> its length (``primary_lengths``). Raises InputDataError at
    ``path:line`` for the first contig whose length is another build's of ``lengths``; logs one
    WARNING for the first whose length is no build's. Contigs without a length, or not
    primary, are not looked at. A header that gives no primary contig's length but whose
    ``##reference`` names another build (``reference_build``: a file name, so a hint, not
    proof) gets one WARNING naming that line."""
    header = list(takewhile(lambda line: line.startswith("#"), lines))
    own = lengths[declared]
    compared = False
    for contig, length, line_no in header_contigs(iter(header)):
        name = _primary(contig)
        if name is None or name not in own:
            continue
        compared = True
        if length == own[name]:
            continue
        other = [b for b, table in lengths.items() if b != declared and table.get(name) == length]
        if other:
            raise InputDataError(
                f"##contig {contig} has length {length}, its length on {other[0]} ({declared}: {own[name]}): the "
                f"genotypes are on {other[0]} but datasets[].genotypes.reference_genome is {declared}, so every "
                f"position would be read on the wrong build; set reference_genome: {other[0]} (and use the scoring "
                f"files harmonised to it), or give {declared} genotypes", where=f"{path}:{line_no}")
        # %s, not %d: the run's log filter writes %d arguments as counts (1,780), and a line number
        # or a contig length is no count (the error above writes them plain too).
        log.warning("%s:%s: ##contig %s has length %s, not its %s length %s (nor another build's): the file's "
                    "header says another assembly than datasets[].genotypes.reference_genome %s; check its build",
                    path, line_no, contig, length, declared, own[name], declared)
        return
    if compared:
        return
    for line_no, line in enumerate(header, 1):
        if line.startswith("##reference="):
            build = reference_build(line[len("##reference="):].strip())
            if build is not None and build != declared and build in lengths:
                log.warning("%s:%s: ##reference names a %s reference but datasets[].genotypes.reference_genome is "
                            "%s (and no ##contig line gives a length to tell): if the genotypes are on %s, set "
                            "reference_genome: %s", path, line_no, build, declared, build, build)
            return


def builds_holding(contig: str, position: int, lengths: Mapping[str, Mapping[str, int]]) -> list[str]:
    """The builds of ``lengths`` (``primary_lengths``: build -> primary contig -> length) whose
    primary contig ``contig`` (``chr1``, ``1``, ``chrX``) holds ``position`` (1..its length); []
    for a contig that is not primary."""
    name = _primary(contig)
    if name is None:
        return []
    return [b for b, table in lengths.items() if name in table and 1 <= position <= table[name]]


def primary_lengths(reference_lengths: Callable[[str], Mapping[str, int]],
                    builds: tuple[str, ...] = ("GRCh37", "GRCh38")) -> dict[str, dict[str, int]]:
    """build -> primary contig (``1``..``22``, ``X``, ``Y``) -> length, from
    ``reference_lengths(build)`` (contig name -> length, e.g. Hail's
    ``hl.get_reference(build).lengths``; ``chr``-prefixed names or not)."""
    out: dict[str, dict[str, int]] = {}
    for build in builds:
        out[build] = {name: n for contig, n in reference_lengths(build).items()
                      if (name := _primary(contig)) is not None}
    return out


def header_files(source: GenotypeSource, glob_uri: Callable[[str], list[str]] | None = None) -> list[str]:
    """The files whose header gives ``source``'s contigs: the first VCF of its glob (one
    dataset's files share a build; on a URI, the first of ``glob_uri``'s matches, e.g.
    ``io.Fs.glob_files``; none without it) or a pgen fileset's .pvar (its .pvar.zst when only that
    is there, ``native_task.PlinkFiles.variants``); [] for other formats."""
    if source.format == "vcf":
        if is_uri(source.path):
            return glob_uri(source.path)[:1] if glob_uri is not None else []
        return sorted(glob.glob(source.path))[:1]
    if source.format == "pgen" and not is_uri(source.path):
        from trd_spark.pgs.native_task import PlinkFiles

        return [PlinkFiles.of(source).variants]
    return []


def _open_text(path: str) -> IO[str]:
    """``path`` as text, gzip/BGZF or zstd (a .pvar.zst) decompressed (``open_variant_text``)."""
    return open_variant_text(path, errors="replace")


def hail_text(hl: Any) -> Callable[[str], IO[str]]:
    """A function opening a file on a URI (``gs://``, ``hdfs://``, ``file://``) as text through
    Hail's Hadoop file system (``hl.hadoop_open``: streamed, a ``.gz``/``.bgz`` decompressed by
    its name), for ``check_declared_build``'s ``open_uri``; ``hl``: the initialised hail module."""
    def open_uri(path: str) -> IO[str]:
        with warnings.catch_warnings():  # deprecated in Hail 0.2.139; its successor does not decompress
            warnings.simplefilter("ignore", DeprecationWarning)
            return hl.hadoop_open(path, "r")
    return open_uri


def check_declared_build(source: GenotypeSource, reference_lengths: Callable[[str], Mapping[str, int]], *,
                         open_uri: Callable[[str], IO[str]] | None = None,
                         glob_uri: Callable[[str], list[str]] | None = None) -> None:
    """``check_header_build`` on the header of each of ``header_files(source, glob_uri)`` (a VCF
    or .pvar), with ``reference_lengths`` as ``primary_lengths`` takes it; a file on a URI is
    read through ``open_uri`` (``hail_text``; without it, not read). Only the header is read
    (to the first record). A file that cannot be opened or read is left to the reader, which
    names it, also a URI that cannot be listed (``is_unreadable``). Any other exception while
    listing, opening or reading is one InputDataError naming the file (the dataset's path for
    the listing): it was taken for an unreadable file and the check skipped without a word."""
    try:
        files = header_files(source, glob_uri if open_uri is not None else None)
    except Exception as e:
        if is_unreadable(e):  # a URI not listable (no connector, no access): the reader names it
            return
        raise InputDataError(f"cannot list the files to check the build of: {_first_line(e)}",
                             where=source.path) from e
    if not files:
        return
    lengths = primary_lengths(reference_lengths)
    for path in files:
        try:
            with open_uri(path) if is_uri(path) and open_uri is not None else _open_text(path) as f:
                header = list(takewhile(lambda line: line.startswith("#"), f))
        except Exception as e:
            if is_unreadable(e):  # not there, cut short, damaged: the reader names it
                continue
            raise InputDataError(f"cannot read the header to check its build: {_first_line(e)}", where=path) from e
        check_header_build(header, path, source.reference_genome, lengths)


def _local_unreadable() -> tuple[type[Exception], ...]:
    """A local file's errors that say it cannot be read: OSError (not there, no access),
    EOFError, zlib.error, ZstdError (a gzip or zstd stream cut short or damaged;
    ``variant_list.variant_text_errors``), UnicodeDecodeError (undecodable text through Hail's
    file system, which decodes strictly). Not ValueError, which variant_text_errors has for
    undecodable text: a local header is decoded with errors="replace", so any other ValueError
    is a fault."""
    return (*(t for t in variant_text_errors() if t is not ValueError), UnicodeDecodeError)


def _java_errors() -> tuple[type[Exception], ...]:
    """What a Java exception raises in Python when a URI is read through Spark's or Hail's file
    system: py4j's Py4JJavaError, and Hail's FatalError (what Hail makes of one while its py4j
    handler is installed; only when Hail is loaded: without it, it cannot be raised, and
    importing Hail for it costs seconds). Not py4j's other errors (a JVM gone, a broken
    connection: no file's fault)."""
    from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]

    hail_java = sys.modules.get("hail.utils.java")
    return (Py4JJavaError, *((hail_java.FatalError,) if hail_java is not None else ()))


# A Java exception's class at the head of a line of its stack trace as py4j's and Hail's messages
# quote it: ``: java.io.FileNotFoundException: ...`` (py4j), ``java.io.EOFException`` alone, or
# ``Caused by: org.apache.hadoop.fs.UnsupportedFileSystemException: ...`` (a cause).
_JAVA_EXCEPTION_LINE = re.compile(r"^(?:: |Caused by: )?([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+)(?::|$)", re.MULTILINE)


def is_unreadable(e: BaseException) -> bool:
    """Whether ``e``, raised listing, opening or reading a file, says the file cannot be read
    (not there, no access, no file system for its scheme, a compressed stream cut short or
    damaged), which ``check_declared_build`` leaves to the reader. A local file's errors
    (``_local_unreadable``'s Python types); a Java exception (py4j's Py4JJavaError, or Hail's
    FatalError made of one, whose message quotes the Java stack trace) when it or one of its
    causes is a ``java.io.IOException`` (Java's type for these: FileNotFoundException,
    EOFException, java.nio.file.AccessDeniedException, Hadoop's UnsupportedFileSystemException,
    the GCS connector's GoogleJsonResponseException), asked of the running JVM by class name.
    (PySpark's handler, when it is the one installed, raises some Java exceptions of no file as
    its own types, NumberFormatException among them, and the rest, IOExceptions included, as
    Py4JJavaError.) Anything else is a fault (a HailException, a NumberFormatException, a JVM
    gone): False, also when the JVM cannot be asked. (A bad glob is Hadoop's IOException "Illegal
    file pattern": the reader fails on it too.)"""
    if isinstance(e, _local_unreadable()):
        return True
    if not isinstance(e, _java_errors()):
        return False
    try:
        names = set(_JAVA_EXCEPTION_LINE.findall(str(e)))  # py4j's str() asks the JVM for the trace
        context = sys.modules.get("pyspark.context")
        jvm = context.SparkContext._jvm if context is not None else None  # noqa: SLF001
        if jvm is None or not names:
            return False
        io_exception = jvm.java.lang.Class.forName("java.io.IOException")
        for name in names:
            with contextlib.suppress(Exception):  # not a class (a message's dotted word), or not loadable
                if io_exception.isAssignableFrom(jvm.java.lang.Class.forName(name)):
                    return True
    except Exception:  # noqa: BLE001 - the JVM cannot be asked: a fault to report, not a file to skip
        return False
    return False


def _first_line(e: BaseException) -> str:
    """``e`` for an error line: its type and its message's first line (Hail's run to a stack trace)."""
    return f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"
