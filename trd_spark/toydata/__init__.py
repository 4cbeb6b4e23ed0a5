"""Toy data: synthetic genomes, PGS Catalog scoring files and OMOP tables with planted effects.

Entry point: ``generate_toy_data(out_dir, persons=3000, variants=2000, seed=42) -> dict``.
The parts can be run on their own for scale tests: ``omop.draw_persons`` +
``omop.generate_omop`` (EHR only, any PGS matrix) and ``generate_genotypes``.
Synthetic OMOP concept IDs live in the reserved range >= 2_000_000_000 (see vocabulary.py).
"""

from trd_spark.toydata.generate import generate_genotypes, generate_toy_data

__all__ = ["generate_genotypes", "generate_toy_data"]
