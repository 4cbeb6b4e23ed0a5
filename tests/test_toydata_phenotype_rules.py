"""The default phenotype rules, applied by hand (pandas) to the toy OMOP tables, give back the
status drawn for every person.

The rules (from the toy-data brief): MDD = >= 2 MDD-set diagnoses on distinct dates, index =
first; excluded for any bipolar / schizophrenia-spectrum diagnosis or index age < 18. Exposure
end = end_date if > start, else start + days_supply - 1, else start + 29. Same-ingredient
exposures merge when the gap is <= 30 days; an adequate trial is an episode >= 42 days starting
on/after the index. ad3 TRD onset = start of the 3rd distinct ingredient's adequate trial.
trMDD = MDD, >= 1 adequate trial, not TRD, >= 180 days follow-up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from trd_spark.toydata import generate_toy_data

MDD_INCLUDE, MDD_EXCLUDE = [440383, 4152280, 42872722], [436665, 433440, 4224940]
BIPOLAR_SCZ = [436665, 4333677, 437249, 435783, 4286201, 436073]
DEPRESSION_SPECTRUM = [440383, 433440]
ANTIDEPRESSANTS = [739138, 755695, 797617, 715939, 722031, 751412, 743670, 717607, 715259, 43560354, 750982,
                   725131, 703547, 714684, 40234834, 44507700, 710062, 721724, 778268, 716968, 798834, 738156,
                   754270, 705755, 733896, 703470, 781705, 766209]
AUGMENTATION = [751246, 757688, 46275300, 766814, 785788, 735979, 35603277]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy_rules")
    truth = generate_toy_data(str(out), persons=600, variants=300, seed=23)
    t = {n: pq.read_table(out / "omop" / f"{n}.parquet").to_pandas()
         for n in ("person", "observation_period", "condition_occurrence", "drug_exposure",
                   "procedure_occurrence", "concept_ancestor")}
    persons = pq.read_table(out / "truth_persons.parquet").to_pandas()
    return truth, t, persons


def _descendants(anc: pd.DataFrame, ids: list[int]) -> set[int]:
    return set(anc.loc[anc["ancestor_concept_id"].isin(ids), "descendant_concept_id"])


def _adequate_trials(t: dict, index: pd.Series) -> pd.DataFrame:
    anc = t["concept_ancestor"]
    to_ing = anc[anc["ancestor_concept_id"].isin(ANTIDEPRESSANTS)][["ancestor_concept_id", "descendant_concept_id"]]
    d = t["drug_exposure"].merge(to_ing, left_on="drug_concept_id", right_on="descendant_concept_id")
    d = d.rename(columns={"ancestor_concept_id": "ingredient"})
    start = pd.to_datetime(d["drug_exposure_start_date"])
    end = pd.to_datetime(d["drug_exposure_end_date"])
    supply = d["days_supply"].fillna(30).astype(int)
    d["start"] = start
    d["end"] = end.where(end > start, start + pd.to_timedelta(supply - 1, unit="D"))
    d = d.sort_values(["person_id", "ingredient", "start"])
    prev_end = d.groupby(["person_id", "ingredient"])["end"].transform(lambda s: s.cummax().shift())
    d["episode"] = ((d["start"] - prev_end).dt.days.gt(30) | prev_end.isna()).cumsum()
    ep = d.groupby(["person_id", "ingredient", "episode"]).agg(start=("start", "min"), end=("end", "max")).reset_index()
    ep = ep[(ep["end"] - ep["start"]).dt.days + 1 >= 42]
    ep = ep.merge(index.rename("index").reset_index(), on="person_id")
    return ep[ep["start"] >= ep["index"]].sort_values(["person_id", "start"])


def _classify(t: dict) -> pd.DataFrame:
    anc, cond = t["concept_ancestor"], t["condition_occurrence"]
    mdd_set = _descendants(anc, MDD_INCLUDE) - _descendants(anc, MDD_EXCLUDE)
    cond = cond.assign(date=pd.to_datetime(cond["condition_start_date"]))
    mdd_dx = cond[cond["condition_concept_id"].isin(mdd_set)].groupby("person_id")["date"].agg(["nunique", "min"])
    mdd = mdd_dx[mdd_dx["nunique"] >= 2]["min"].rename("index")
    person = t["person"].set_index("person_id")
    age = (mdd - pd.to_datetime(person.loc[mdd.index, "birth_datetime"])).dt.days / 365.25
    bip = set(cond.loc[cond["condition_concept_id"].isin(_descendants(anc, BIPOLAR_SCZ)), "person_id"])
    spectrum = set(cond.loc[cond["condition_concept_id"].isin(_descendants(anc, DEPRESSION_SPECTRUM)), "person_id"])

    trials = _adequate_trials(t, mdd)
    trials["nth_ingredient"] = trials.groupby("person_id")["ingredient"].transform(
        lambda s: pd.Series(pd.factorize(s)[0] + 1, index=s.index))
    onset = trials[trials["nth_ingredient"] == 3].groupby("person_id")["start"].min()
    n_trials = trials.groupby("person_id").size()
    obs_end = pd.to_datetime(t["observation_period"].groupby("person_id")["observation_period_end_date"].max())

    status = pd.Series("non_MDD", index=person.index)
    status[list(spectrum)] = "noise_single_diagnosis"
    status[mdd.index] = "MDD_other"
    treated = n_trials.index.intersection(mdd.index)
    followed = (obs_end.loc[treated] - mdd.loc[treated]).dt.days >= 180
    status[followed[followed].index] = "trMDD"
    status[onset.index.intersection(mdd.index)] = "TRD"
    status[list(bip & set(mdd.index))] = "excluded_bipolar"
    status[age[age < 18].index] = "excluded_young_index"
    return pd.DataFrame({"status": status, "onset": onset.reindex(status.index), "index": mdd.reindex(status.index)})


def test_rules_recover_every_persons_status(data):
    truth, t, persons = data
    got = _classify(t)
    expected = persons.set_index("person_id")
    mismatch = (got["status"] != expected["status"]).sum()
    assert mismatch == 0
    assert got["status"].value_counts().to_dict() == {k: v for k, v in truth["status_counts"].items() if v}
    assert sum(truth["status_counts"].values()) == truth["persons"]


def test_rules_recover_index_and_trd_onset_dates(data):
    _, t, persons = data
    got = _classify(t)
    expected = persons.set_index("person_id")
    mdd_like = expected["status"].isin(["TRD", "trMDD", "MDD_other"])
    assert (got.loc[mdd_like, "index"] == pd.to_datetime(expected.loc[mdd_like, "mdd_index_date"])).all()
    trd = expected["status"] == "TRD"
    assert (got.loc[trd, "onset"] == pd.to_datetime(expected.loc[trd, "trd_onset_date"])).all()
    gap = (got.loc[trd, "onset"] - got.loc[trd, "index"]).dt.days
    assert gap.between(200, 1500).all()


def test_status_shares_near_targets(data):
    truth, _, _ = data
    share = {k: v / truth["persons"] for k, v in truth["status_counts"].items()}
    assert share["non_MDD"] == pytest.approx(0.60, abs=0.07)
    assert share["TRD"] == pytest.approx(0.12, abs=0.05)
    assert share["trMDD"] == pytest.approx(0.18, abs=0.05)
    assert share["MDD_other"] == pytest.approx(0.06, abs=0.04)


def test_ect_and_augmentation_only_where_intended(data):
    truth, t, persons = data
    proc_persons = set(t["procedure_occurrence"]["person_id"])
    status = persons.set_index("person_id")["status"]
    assert set(status.loc[list(proc_persons)]) == {"TRD"}
    assert len(proc_persons) == truth["subgroups"]["trd_with_ect"]
    anc = t["concept_ancestor"]
    aug = t["drug_exposure"][t["drug_exposure"]["drug_concept_id"].isin(_descendants(anc, AUGMENTATION))]
    assert set(status.loc[aug["person_id"].unique()]) == {"TRD", "trMDD"}
    n_aug = aug.groupby("person_id").size().index.map(status).value_counts()
    assert n_aug["TRD"] == truth["subgroups"]["trd_with_augmentation"]
    assert n_aug["trMDD"] == truth["subgroups"]["trmdd_one_trial_augmentation"]
    assert np.isfinite(persons.filter(like="true_pgs_").to_numpy()).all()
