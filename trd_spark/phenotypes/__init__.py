"""Phenotype stage: OMOP CDM -> MDD, antidepressant trials, TRD definitions, follow-up."""
