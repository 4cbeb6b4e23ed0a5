"""Toy data: synthetic genomes, PGS Catalog scoring files and OMOP tables with planted effects."""
