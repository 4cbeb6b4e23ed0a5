"""Export tables built from the audit's labels (trd_spark.report.tables), pure pandas: no Spark."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from trd_spark.report.tables import HIDDEN_ESTIMATES_NOTE, ReleaseCounts, hide_estimates_of_hidden_counts


def test_a_replication_row_is_blank_only_for_its_own_or_discoverys_hidden_fit():
    """The toy and AoU designs have two replication datasets. A replication row shows its own
    dataset's fit and the discovery beta, nothing of the other replication dataset: a hidden
    fit of replication_array (its TRD 8) blanks replication_array's row only, and
    replication_wgs's row of the same definition, contrast and PGS keeps its estimates
    (session 15's tables.py blanked both). Without a discovery dataset (no role in the config)
    every dataset's hidden fit still blanks the row: the fit the row was selected on is unknown."""
    keys = [(ds, "A", "trd_vs_nonmdd", "P1") for ds in ("discovery", "replication_wgs", "replication_array")]
    logistic = pd.DataFrame(keys, columns=["dataset", "definition", "contrast", "pgs_id"]).assign(
        n=[900, 400, 120], n_cases=[150, 60, 8], beta=0.3, se=0.1)
    safe = {"logistic": logistic.astype({"n_cases": object}).assign(n_cases=[150, 60, "<20"])}
    replication = pd.DataFrame({"dataset": ["replication_array", "replication_wgs"], "definition": "A",
                                "contrast": "trd_vs_nonmdd", "pgs_id": "P1", "beta_discovery": 0.3,
                                "p_adjusted_discovery": 1e-4, "beta": [0.5, 0.2], "se": [0.3, 0.1],
                                "p": [0.1, 0.04], "replicated": [False, True], "note": ""})
    rc = ReleaseCounts(cohort_flow=pd.DataFrame(), cohort_counts=None, logistic=logistic, cox=None,
                       pgs_distribution=None, primary_definition="A", replication=replication,
                       discovery_dataset="discovery")
    out = hide_estimates_of_hidden_counts(safe, rc)["replication"].set_index("dataset")
    assert out.loc["replication_wgs", "beta"] == 0.2 and out.loc["replication_wgs", "note"] == ""
    assert bool(out.loc["replication_wgs", "replicated"])
    assert np.isnan(out.loc["replication_array", "beta"]) and np.isnan(out.loc["replication_array", "se"])
    assert out.loc["replication_array", "note"] == HIDDEN_ESTIMATES_NOTE
    unknown = hide_estimates_of_hidden_counts(safe, replace(rc, discovery_dataset=None))["replication"]
    assert unknown["note"].tolist() == [HIDDEN_ESTIMATES_NOTE] * 2 and unknown["beta"].isna().all()
