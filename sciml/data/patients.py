"""Synthetic patients x treatments: a labelled proxy for the organoid drug screen of MFM Sec. 5.

Each patient is a population of cells: a Gaussian mixture in `dim` dimensions whose cell types have
shared centres (plus a small patient offset) and patient-specific proportions pi_p ~ Dirichlet(alpha).
A control measurement of a patient (one replicate) is the source population; treating the patient
with drug j gives the target population, a *fresh* sample of cells (measuring destroys cells, so there
are no pairs) in which every cell of type k moves by

    s(pi_pk) * Delta_jk,     s(pi) = RESPONSE_GAIN * (1 - pi) ** RESPONSE_POWER,

i.e. a type responds more strongly when it is rare in that patient. The response depends on the
population itself, so a model that sees one cell at a time (FM, or CGFM at a new patient) can only
predict the average response; a model that embeds the control population can infer pi_p.

The real data (Ramos Zapatero et al. 2023; 10 patients, 11 treatments, 43 markers) are not reachable
offline and cannot be regenerated: `sciml.data.organoids` loads them where they exist.

Reference: Atanackovic et al. 2024, "Meta Flow Matching", Sec. 5 (patient-derived organoids; replicate
and patient hold-out splits).
"""

import dataclasses

import numpy as np

from sciml.data.populations import Populations

#: Std of cells around their type centre, and of the type centres themselves.
CELL_STD = 0.5
CENTRE_STD = 2.5
#: Std of a patient's offset of all type centres (patients differ a little even at equal proportions).
PATIENT_OFFSET_STD = 0.3
#: s(pi) = GAIN (1 - pi)^POWER: how far a cell type moves under a treatment given its proportion pi.
RESPONSE_GAIN = 6.0
RESPONSE_POWER = 3.0
#: Std of the cell-to-cell variation of the response.
RESPONSE_NOISE = 0.1


def response_scale(proportion: np.ndarray | float) -> np.ndarray | float:
    """s(pi): rare cell types respond more (s(0) = GAIN, s(1) = 0)."""
    return RESPONSE_GAIN * (1.0 - np.asarray(proportion)) ** RESPONSE_POWER


@dataclasses.dataclass(frozen=True, eq=False)
class PatientCohort:
    """All populations of a cohort plus the hidden parameters that made them (for checks and plots).

    `populations.sources[s]` is the control of patient `patient[s]`, replicate `replicate[s]`; its
    targets are the same patient and replicate under each treatment.
    """

    populations: Populations
    patient: np.ndarray  # [S]
    replicate: np.ndarray  # [S]
    proportions: np.ndarray  # [P, K]
    centres: np.ndarray  # [K, d]
    offsets: np.ndarray  # [P, d]
    responses: np.ndarray  # [T, K, d] unit directions Delta_jk

    @property
    def num_patients(self) -> int:
        return self.proportions.shape[0]


def _cells(rng, n, proportions, centres, offset):
    types = rng.choice(len(proportions), size=n, p=proportions)
    x = centres[types] + offset + CELL_STD * rng.standard_normal((n, centres.shape[1]))
    return x, types


def synthetic_patients(
    num_patients: int = 40,
    replicates: int = 2,
    *,
    dim: int = 5,
    cell_types: int = 4,
    treatments: int = 3,
    cells: int = 512,
    concentration: float = 1.0,
    seed: int = 0,
) -> PatientCohort:
    """A cohort of `num_patients x replicates` control populations, each with one target per treatment.

    Everything about patient p depends on (seed, p) only, so cohorts of different sizes share patients.
    """
    for name, v, low in [("num_patients", num_patients, 1), ("replicates", replicates, 1), ("dim", dim, 1),
                         ("cell_types", cell_types, 1), ("treatments", treatments, 1), ("cells", cells, 1)]:
        if v < low:
            raise ValueError(f"{name} must be >= {low}, got {v}")
    if concentration <= 0:
        raise ValueError(f"concentration must be > 0, got {concentration}")
    world = np.random.default_rng([seed, 0])
    centres = CENTRE_STD * world.standard_normal((cell_types, dim))
    responses = world.standard_normal((treatments, cell_types, dim))
    responses /= np.linalg.norm(responses, axis=-1, keepdims=True)

    proportions, offsets = [], []
    sources, targets, source_of, treatment, groups, patient_of, replicate_of = [], [], [], [], [], [], []
    for p in range(num_patients):
        prng = np.random.default_rng([seed, 1, p])
        pi = prng.dirichlet(np.full(cell_types, concentration))
        offset = PATIENT_OFFSET_STD * prng.standard_normal(dim)
        proportions.append(pi)
        offsets.append(offset)
        shift = response_scale(pi)[None, :, None] * responses  # [T, K, d]
        for r in range(replicates):
            rng = np.random.default_rng([seed, 2, p, r])
            s = len(sources)
            sources.append(_cells(rng, cells, pi, centres, offset)[0])
            for j in range(treatments):
                x, types = _cells(rng, cells, pi, centres, offset)
                x = x + shift[j, types] + RESPONSE_NOISE * rng.standard_normal(x.shape)
                targets.append(x)
                source_of.append(s)
                treatment.append(j)
            groups.append(f"P{p:03d}")
            patient_of.append(p)
            replicate_of.append(r)
    pops = Populations(
        sources=np.stack(sources).astype(np.float32),
        targets=np.stack(targets).astype(np.float32),
        source_of=np.asarray(source_of),
        treatment=np.asarray(treatment),
        groups=tuple(groups),
        treatments=tuple(f"drug{j}" for j in range(treatments)),
        paired=False,
    )
    return PatientCohort(
        populations=pops,
        patient=np.asarray(patient_of),
        replicate=np.asarray(replicate_of),
        proportions=np.stack(proportions),
        centres=centres,
        offsets=np.stack(offsets),
        responses=responses,
    )


#: Hold-out schemes of `split_cohort`, as in the original: unseen replicates or unseen patients.
HOLDOUTS = ("patient", "replicate")


def split_cohort(
    cohort: PatientCohort, holdout: str = "patient", *, test_patients: int = 8, test_replicates: int = 1
) -> tuple[Populations, Populations]:
    """(train, test): hold out the last `test_patients` patients, or every patient's last replicates."""
    if holdout not in HOLDOUTS:
        raise ValueError(f"unknown holdout {holdout!r}; valid: {list(HOLDOUTS)}")
    if holdout == "patient":
        if not 0 < test_patients < cohort.num_patients:
            raise ValueError(f"test_patients must be in [1, {cohort.num_patients - 1}], got {test_patients}")
        test = cohort.patient >= cohort.num_patients - test_patients
    else:
        replicates = int(cohort.replicate.max()) + 1
        if not 0 < test_replicates < replicates:
            raise ValueError(f"test_replicates must be in [1, {replicates - 1}], got {test_replicates}")
        test = cohort.replicate >= replicates - test_replicates
    pops = cohort.populations
    return pops.select_sources(np.flatnonzero(~test)), pops.select_sources(np.flatnonzero(test))
