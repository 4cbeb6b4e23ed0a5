"""Toy data: synthetic genomes, PGS Catalog scoring files and OMOP tables with planted effects.

Entry point: ``generate_toy_data(out_dir, persons=3000, variants=2000, seed=42) -> dict``.
The parts can be run on their own for scale tests: ``omop.draw_persons`` +
``omop.generate_omop`` (EHR only, any PGS matrix) and ``generate_genotypes``.
Synthetic OMOP concept IDs live in the reserved range >= 2_000_000_000 (see vocabulary.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trd_spark.toydata.generate import generate_genotypes, generate_toy_data

__all__ = ["generate_genotypes", "generate_toy_data"]


def __getattr__(name: str) -> Any:
    """``generate_toy_data`` and ``generate_genotypes``, imported from ``generate`` when first
    asked for: importing the package (``limits``, whose bounds ``trd-spark toy-data`` checks its
    options by) does not import the generator's numpy, pandas and pyarrow (PEP 562)."""
    if name in __all__:
        from trd_spark.toydata import generate

        return getattr(generate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
