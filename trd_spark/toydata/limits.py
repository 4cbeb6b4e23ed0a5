"""The size options of the toy data generator and their allowed ranges.

A module of its own, with no import of the generator (numpy, pandas, pyarrow): ``trd-spark
toy-data`` checks its options against these while it parses them (``cli._toy_size``), so a bad
value is one argparse error at once, not one after the generator's imports (~50 s on a loaded
machine, session 52). ``generate.generate_toy_data`` holds its callers to the same bounds.
"""

from __future__ import annotations

# Fewest persons and variant sites that still give every toy status, dataset and score
# (``generate.generate_toy_data``).
MIN_PERSONS, MIN_VARIANTS = 50, 200
# Most persons and variant sites: a typo guard (a count with three zeros too many writes VCFs of
# persons x sites genotypes for hours, then fills the disk), ten times All of Us' ~10^6 persons and
# far above any benchmark's toy set (300,000 persons, 10,000 sites).
MAX_PERSONS, MAX_VARIANTS = 10_000_000, 10_000_000
# The seed's range: the draws hash it as an unsigned 64-bit integer (``draws.uniforms``) and
# numpy's generators take no negative seed.
MIN_SEED, MAX_SEED = 0, 2**64 - 1
