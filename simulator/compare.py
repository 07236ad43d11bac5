"""Compare two configurations: which footprints correspond, pairwise co-assignment agreement, and which score terms favour each side where they differ."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simulator.configuration import Configuration
from simulator.errors import ConfigurationError
from simulator.metrics.score import TERM_NAMES, scorer

TOP_TERMS = 3
"""Terms named each way per differing block."""

_TOL = 1e-12  # weighted deltas smaller than this favour neither side (rounding, or a weight of 0)


@dataclass
class Comparison:
    """Two configurations of one model side by side (A against B, B taken as the truth).

    Attributes
    ----------
    correspondence
        One row per (A footprint, B footprint) pair sharing people: ``people``, ``share_of_a``, ``share_of_b``
        and ``best_match`` (B is the A footprint's best match).
    matches
        One row per A footprint: its best-matching B footprint (most people in common), the people in common, the
        shares of each, and ``identical`` (the two hold the same blocks).
    coassignment
        One row per NHS region and one ``overall`` row: block pairs that were in different ICBs of the reference
        map and are together in A and/or B, with precision, recall and F1, counted in block pairs and
        person-weighted (see :func:`coassignment`).
    differences
        One row per block placed differently (see :func:`differences`): where it is and would go on each side, the
        weighted change of each term, the net change, and the top terms favouring each side.
    term_summary
        One row per score term: how many differing blocks it favours A and B on, and the summed weighted delta.
    overall
        Headline figures (JSON-able).
    """

    correspondence: pd.DataFrame
    matches: pd.DataFrame
    coassignment: pd.DataFrame
    differences: pd.DataFrame
    term_summary: pd.DataFrame
    overall: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-able values."""
        return {"overall": _jsonable(self.overall),
                "matches": _records(self.matches),
                "correspondence": _records(self.correspondence),
                "coassignment": _records(self.coassignment),
                "differences": _records(self.differences),
                "term_summary": _records(self.term_summary)}


# ---------------------------------------------------------------------------------------------- correspondence
def _check_pair(model, a: Configuration, b: Configuration) -> None:
    for side, c in (("A", a), ("B", b)):
        if c.model.level != model.level or not np.array_equal(c.model.blocks.code.to_numpy(),
                                                                model.blocks.code.to_numpy()):
            raise ConfigurationError(f"configuration {side} is not drawn on the {model.level} model's blocks")


def _overlap(a: Configuration, b: Configuration, population: np.ndarray) -> np.ndarray:
    """A footprint x B footprint matrix of people in common."""
    m = np.zeros((a.n_footprints, b.n_footprints))
    np.add.at(m, (a.assignment, b.assignment), population)
    return m


def _best(overlap: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Best match of each row: most people in common, then most blocks in common (so a footprint of people-less
    blocks still has a match), then the lowest index (deterministic)."""
    # lexsort sorts ascending on its last key first; the last column of each row is then the best, and the
    # negated index makes the lowest column win a full tie.
    n = overlap.shape[1]
    order = np.lexsort((-np.broadcast_to(np.arange(n), overlap.shape), blocks, overlap), axis=1)
    return order[:, -1]


def _matching(a: Configuration, b: Configuration, population: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                   np.ndarray, np.ndarray]:
    """(people overlap, block overlap, best B footprint of each A footprint, best A footprint of each B one)."""
    people = _overlap(a, b, population)
    blocks = _overlap(a, b, np.ones(len(population)))
    return people, blocks, _best(people, blocks), _best(people.T, blocks.T)


def correspondence(model, a: Configuration, b: Configuration, population: np.ndarray) -> tuple[pd.DataFrame,
                                                                                              pd.DataFrame]:
    """Which footprints of B each footprint of A shares people with.

    Parameters
    ----------
    model
        The model both configurations are drawn on.
    a, b
        The two configurations.
    population
        People per block (e.g. ``model.population("gp_registered")``).

    Returns
    -------
    pairs
        One row per (A footprint, B footprint) with people in common > 0 (or, for blocks without people, blocks
        in common): ``a_footprint, b_footprint, people, blocks, share_of_a, share_of_b, best_match``; A footprints
        in name order, then most people first.
    matches
        One row per A footprint: ``a_footprint, b_footprint`` (its best match: most people in common),
        ``people, share_of_a, share_of_b, identical``.
    """
    _check_pair(model, a, b)
    population = np.asarray(population, dtype=float)
    people, blocks, best_b, _ = _matching(a, b, population)
    size_a, size_b = people.sum(axis=1), people.sum(axis=0)
    rows = []
    for i in np.argsort(a.names, kind="stable"):
        js = np.flatnonzero(blocks[i] > 0)
        for j in js[np.lexsort((js, -people[i, js]))]:
            rows.append({"a_footprint": a.names[i], "b_footprint": b.names[j], "people": people[i, j],
                         "blocks": int(blocks[i, j]), "share_of_a": _share(people[i, j], size_a[i]),
                         "share_of_b": _share(people[i, j], size_b[j]), "best_match": bool(j == best_b[i])})
    pairs = pd.DataFrame(rows, columns=["a_footprint", "b_footprint", "people", "blocks", "share_of_a", "share_of_b",
                                        "best_match"])
    n_a, n_b = blocks.sum(axis=1), blocks.sum(axis=0)
    matches = pd.DataFrame([{"a_footprint": a.names[i], "b_footprint": b.names[best_b[i]],
                             "people": people[i, best_b[i]], "share_of_a": _share(people[i, best_b[i]], size_a[i]),
                             "share_of_b": _share(people[i, best_b[i]], size_b[best_b[i]]),
                             "identical": bool(blocks[i, best_b[i]] == n_a[i] == n_b[best_b[i]])}
                            for i in np.argsort(a.names, kind="stable")],
                           columns=["a_footprint", "b_footprint", "people", "share_of_a", "share_of_b", "identical"])
    return pairs, matches


def _share(part: float, whole: float) -> float:
    return float(part / whole) if whole > 0 else 0.0


# ---------------------------------------------------------------------------------------------- co-assignment
def _prf(tp: float, fp: float, fn: float) -> dict[str, Any]:
    """Precision, recall and F1, each None with a reason where its denominator is 0."""
    out: dict[str, Any] = {}
    reasons = []
    if tp + fp > 0:
        out["precision"] = tp / (tp + fp)
    else:
        out["precision"] = None
        reasons.append("precision: A puts no such pair together")
    if tp + fn > 0:
        out["recall"] = tp / (tp + fn)
    else:
        out["recall"] = None
        reasons.append("recall: B puts no such pair together")
    # 2TP / (2TP + FP + FN): the harmonic mean where both exist, and 0 where one side merges and the other not.
    if 2 * tp + fp + fn > 0:
        out["f1"] = 2 * tp / (2 * tp + fp + fn)
    else:
        out["f1"] = None
        reasons.append("f1: neither puts such a pair together")
    out["note"] = "; ".join(reasons)
    return out


def coassignment(model, a: Configuration, b: Configuration, reference: np.ndarray,
                 population: np.ndarray | None = None) -> pd.DataFrame:
    """Pairwise co-assignment agreement of A with B (the truth) over pairs that ``reference`` keeps apart.

    Only pairs of blocks in *different* footprints of ``reference`` (an older map, e.g. the 2024 ICBs) count: a
    pair is a true positive if together in both A and B, a false positive if together in A only, a false
    negative if together in B only. Pairs are counted as block pairs, each pair once (so at place level a large
    place weighs as much as a small one); the person-weighted variant weighs a pair by the product of the two
    blocks' people.

    Parameters
    ----------
    model
        The model both configurations are drawn on.
    a, b
        The two configurations (B is the truth).
    reference
        Footprint index per block of the reference map (e.g. ``model.map_assignment("2024")[0]``).
    population
        People per block for the person-weighted variant (default: GP-registered patients).

    Returns
    -------
    DataFrame
        One row per NHS region (pairs with both blocks in it, regions in code order) and a last ``overall`` row
        (every pair, across regions too): ``region_ods, region_name, pairs`` (pairs the reference keeps apart),
        ``tp, fp, fn, precision, recall, f1``, the person-weighted ``tp_persons, fp_persons, fn_persons,
        precision_persons, recall_persons, f1_persons``, and ``note`` (why a figure is None).
    """
    _check_pair(model, a, b)
    reference = np.asarray(reference)
    if reference.shape != (model.n_blocks,):
        raise ConfigurationError(f"the reference map has {reference.size} entries for {model.n_blocks} blocks")
    pop = model.population() if population is None else np.asarray(population, dtype=float)
    n = model.n_blocks
    iu, ju = np.triu_indices(n, k=1)
    keep = reference[iu] != reference[ju]
    iu, ju = iu[keep], ju[keep]
    in_a = a.assignment[iu] == a.assignment[ju]
    in_b = b.assignment[iu] == b.assignment[ju]
    weight = pop[iu] * pop[ju]
    region = model.blocks.region_ods.to_numpy()
    name_of = dict(zip(model.blocks.region_ods, model.blocks.region_name))
    rows = []
    scopes = [(r, name_of[r], (region[iu] == r) & (region[ju] == r)) for r in sorted(name_of)]
    scopes.append(("overall", "England" if len(name_of) > 1 else name_of[region[0]], np.ones(len(iu), bool)))
    for ods, name, sel in scopes:
        row: dict[str, Any] = {"region_ods": ods, "region_name": name, "pairs": int(sel.sum())}
        notes: dict[str, str] = {}
        for suffix, w in (("", np.ones(len(iu))), ("_persons", weight)):
            tp = float(w[sel & in_a & in_b].sum())
            fp = float(w[sel & in_a & ~in_b].sum())
            fn = float(w[sel & ~in_a & in_b].sum())
            cast = int if not suffix else float
            row.update({f"tp{suffix}": cast(tp), f"fp{suffix}": cast(fp), f"fn{suffix}": cast(fn)})
            prf = _prf(tp, fp, fn)
            notes[suffix] = prf["note"]
            row.update({f"{k}{suffix}": prf[k] for k in ("precision", "recall", "f1")})
        # The person-weighted figures are None where the block ones are, unless blocks without people differ.
        extra = notes["_persons"] if notes["_persons"] != notes[""] else ""
        row["note"] = "; ".join(x for x in (notes[""], extra and f"person-weighted {extra}") if x)
        rows.append(row)
    table = pd.DataFrame(rows, columns=["region_ods", "region_name", "pairs", "tp", "fp", "fn", "precision",
                                        "recall", "f1", "tp_persons", "fp_persons", "fn_persons",
                                        "precision_persons", "recall_persons", "f1_persons", "note"])
    for col in ("precision", "recall", "f1", "precision_persons", "recall_persons", "f1_persons"):
        table[col] = pd.Series([r[col] for r in rows], dtype=object)  # None stays None, not NaN
    return table


# ---------------------------------------------------------------------------------------------- differences
def _move_deltas(sc, config: Configuration, blocks: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per block, each term's unweighted change when the block moves from its footprint to ``targets`` (a
    footprint index; -1: no move, a row of zeros). Scored on the two footprints the move touches only."""
    out = np.zeros((len(blocks), len(TERM_NAMES)))
    live = np.flatnonzero(targets >= 0)
    if not len(live):
        return out
    k, n = config.n_footprints, config.model.n_blocks
    member = np.zeros((k, n))
    member[config.assignment, np.arange(n)] = 1.0
    before = sc.contributions(member)
    src = config.assignment[blocks[live]]
    dst = targets[live]
    after_src, after_dst = member[src].copy(), member[dst].copy()
    rows = np.arange(len(live))
    after_src[rows, blocks[live]] = 0.0
    after_dst[rows, blocks[live]] = 1.0
    after = sc.contributions(np.vstack([after_src, after_dst]))
    out[live] = after[:len(live)] + after[len(live):] - before[src] - before[dst]
    return out


def _top(deltas: np.ndarray, sign: int) -> list[str]:
    """The terms pulling most towards one side (``sign`` +1: positive deltas, -1: negative), largest first."""
    order = sorted((i for i in range(len(deltas)) if sign * deltas[i] > _TOL), key=lambda i: (-abs(deltas[i]), i))
    return [TERM_NAMES[i] for i in order[:TOP_TERMS]]


def differences(model, a: Configuration, b: Configuration, params,
                population: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Blocks placed differently, and which score terms favour A's or B's placement of each.

    A block is placed differently if it is not in the best-matching B footprint (see :func:`correspondence`) of
    its A footprint. For each, two single-block moves are priced with the scorer on the footprints they touch
    (contiguity aside):

    * in A, from its A footprint to the A footprint corresponding to its B footprint (B's footprint's best
      match in A), the change ``a_to_b``; unavailable (0) when that is its own A footprint, i.e. B split it off;
    * in B, from its B footprint to the B footprint corresponding to its A footprint, the change ``b_to_a``.

    The net weighted delta of a term is ``(a_to_b - b_to_a) / 2`` (``-b_to_a`` when the A move is unavailable):
    positive means moving the block costs A and moving it back gains B: the term favours A's placement; negative
    favours B's. Each block's move is priced on its own, so deltas of several blocks do not add up exactly.

    Returns
    -------
    blocks
        One row per differing block, most at stake first (largest absolute net delta, then code): ``code, name,
        region_ods, people, a_footprint, b_footprint, a_target, b_target`` (where each move takes it), ``delta``
        (net weighted delta, positive favours A), ``favours`` (``A``, ``B`` or ``neither``), ``favour_a`` and
        ``favour_b`` (the top terms each way, ``;``-separated) and one ``d_<term>`` column per term.
    terms
        One row per term: ``term, weight, favours_a, favours_b`` (differing blocks it favours each side on) and
        ``delta`` (its summed net weighted delta).
    """
    _check_pair(model, a, b)
    pop = model.population(params.population_measure) if population is None else np.asarray(population, float)
    _, _, best_b, best_a = _matching(a, b, pop)
    diff = np.flatnonzero(b.assignment != best_b[a.assignment])
    sc = scorer(model, params)
    w = np.array([params.weights.get(t, 0.0) for t in TERM_NAMES])
    to_a = best_a[b.assignment[diff]]
    to_a = np.where(to_a == a.assignment[diff], -1, to_a)
    to_b = best_b[a.assignment[diff]]
    d_a = _move_deltas(sc, a, diff, to_a) * w
    d_b = _move_deltas(sc, b, diff, to_b) * w
    net = np.where((to_a >= 0)[:, None], (d_a - d_b) / 2, -d_b)
    net[np.abs(net) <= _TOL] = 0.0
    bl = model.blocks
    total = net.sum(axis=1)
    rows = []
    for r, i in enumerate(diff):
        rows.append({"code": bl.code.iloc[i], "name": bl.name.iloc[i], "region_ods": bl.region_ods.iloc[i],
                     "people": float(pop[i]), "a_footprint": a.names[a.assignment[i]],
                     "b_footprint": b.names[b.assignment[i]], "a_target": a.names[to_a[r]] if to_a[r] >= 0 else "",
                     "b_target": b.names[to_b[r]], "delta": float(total[r]),
                     "favours": "A" if total[r] > _TOL else "B" if total[r] < -_TOL else "neither",
                     "favour_a": ";".join(_top(net[r], 1)), "favour_b": ";".join(_top(net[r], -1)),
                     **{f"d_{t}": float(net[r, k]) for k, t in enumerate(TERM_NAMES)}})
    cols = ["code", "name", "region_ods", "people", "a_footprint", "b_footprint", "a_target", "b_target", "delta",
            "favours", "favour_a", "favour_b", *[f"d_{t}" for t in TERM_NAMES]]
    table = pd.DataFrame(rows, columns=cols)
    if len(table):
        table = (table.assign(_key=-table.delta.abs()).sort_values(["_key", "code"], kind="stable")
                 .drop(columns="_key").reset_index(drop=True))
    terms = pd.DataFrame({"term": TERM_NAMES, "weight": w, "favours_a": (net > _TOL).sum(axis=0),
                          "favours_b": (net < -_TOL).sum(axis=0), "delta": net.sum(axis=0)})
    return table, terms


# ---------------------------------------------------------------------------------------------- all together
def compare(model, a: Configuration, b: Configuration, params, reference: np.ndarray | None = None,
            a_label: str = "A", b_label: str = "B", reference_label: str = "2024",
            notes: list[str] | None = None) -> Comparison:
    """Correspondence, co-assignment and differences of A against B (the truth).

    Parameters
    ----------
    model
        The model both configurations are drawn on.
    a, b
        The configurations.
    params
        ``MetricParameters``: the population measure (people in common, person weights) and the score weights.
    reference
        Footprint per block of the map whose ICBs co-assignment looks across (default: the 2024 map, or at level
        icb2026, where it cannot be drawn, every block on its own).
    a_label, b_label, reference_label
        Names for the overall summary.
    notes
        Caveats to carry in the overall summary (e.g. how an official map is drawn at this level).
    """
    _check_pair(model, a, b)
    pop = model.population(params.population_measure)
    if reference is None:
        if model.level == "icb2026":
            reference, reference_label = np.arange(model.n_blocks), "every block on its own"
        else:
            reference = model.map_assignment("2024")[0]
    pairs, matches = correspondence(model, a, b, pop)
    co = coassignment(model, a, b, reference, pop)
    diff, terms = differences(model, a, b, params, pop)
    o = co.iloc[-1]
    overall = _jsonable({
        "level": model.level, "blocks": model.n_blocks, "baseline": model.baseline,
        "a": a_label, "b": b_label, "a_footprints": a.n_footprints, "b_footprints": b.n_footprints,
        "identical": a.same_partition(b), "population_measure": params.population_measure,
        "footprints_identical": int(matches.identical.sum()),
        "reference": reference_label, "pairs_counted": int(o.pairs),
        **{k: o[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1", "tp_persons", "fp_persons",
                              "fn_persons", "precision_persons", "recall_persons", "f1_persons", "note")},
        "blocks_differing": len(diff), "people_differing": float(diff.people.sum()) if len(diff) else 0.0,
        "people_differing_share": _share(float(diff.people.sum()) if len(diff) else 0.0, float(pop.sum())),
        "differing_favour_a": int((diff.favours == "A").sum()) if len(diff) else 0,
        "differing_favour_b": int((diff.favours == "B").sum()) if len(diff) else 0,
        "notes": list(notes or []),
    })
    return Comparison(pairs, matches, co, diff, terms, overall)


# ---------------------------------------------------------------------------------------------- JSON
def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if np.isnan(x) else float(x)
    return x


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    # astype(object) keeps None as None rather than NaN in float columns
    return _jsonable(df.astype(object).where(df.notna(), None).to_dict(orient="records"))
