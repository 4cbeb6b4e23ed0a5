"""Review of session 32 (c53bc4c, 55a829a): ``contig_lengths.check_declared_build`` leaves to the
reader only the errors that say a file cannot be read (``is_unreadable``), not any ValueError or
any py4j error: those skipped the build check without a word, whatever the fault."""

from __future__ import annotations

import contextlib
import gzip

import pytest


def _lengths(hl):
    return lambda build: hl.get_reference(build).lengths


@contextlib.contextmanager
def _java_errors_as(handler):
    """Java exceptions raised as Hail's FatalError (``handler`` "hail": Hail's py4j handler, which
    hl.init installs), as PySpark's (``pyspark``: its handler converts some exceptions of no
    file, NumberFormatException among them, and raises the rest as py4j's) or as py4j's
    Py4JJavaError ("py4j": no handler), then the process's handler back. The handler is
    process-wide state (hl.init, PySpark's session and hl.stop each set or reset it), so which
    one a worker has depends on the tests before: set here."""
    import py4j.java_gateway
    import py4j.protocol
    from hail.backend.py4j_backend import handle_java_exception
    from pyspark.errors.exceptions.captured import capture_sql_exception

    before = py4j.java_gateway.get_return_value
    py4j.java_gateway.get_return_value = {"hail": handle_java_exception, "pyspark": capture_sql_exception,
                                          "py4j": lambda f: f}[handler](py4j.protocol.get_return_value)
    try:
        yield
    finally:
        py4j.java_gateway.get_return_value = before


def test_only_an_unreadable_files_errors_are_left_to_the_reader(hl, spark, tmp_path):
    """Real errors of files that cannot be read, through Hail's and Spark's file systems (Hail's
    FatalError, or py4j's Py4JJavaError with Hail's handler out or PySpark's in: both quote a Java IOException)
    and locally, are unreadable; a Java exception of no file (a NumberFormatException), a
    ValueError and py4j's own errors (a JVM gone) are not. (A bad glob is Hadoop's IOException
    "Illegal file pattern": left to the reader, which fails on it too.) 45356c7 took every ValueError and every Py4JError for an unreadable file (no
    is_unreadable there: this fails on its import; with 45356c7's tuple, the faults below
    read as unreadable)."""
    from py4j.protocol import Py4JError, Py4JNetworkError

    from trd_spark.io import Fs
    from trd_spark.pgs.contig_lengths import _open_text, hail_text, is_unreadable

    def raised(f, *args):
        try:
            with f(*args) as opened:
                opened.read()
        except Exception as e:  # noqa: BLE001 - what each raises is the subject
            return e
        raise AssertionError(f"{f}{args} raised nothing")

    def glob(pattern):
        Fs(spark).glob_files(pattern)
        raise AssertionError(f"{pattern} listed")

    def raised_by(f, *args):
        try:
            f(*args)
        except Exception as e:  # noqa: BLE001
            return e
        raise AssertionError(f"{f}{args} raised nothing")

    body = gzip.compress(b"##fileformat=VCFv4.2\n##contig=<ID=chr1,length=249250621>\n" * 3000)
    (tmp_path / "cut.vcf.gz").write_bytes(body[: len(body) // 2])
    (tmp_path / "bad.vcf.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"not deflate" * 50)
    uri = f"file://{tmp_path}"
    unreadable = {
        "missing locally": raised(_open_text, str(tmp_path / "absent.vcf")),
        "cut short locally": raised(_open_text, str(tmp_path / "cut.vcf.gz")),
    }
    faults = {
        "ValueError": ValueError("I/O operation on closed file."),
        "JVM gone": Py4JNetworkError("Answer from Java side is empty"),
        "py4j": Py4JError("An error occurred while calling None.None"),
    }
    for handler in ("hail", "pyspark", "py4j"):
        with _java_errors_as(handler):
            unreadable |= {
                f"missing through Hail, {handler}": raised(hail_text(hl), f"{uri}/absent.vcf"),
                f"cut short through Hail, {handler}": raised(hail_text(hl), f"{uri}/cut.vcf.gz"),
                f"damaged through Hail, {handler}": raised(hail_text(hl), f"{uri}/bad.vcf.gz"),
                f"no gs connector, {handler}": raised_by(glob, "gs://no-such-bucket/g.vcf.bgz"),
            }
            faults[f"no file's Java error, {handler}"] = raised_by(
                spark.sparkContext._jvm.java.lang.Integer.parseInt, "x")  # noqa: SLF001
    kinds = {type(e).__name__ for e in unreadable.values()}
    assert {"FatalError", "Py4JJavaError"} <= kinds, kinds
    assert {k for k, e in unreadable.items() if not is_unreadable(e)} == set(), unreadable
    assert {k for k, e in faults.items() if is_unreadable(e)} == set(), faults


def test_a_fault_that_is_no_unreadable_file_is_one_error_naming_the_file(hl, spark, tmp_path):
    """A ValueError while reading the header (a fault of the reading code, ``I/O operation on
    closed file``) and a Java exception of no file while listing (a NumberFormatException) were
    left to the reader as an unreadable file on 45356c7: the build check skipped without a word
    (this fails there: no error). Now one InputDataError naming the file (the dataset's path for
    the listing)."""
    from trd_spark.config import GenotypeSource
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.contig_lengths import check_declared_build, hail_text

    def closed(path):
        raise ValueError("I/O operation on closed file.")

    vcf = f"file://{tmp_path}/g.vcf"
    with pytest.raises(InputDataError, match=rf"^{vcf}: cannot read the header to check its build: ValueError: I/O "):
        check_declared_build(GenotypeSource(format="vcf", path=vcf), _lengths(hl), open_uri=closed,
                             glob_uri=lambda p: [p])
    def listing_fault(pattern):
        return spark.sparkContext._jvm.java.lang.Integer.parseInt(pattern)  # noqa: SLF001

    gs = "gs://b/g.vcf.bgz"
    for handler in ("hail", "pyspark", "py4j"):
        with _java_errors_as(handler), pytest.raises(
                InputDataError, match=r"^gs://b/g\.vcf\.bgz: cannot list the files to check the build of: "):
            check_declared_build(GenotypeSource(format="vcf", path=gs), _lengths(hl), open_uri=hail_text(hl),
                                 glob_uri=listing_fault)
