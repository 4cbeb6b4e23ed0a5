"""The native engine's variant list of one genotype file (.bim / .pvar / BGEN), as a typed carrier.

What the readers (``pgen_engine.variant_index``, ``bgen_reader.variant_index``) know besides the
rows travels beside the frame, not in ``DataFrame.attrs``: pandas documents ``attrs`` as
experimental and drops them in some operations (``merge``, a frame built anew), where a
default read would name the wrong line or the wrong allele of a multi-allelic row, silently.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import IO

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class VariantIndex:
    """``frame``: one row per ``[ref, alt]`` of the file (``contig``, ``position``, ``ref``,
    ``alt``, ``rsid``, ``variant_idx``: 0-based variant of the file, ``allele_idx``: 1-based alt
    index in it; a BGEN's also ``offset``, ``size``: its variant block's byte range).
    ``allele_idx_offsets``: pgenlib's cumulative allele counts per variant (uintp), None when
    every variant is biallelic. ``first_line``: the file line of variant 0; ``variant_numbers``:
    errors name variant numbers (``path variant N``, a BGEN), not lines (``path:N``).
    ``multiallelic_loci`` (``chr4:1000000``) / ``n_multiallelic``: variants with more than two
    alleles the reader left out (a BGEN's: Hail and plink2 read none; empty for .bim/.pvar,
    whose multi-allelic rows are split per alt)."""

    frame: pd.DataFrame
    allele_idx_offsets: np.ndarray | None
    first_line: int
    variant_numbers: bool
    multiallelic_loci: tuple[str, ...]
    n_multiallelic: int

    def where(self, path: str, variant_idx: int) -> str:
        """Where an error about variant ``variant_idx`` (0-based) of ``path`` points."""
        n = variant_idx + self.first_line
        return f"{path} variant {n}" if self.variant_numbers else f"{path}:{n}"


# A zstd frame's first four bytes (RFC 8878 3.1.1): plink2 --make-pgen vzs writes the .pvar so.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def is_compressed(path: str) -> bool:
    """Whether ``open_variant_text`` decompresses ``path`` (zstd or gzip by its first bytes)."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head == ZSTD_MAGIC or head[:2] == b"\x1f\x8b"


def variant_text_errors() -> tuple[type[Exception], ...]:
    """What reading an ``open_variant_text`` file can raise besides a parse error: OSError (not
    found, a bad gzip header), EOFError (a gzip or zstd stream cut short), zlib.error and the zstd
    module's ZstdError (a damaged stream), ValueError (undecodable text). A reader catches these
    to name the file in one error line (a cut-short .pvar.zst ended in an EOFError traceback)."""
    import zlib

    try:  # Python 3.14's module, else its backport (as open_variant_text)
        from compression.zstd import ZstdError  # type: ignore[import-not-found]
    except ImportError:
        from backports.zstd import ZstdError
    return (OSError, EOFError, zlib.error, ZstdError, ValueError)


def open_variant_text(path: str, errors: str = "strict") -> IO[str]:
    """A local variant list (.bim, .pvar, a VCF) opened as text, decompressed as it is read when
    its first bytes say zstd (a ``.pvar.zst``, plink2 ``--make-pgen vzs``; plink2 reads it with
    ``--pfile <prefix> vzs``) or gzip/BGZF, else as it is. Python's zstd module (3.14, else its
    backport ``backports.zstd``, a declared dependency: pandas' own zstd reading needs
    ``zstandard``, which we do not install). ``errors``: as ``open``'s. Raises OSError for a file that cannot be opened;
    a zstd stream cut short raises on reading (``backports.zstd.ZstdError`` / EOFError)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == ZSTD_MAGIC:
        try:  # Python 3.14's module, else its backport (as bgen_reader's zstd blocks)
            from compression import zstd  # type: ignore[import-not-found]
        except ImportError:
            from backports import zstd
        return zstd.open(path, "rt", errors=errors)
    if head[:2] == b"\x1f\x8b":
        return gzip.open(path, "rt", errors=errors)
    return open(path, errors=errors)
