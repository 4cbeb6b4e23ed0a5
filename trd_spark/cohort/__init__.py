"""Cohort stage: PGS per SD + covariates + outcomes, one analysis frame per dataset."""
