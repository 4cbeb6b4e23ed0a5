"""The toy OMOP vocabulary: `concept` and `concept_ancestor` rows the toy EHR tables use.

Real standard concept IDs (the ones in conf/concept_sets.yaml and /work/shared/concepts.md)
are used where the study names a concept, with their real names. Everything else -- drug
products, descendant diagnoses, CPT4 procedure codes, unrelated drugs -- gets a SYNTHETIC
concept ID in the reserved range >= 2_000_000_000 (SYNTHETIC_ID_BASE), which no real OMOP
vocabulary uses, so a toy ID can never be mistaken for a real one.

concept_code: CPT4 concepts carry their real codes (90867-90870) because the pipeline resolves
them by vocabulary + code; all other concepts carry a placeholder code "TOY<concept_id>"
(we do not ship real SNOMED/RxNorm codes we have not verified).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

SYNTHETIC_ID_BASE = 2_000_000_000

# --- real concepts (IDs verified in /work/shared/concepts.md) --------------------------------
DEPRESSIVE_DISORDER = 440383
MDD = 4152280
SEVERE_MDD = 42872722
DYSTHYMIA = 433440
BIPOLAR = 436665
MANIA = 4333677
RECURRENT_MANIC = 437249
SCHIZOPHRENIA = 435783
SCHIZOAFFECTIVE = 4286201
SCHIZOAFFECTIVE_DEPRESSIVE = 4224940
PSYCHOTIC_DISORDER = 436073
ESSENTIAL_HYPERTENSION = 320128
ECT_SNOMED = 4030840
ECT_ICD10PCS_GZB = 2795842
ESKETAMINE = 1366610

ANTIDEPRESSANT_INGREDIENTS: dict[int, str] = {
    739138: "sertraline", 755695: "fluoxetine", 797617: "citalopram", 715939: "escitalopram",
    722031: "paroxetine", 751412: "fluvoxamine", 743670: "venlafaxine", 717607: "desvenlafaxine",
    715259: "duloxetine", 43560354: "levomilnacipran", 750982: "bupropion", 725131: "mirtazapine",
    703547: "trazodone", 714684: "nefazodone", 40234834: "vilazodone", 44507700: "vortioxetine",
    710062: "amitriptyline", 721724: "nortriptyline", 778268: "imipramine", 716968: "desipramine",
    798834: "clomipramine", 738156: "doxepin", 754270: "protriptyline", 705755: "trimipramine",
    733896: "phenelzine", 703470: "tranylcypromine", 781705: "isocarboxazid", 766209: "selegiline",
}
# Antidepressant ingredients of conf/concept_sets.yaml added after the toy data's draws were fixed
# (field case round 41): in the vocabulary, with products, so the set resolves, but drawn by no toy
# person; their products come after every other ingredient's, so no earlier product ID moves.
LATER_ANTIDEPRESSANT_INGREDIENTS: dict[int, str] = {713109: "amoxapine", 794147: "maprotiline"}
AUGMENTATION_INGREDIENTS: dict[int, str] = {
    751246: "lithium carbonate", 757688: "aripiprazole", 46275300: "brexpiprazole",
    766814: "quetiapine", 785788: "olanzapine", 735979: "risperidone", 35603277: "cariprazine",
}
# Trials in the toy EHR draw from the commonly prescribed first/second-line antidepressants
# (real prescribing is concentrated on a few ingredients).
TRIAL_INGREDIENTS: tuple[int, ...] = (
    739138, 755695, 797617, 715939, 722031, 743670, 715259, 750982, 725131, 717607, 44507700,
)
TRIAL_AUGMENTATION: tuple[int, ...] = (757688, 766814, 751246, 46275300)

# --- synthetic concepts ----------------------------------------------------------------------
RECURRENT_MDD = SYNTHETIC_ID_BASE + 1
SINGLE_EPISODE_MDD = SYNTHETIC_ID_BASE + 2
BIPOLAR_I = SYNTHETIC_ID_BASE + 3
BIPOLAR_I_DEPRESSED = SYNTHETIC_ID_BASE + 4
TYPE2_DIABETES = SYNTHETIC_ID_BASE + 5
ASTHMA = SYNTHETIC_ID_BASE + 6
CPT4_ECT_90870 = SYNTHETIC_ID_BASE + 11
CPT4_TMS_90867 = SYNTHETIC_ID_BASE + 12
CPT4_TMS_90868 = SYNTHETIC_ID_BASE + 13
CPT4_TMS_90869 = SYNTHETIC_ID_BASE + 14
ICD10PCS_ECT_SINGLE = SYNTHETIC_ID_BASE + 15
METFORMIN = SYNTHETIC_ID_BASE + 21
LISINOPRIL = SYNTHETIC_ID_BASE + 22
# Products of ingredient i (in _drug_ingredients() order) are PRODUCT_BASE + 2*i (Clinical
# Drug) and PRODUCT_BASE + 2*i + 1 (Branded Drug).
PRODUCT_BASE = SYNTHETIC_ID_BASE + 1000

# Condition concepts that make a person an MDD case (all in the OHDSI-style MDD set).
MDD_DIAGNOSES: tuple[int, ...] = (MDD, RECURRENT_MDD, SINGLE_EPISODE_MDD, SEVERE_MDD, DEPRESSIVE_DISORDER)
BIPOLAR_DIAGNOSES: tuple[int, ...] = (BIPOLAR, BIPOLAR_I, BIPOLAR_I_DEPRESSED)
UNRELATED_CONDITIONS: tuple[int, ...] = (ESSENTIAL_HYPERTENSION, TYPE2_DIABETES, ASTHMA)
UNRELATED_DRUG_INGREDIENTS: tuple[int, ...] = (METFORMIN, LISINOPRIL)
ECT_PROCEDURES: tuple[int, ...] = (ECT_SNOMED, CPT4_ECT_90870, ICD10PCS_ECT_SINGLE)

_UNRELATED_DRUGS: dict[int, str] = {METFORMIN: "metformin", LISINOPRIL: "lisinopril"}
_PRODUCT_STRENGTH_MG = (10, 20, 25, 50, 100, 150)


def _drug_ingredients() -> list[tuple[int, str]]:
    """Every ingredient that gets products, in a fixed order (product IDs depend on it)."""
    items = list(ANTIDEPRESSANT_INGREDIENTS.items()) + list(AUGMENTATION_INGREDIENTS.items())
    items += [(ESKETAMINE, "esketamine")] + list(_UNRELATED_DRUGS.items())
    return items + list(LATER_ANTIDEPRESSANT_INGREDIENTS.items())


def product_ids(ingredient_ids: np.ndarray, branded: np.ndarray) -> np.ndarray:
    """Product concept ID for each (ingredient, branded?) pair, vectorised."""
    order = {cid: i for i, (cid, _) in enumerate(_drug_ingredients())}
    keys = np.array(sorted(order), dtype=np.int64)
    idx = np.array([order[k] for k in keys], dtype=np.int64)
    pos = idx[np.searchsorted(keys, ingredient_ids)]
    return PRODUCT_BASE + 2 * pos + branded.astype(np.int64)


@dataclass(frozen=True)
class _Concept:
    concept_id: int
    name: str
    domain: str
    vocabulary: str
    concept_class: str
    code: str | None = None


def _concepts() -> list[_Concept]:
    c: list[_Concept] = []
    snomed = [
        (DEPRESSIVE_DISORDER, "Depressive disorder"), (MDD, "Major depressive disorder"),
        (SEVERE_MDD, "Severe major depression"), (DYSTHYMIA, "Dysthymia"),
        (BIPOLAR, "Bipolar disorder"), (MANIA, "Mania"), (RECURRENT_MANIC, "Recurrent manic episodes"),
        (SCHIZOPHRENIA, "Schizophrenia"), (SCHIZOAFFECTIVE, "Schizoaffective disorder"),
        (SCHIZOAFFECTIVE_DEPRESSIVE, "Schizoaffective disorder, depressive type"),
        (PSYCHOTIC_DISORDER, "Psychotic disorder"), (ESSENTIAL_HYPERTENSION, "Essential hypertension"),
        (RECURRENT_MDD, "Recurrent major depression"), (SINGLE_EPISODE_MDD, "Single episode major depression"),
        (BIPOLAR_I, "Bipolar I disorder"),
        (BIPOLAR_I_DEPRESSED, "Bipolar I disorder, most recent episode depressed"),
        (TYPE2_DIABETES, "Type 2 diabetes mellitus"), (ASTHMA, "Asthma"),
    ]
    c += [_Concept(i, n, "Condition", "SNOMED", "Clinical Finding") for i, n in snomed]
    c += [
        _Concept(ECT_SNOMED, "Electroconvulsive therapy", "Procedure", "SNOMED", "Procedure"),
        _Concept(ECT_ICD10PCS_GZB, "Electroconvulsive Therapy", "Procedure", "ICD10PCS", "ICD10PCS Hierarchy"),
        _Concept(ICD10PCS_ECT_SINGLE, "Electroconvulsive Therapy, Unilateral-Single Seizure",
                 "Procedure", "ICD10PCS", "ICD10PCS"),
        _Concept(CPT4_ECT_90870, "Electroconvulsive therapy (includes necessary monitoring)",
                 "Procedure", "CPT4", "CPT4", "90870"),
        _Concept(CPT4_TMS_90867, "Therapeutic repetitive transcranial magnetic stimulation (TMS) "
                 "treatment; initial", "Procedure", "CPT4", "CPT4", "90867"),
        _Concept(CPT4_TMS_90868, "Therapeutic repetitive transcranial magnetic stimulation (TMS) "
                 "treatment; subsequent delivery and management", "Procedure", "CPT4", "CPT4", "90868"),
        _Concept(CPT4_TMS_90869, "Therapeutic repetitive transcranial magnetic stimulation (TMS) "
                 "treatment; subsequent motor threshold re-determination", "Procedure", "CPT4", "CPT4", "90869"),
    ]
    for i, (ing, name) in enumerate(_drug_ingredients()):
        c.append(_Concept(ing, name, "Drug", "RxNorm", "Ingredient"))
        mg = _PRODUCT_STRENGTH_MG[i % len(_PRODUCT_STRENGTH_MG)]
        c.append(_Concept(PRODUCT_BASE + 2 * i, f"{name} {mg} MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug"))
        c.append(_Concept(PRODUCT_BASE + 2 * i + 1, f"{name} {mg} MG Oral Tablet [Brand{i:02d}]",
                          "Drug", "RxNorm", "Branded Drug"))
    return c


def _ancestry_edges() -> list[tuple[int, int, int]]:
    """(ancestor, descendant, levels) for every non-self edge, transitively closed by hand."""
    e = [
        (DEPRESSIVE_DISORDER, MDD, 1), (DEPRESSIVE_DISORDER, SEVERE_MDD, 2), (MDD, SEVERE_MDD, 1),
        (DEPRESSIVE_DISORDER, RECURRENT_MDD, 2), (MDD, RECURRENT_MDD, 1),
        (DEPRESSIVE_DISORDER, SINGLE_EPISODE_MDD, 2), (MDD, SINGLE_EPISODE_MDD, 1),
        (DEPRESSIVE_DISORDER, DYSTHYMIA, 1),
        # As in SNOMED, some bipolar and schizoaffective concepts sit under depressive disorder
        # too; this is why the MDD concept set needs its exclusions.
        (DEPRESSIVE_DISORDER, SCHIZOAFFECTIVE_DEPRESSIVE, 1), (SCHIZOAFFECTIVE, SCHIZOAFFECTIVE_DEPRESSIVE, 1),
        (BIPOLAR, BIPOLAR_I, 1), (BIPOLAR, BIPOLAR_I_DEPRESSED, 2), (BIPOLAR_I, BIPOLAR_I_DEPRESSED, 1),
        (DEPRESSIVE_DISORDER, BIPOLAR_I_DEPRESSED, 1),
        (ECT_ICD10PCS_GZB, ICD10PCS_ECT_SINGLE, 1),
    ]
    for i, (ing, _) in enumerate(_drug_ingredients()):
        clinical, branded = PRODUCT_BASE + 2 * i, PRODUCT_BASE + 2 * i + 1
        e += [(ing, clinical, 1), (ing, branded, 2), (clinical, branded, 1)]
    return e


def concept_table() -> pa.Table:
    """OMOP `concept`, one row per concept, sorted by concept_id."""
    rows = sorted(_concepts(), key=lambda r: r.concept_id)
    n = len(rows)
    return pa.table({
        "concept_id": pa.array([r.concept_id for r in rows], pa.int64()),
        "concept_name": pa.array([r.name for r in rows], pa.string()),
        "domain_id": pa.array([r.domain for r in rows], pa.string()),
        "vocabulary_id": pa.array([r.vocabulary for r in rows], pa.string()),
        "concept_class_id": pa.array([r.concept_class for r in rows], pa.string()),
        "standard_concept": pa.array(
            ["C" if r.concept_class == "ICD10PCS Hierarchy" else "S" for r in rows], pa.string()),
        "concept_code": pa.array([r.code or f"TOY{r.concept_id}" for r in rows], pa.string()),
        "valid_start_date": pa.array(np.full(n, np.datetime64("1970-01-01", "D"))).cast(pa.date32()),
        "valid_end_date": pa.array(np.full(n, np.datetime64("2099-12-31", "D"))).cast(pa.date32()),
        "invalid_reason": pa.nulls(n, pa.string()),
    })


def concept_ancestor_table() -> pa.Table:
    """OMOP `concept_ancestor`: every concept its own ancestor at level 0, plus the hierarchy."""
    ids = [r.concept_id for r in _concepts()]
    edges = [(i, i, 0) for i in ids] + _ancestry_edges()
    edges.sort()
    return pa.table({
        "ancestor_concept_id": pa.array([a for a, _, _ in edges], pa.int64()),
        "descendant_concept_id": pa.array([d for _, d, _ in edges], pa.int64()),
        "min_levels_of_separation": pa.array([lv for _, _, lv in edges], pa.int64()),
        "max_levels_of_separation": pa.array([lv for _, _, lv in edges], pa.int64()),
    })
