"""A small synthetic model (six square blocks in three ICBs) whose every metric can be worked out by hand.

Layout (sub-ICB level, 10 km squares)::

    S1 S2 S3        ICB A = S1, S4   ICB B = S2, S5   ICB C = S3, S6
    S4 S5 S6        region R1 = A, B; region R2 = C

The April 2026 map (``icb26_*``) is the same three ICBs.

Trusts: T1 (major) hosted in S1, T2 hosted in S5, T3 hosted in S3; pathology network N1 = {T1, T2}.
Authority M1 (mayoral, mayor in office) covers S1 and S2 wholly.

Upper-tier councils (Census residents, 0.9 x POP): county council U1 = S1, S4 (900,000); unitary U2 = S2 and all of
S5 but 10,000 (1,070,000); unitary U3 = S3, S6 and those 10,000 of S5 (1,090,000: a sliver of 0.92% in ICB B).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from shapely.geometry import box

from boundaries.build import ModelInputs
from boundaries.finance import FIELDS
from boundaries.geography import BlockGeography
from boundaries.providers import Providers
from simulator.model import Model

CODES = ["S1", "S2", "S3", "S4", "S5", "S6"]
ICB = ["A", "B", "C", "A", "B", "C"]
REGION = ["R1", "R1", "R2", "R1", "R1", "R2"]
POP = np.array([600_000, 500_000, 900_000, 400_000, 700_000, 300_000], dtype=float)
# Core allocation £000: ICB A 1,800/head, B 2,000/head, C 1,900/head (uniform within each ICB).
PER_HEAD = {"A": 1800.0, "B": 2000.0, "C": 1900.0}
# Fair-shares target per head (£): distance from target A +5.88%, B -4.76%, C 0%.
TARGET_PER_HEAD = {"A": 1700.0, "B": 2100.0, "C": 1900.0}
# Flows: residents' catchment persons by block (rows) and trust (columns T1, T2, T3).
FLOWS = np.array([
    [500_000, 50_000, 0],
    [200_000, 250_000, 0],
    [0, 100_000, 800_000],
    [300_000, 50_000, 0],
    [100_000, 550_000, 0],
    [0, 0, 280_000],
], dtype=float)
HOST = [0, 4, 2]
COUNCILS = pd.DataFrame({"code": ["E10000001", "E06000002", "E06000003"], "name": ["County One", "Unitary Two",
                         "Unitary Three"], "type": ["county council", "unitary authority", "unitary authority"]})
SLIVER = 10_000.0  # U3's residents in S5


def _geometry() -> list:
    # Degrees near 52N, 1W; 0.1 deg squares, so neighbours share exact edges.
    out = []
    for i in range(6):
        r, c = divmod(i, 3)
        out.append(box(-1.0 + 0.1 * c, 52.0 - 0.1 * (r + 1), -1.0 + 0.1 * (c + 1), 52.0 - 0.1 * r))
    return out


def synthetic_inputs() -> ModelInputs:
    """ModelInputs of the synthetic layout (see module docstring)."""
    blocks = pd.DataFrame({
        "code": CODES, "ods": [c.lower() for c in CODES], "name": [f"Block {c}" for c in CODES],
        "icb_code": ICB, "sicbl_code": CODES, "sicbl_ods": [c.lower() for c in CODES], "lad_code": "",
        "lad_name": "", "icb_ods": [f"Q{c}" for c in ICB], "icb_name": [f"ICB {c}" for c in ICB],
        "region_code": REGION, "region_ods": REGION, "region_name": [f"Region {r}" for r in REGION],
        "census_population": POP * 0.9,
        # The April 2026 map is the 2024 map here: the tests that need two maps build the second themselves.
        "icb26_code": ICB, "icb26_ods": [f"Q{c}" for c in ICB], "icb26_name": [f"ICB {c}" for c in ICB],
        "icb26_share": 1.0,
    })
    edges = pd.DataFrame([(0, 1, "land", 10.0), (1, 2, "land", 10.0), (3, 4, "land", 10.0), (4, 5, "land", 10.0),
                          (0, 3, "land", 10.0), (1, 4, "land", 10.0), (2, 5, "land", 10.0)],
                         columns=["a", "b", "kind", "shared_border_km"])
    geo = BlockGeography("sicbl", blocks, _geometry(), edges)
    fig = pd.DataFrame(0.0, index=range(6), columns=list(FIELDS))
    fig["pop_allocation"] = POP
    fig["pop_gp_registered"] = POP * 1.01
    fig["pop_census"] = POP * 0.9
    fig["wp_core"] = POP
    fig["wp_pmc"] = POP
    fig["wp_prescribing"] = POP
    per_head = np.array([PER_HEAD[i] for i in ICB])
    target = np.array([TARGET_PER_HEAD[i] for i in ICB])
    fig["core_recurrent_gbp_k"] = POP * per_head / 1000.0
    fig["core_total_gbp_k"] = fig.core_recurrent_gbp_k
    fig["core_baseline_gbp_k"] = fig.core_recurrent_gbp_k
    fig["core_target_gbp_k"] = POP * target / 1000.0
    fig["pmc_gbp_k"] = POP * 200.0 / 1000.0
    fig["rca_gbp_k"] = POP * 14.0 / 1000.0
    fig["total_gbp_k"] = fig.core_total_gbp_k + fig.pmc_gbp_k + fig.rca_gbp_k
    fig["prescribing_nic_gbp"] = POP * 180.0
    fig["prescribing_pop"] = POP
    fig["gp_payments_gbp"] = POP * 170.0
    fig["gp_payments_patients"] = POP
    fig["imd_score"] = 20.0
    trusts = pd.DataFrame({
        "code": ["T1", "T2", "T3"], "name": ["Trust 1", "Trust 2", "Trust 3"], "type": "acute_general",
        "acute": True, "major": [True, False, False], "major_reason": ["major trauma centre", "", ""],
        "host_icb_code": [ICB[h] for h in HOST], "lat": 52.0, "lon": -1.0, "ga_beds": [1500.0, 500.0, 600.0],
        "major_trauma_centre": ["adult", "", ""], "host_block": HOST, "host_estimated": False,
    })
    networks = pd.DataFrame({"network_id": ["N1", "N1"], "network_name": "Network 1", "trust": ["T1", "T2"],
                             "role": ["hub", "spoke"], "evidence": ["listed", "inferred"]})
    providers = Providers(trusts, sp.csr_matrix(FLOWS), networks)
    auth = pd.DataFrame({"code": ["M1"], "name": ["Mayoral 1"], "type": ["Mayoral combined authority"],
                         "mayoral": [True], "mayor_in_office": [True], "status": ["test"]})
    overlap = np.zeros((6, 1))
    overlap[[0, 1], 0] = POP[[0, 1]] * 0.9
    council = np.zeros((6, 3))
    council[[0, 3], 0] = POP[[0, 3]] * 0.9
    council[[1, 4], 1] = POP[[1, 4]] * 0.9
    council[[2, 5], 2] = POP[[2, 5]] * 0.9
    council[4, 1] -= SLIVER
    council[4, 2] = SLIVER
    return ModelInputs("sicbl", geo, fig, {f: np.zeros(6, bool) for f in FIELDS}, providers, auth, overlap, {},
                       councils=COUNCILS.copy(), council_overlap=council)


def synthetic_model() -> Model:
    """The synthetic Model."""
    return Model.from_inputs(synthetic_inputs())


def set_partitions(items: list):
    """Every set partition of ``items`` (Bell(n) of them), each as a list of lists: the tests' brute force."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for p in set_partitions(rest):
        for i in range(len(p)):
            yield p[:i] + [[first] + p[i]] + p[i + 1:]
        yield [[first]] + p


def feasible_partitions(problem):
    """(objective, assignment) of every partition of the problem's blocks that keeps its hard rules, lazily."""
    from simulator.configuration import Configuration

    n = problem.model.n_blocks
    for partition in set_partitions(list(range(n))):
        a = np.empty(n, dtype=np.int64)
        for k, part in enumerate(partition):
            a[part] = k
        cfg = Configuration(problem.model, a, [f"f{k}" for k in range(len(partition))], allow_noncontiguous=True)
        if not problem.violations(cfg):
            yield problem.objective(a), a
