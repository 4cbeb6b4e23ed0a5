"""PGS stage: scoring files, matching against genotypes in Hail, one-pass scoring."""
