"""Streamlit front end: transition teams see the map, change it, and read the consequences at once.

Thin by design: every decision lives in ``simulator`` (model, metrics, solvers, workspace); this file only lays
out the page, keeps the user's workspace in the session, and draws.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pydeck as pdk
import streamlit as st

from simulator.compare import coassignment
from simulator.configuration import Configuration
from simulator.errors import IcbSimError
from simulator.forecast import forecast
from simulator.formatting import bulleted, coassignment_view, money, people, score, share, styled, styled_diff
from simulator.mapdata import (authority_outlines, block_polygons, block_shapes, context_outlines, footprint_polygons,
                               network_links, trust_points)
from simulator.metrics.evaluate import MetricParameters
from simulator.metrics.score import DEFAULT_WEIGHTS, TERM_UNITS, TERMS
from simulator.io import outputs
from simulator.model import load_model
from simulator.scenario import Scenario, load_scenario
from simulator.solvers import BoundMethod
from simulator.solvers.run import optimise, start_configuration
from simulator.workspace import ScenarioStore, Workspace, diff, optimiser_rules, parse_upload, scenario_toml

LEVELS = {"icb2026": "Today's ICBs (36, from April 2026)", "icb2024": "ICBs of 2024 (42)",
          "sicbl": "Sub-ICB location (106)", "place": "Place (sub-ICB x council, 328)"}
BASELINES = {"2026": "April 2026: 36 ICBs (today)", "2024": "2024: 42 ICBs"}
SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
MEASURES = {"gp_registered": "GP-registered patients (Aug 2026)", "allocation": "Allocation population 2025/26",
            "census": "Census 2021 residents"}
COLOUR_BY = {"footprint": "Footprint", "band": "Population against the band", "allocation_per_head": "Allocation per head",
             "localisation_index": "Localisation index"}

st.set_page_config(page_title="ICB merger scenario simulator", layout="wide")


# ---------------------------------------------------------------------------------------------- cached data
@st.cache_resource(show_spinner="Loading the model from the official data ...")
def get_model(level: str, baseline: str = "2026"):
    return load_model(level, baseline=baseline)


@st.cache_resource
def get_store() -> ScenarioStore:
    return ScenarioStore()


@st.cache_data(show_spinner=False)
def shapes_for(level: str) -> list[dict]:
    return block_shapes(get_model(level))


@st.cache_data(show_spinner="Drawing authority outlines ...")
def authorities_for(authority_set: str) -> list[dict]:
    return authority_outlines(get_model("place"), authority_set)


@st.cache_data(show_spinner="Drawing council and NHS region outlines ...")
def context_for() -> list[dict]:
    return context_outlines(get_model("place"))


def small_map(title: str, config, target) -> None:
    target.caption(title)
    target.pydeck_chart(pdk.Deck(layers=[pdk.Layer("PolygonLayer", data=footprint_polygons(shapes, config),
                                                   get_polygon="polygon", get_fill_color="fill", pickable=True,
                                                   opacity=0.8)],
                                 initial_view_state=pdk.ViewState(latitude=52.8, longitude=-1.6, zoom=4.6),
                                 tooltip={"text": "{tip}"}, map_style=None), height=380)


# ---------------------------------------------------------------------------------------------- session
def workspace() -> Workspace:
    level = st.session_state.get("level", "icb2026")
    baseline = st.session_state.get("baseline", "2026")
    key = f"ws_{level}_{baseline}"
    if key not in st.session_state:
        st.session_state[key] = Workspace(get_model(level, baseline))
    return st.session_state[key]


@st.cache_data(show_spinner=False)  # read once, not on every rerun of the page
def shipped_scenarios() -> dict[str, Path]:
    """The scenario files shipped in ``scenarios/``, by their names."""
    out = {}
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        try:
            out[load_scenario(path).name] = path
        except IcbSimError:
            continue  # a broken file is left out of the list (icbsim evaluate names its fault)
    return out


def open_scenario(path: Path) -> None:
    """Switch to a scenario's level and map, start from its start and take its weights and rules."""
    sc = load_scenario(path)
    st.session_state["level"] = sc.level
    st.session_state["baseline"] = sc.baseline
    ws_new = workspace()
    ws_new.load(start_configuration(sc, ws_new.model))
    ws_new.params = sc.params
    show_params(sc.params)
    st.session_state["scenario_rules"] = (sc.name, dict(sc.constraints))
    say(f"Opened the scenario {sc.name}: {sc.level} level, from the {sc.baseline} map; its rules are used when you "
        "optimise.", "success")


def say(message: str, kind: str = "info") -> None:
    st.session_state["flash"] = (kind, message)


def show_params(params: MetricParameters) -> None:
    """Put opened parameters into the sidebar's widgets on the next run (they would otherwise keep their own)."""
    st.session_state["pending_params"] = params


def _param_state(params: MetricParameters) -> dict:
    """The sidebar widgets' values for these parameters, by widget key."""
    state = {"measure": params.population_measure,
             "band": tuple(min(max(b / 1e6, 0.5), 4.0) for b in params.band),
             "authority_set": params.authority_set}
    for t in TERMS:
        state[f"w_{t}"] = max(float(params.weights.get(t, DEFAULT_WEIGHTS[t])), 0.0)  # learned prices may pass 100
    return state


def _apply_pending_params(params: MetricParameters) -> None:
    """Give the sidebar's widgets their values in the session state before they are drawn (opened parameters, or
    on the first run the workspace's): the widgets take no default of their own, as a widget given both logs a
    warning."""
    pending = st.session_state.pop("pending_params", None)
    for key, value in _param_state(pending or params).items():
        if pending is not None or key not in st.session_state:
            st.session_state[key] = value


# ---------------------------------------------------------------------------------------------- sidebar
with st.sidebar:
    st.header("Scenario")
    scenarios = shipped_scenarios()
    pick_sc = st.selectbox("Start from a scenario in scenarios/", ["(none)"] + list(scenarios), key="scenario_pick")
    if st.button("Open scenario", key="open_scenario", disabled=pick_sc == "(none)"):
        try:
            open_scenario(scenarios[pick_sc])
        except IcbSimError as exc:
            say(str(exc), "error")
        st.rerun()
    st.radio("Today's map (the baseline)", list(BASELINES), format_func=BASELINES.get, key="baseline",
             help="The map change is measured against and the optimiser starts from.")
    if st.session_state.get("baseline", "2026") == "2024" and st.session_state.get("level") == "icb2026":
        st.session_state["level"] = "icb2024"  # the 2024 map cannot be drawn with today's ICBs as blocks
    level_options = [lv for lv in LEVELS if not (lv == "icb2026" and st.session_state.get("baseline") == "2024")]
    st.radio("Building blocks", level_options, format_func=LEVELS.get, key="level")
    ws = workspace()
    _apply_pending_params(ws.params)  # before the widgets are drawn: a widget's value cannot be set after
    measure = st.selectbox("Population measure (drives the band)", list(MEASURES), format_func=MEASURES.get,
                           key="measure")
    band = st.slider("Target band (millions)", 0.5, 4.0, step=0.1, key="band")
    authority_set = st.selectbox("Authorities to align with", ["mayoral", "strategic"], key="authority_set")
    with st.expander("Weights of the score (score per unit of each term)"):
        weights = {t: st.number_input(f"{t.replace('_', ' ')} (per {TERM_UNITS[t]})", 0.0, None, step=0.01,
                                      format="%.3f", help=TERMS[t], key=f"w_{t}") for t in TERMS}
        changed = [t for t in TERMS if abs(weights[t] - DEFAULT_WEIGHTS[t]) > 1e-12]
        if changed:
            # A calibrated scenario's prices were learned from decided maps: show them beside the defaults.
            st.caption("Prices that differ from the default price list")
            st.dataframe(pd.DataFrame({"term": [t.replace("_", " ") for t in changed],
                                       "default": [DEFAULT_WEIGHTS[t] for t in changed],
                                       "this scenario": [weights[t] for t in changed]}),
                         hide_index=True, width="stretch")
    ws.params = MetricParameters(population_measure=measure, band=(band[0] * 1e6, band[1] * 1e6), weights=weights,
                                 authority_set=authority_set)
    st.header("Map")
    colour_by = st.selectbox("Colour by", list(COLOUR_BY), format_func=COLOUR_BY.get, key="colour_by")
    show_trusts = st.checkbox("NHS trusts (major trusts larger)", value=False, key="show_trusts")
    show_networks = st.checkbox("Pathology networks (links between member trusts)", value=False, key="show_networks")
    show_authorities = st.checkbox("Mayoral / strategic authorities (outlines)", value=False, key="show_authorities")

    st.header("Optimiser")
    within_region = st.checkbox("Stay within NHS regions", value=False, key="opt_region")
    floor_hard = st.checkbox("Band floor is a hard limit", value=False, key="opt_floor")
    keep_councils = st.checkbox("Keep each district council whole", value=False, key="opt_councils")
    keep_upper_tier = st.checkbox("Keep each upper-tier council whole", value=False, key="opt_upper_tier",
                                  help="County councils and unitaries, the councils paired with ICBs; at least 98% "
                                       "of each council's residents in one footprint (best-fit slivers aside)")
    keep_authorities = st.checkbox("Keep each authority whole", value=False, key="opt_authorities")
    min_acute = st.number_input("At least this many acute trusts per footprint", 0, 5, 0, key="opt_acute")
    iterations = st.number_input("Local-search moves (place level)", 1000, 200000, 20000, 1000, key="opt_iters")
    run = st.button("Run optimiser", type="primary", key="run_optimiser")

model = ws.model

# ---------------------------------------------------------------------------------------------- optimiser
# Messages that come and go live in fixed slots (containers), so they never shift the elements below them: a
# shifted element is a new one to the browser, and the tabs would jump back to the first after every message.
running = st.empty()  # emptied when the run ends, so Cancel and the progress bar go with it
if run:
    rules = st.session_state.get("scenario_rules")
    constraints = optimiser_rules(rules[1] if rules else None, within_region=within_region,
                                  floor=ws.params.band[0] if floor_hard else None, keep_districts=keep_councils,
                                  keep_upper_tier=keep_upper_tier, keep_authorities=keep_authorities,
                                  min_acute_trusts=int(min_acute))
    scenario = Scenario(name="app", level=model.level, params=ws.params, constraints=constraints,
                        baseline=model.baseline)
    st.session_state["before_optimiser"] = (model.level, ws.configuration, ws.evaluation())
    box = running.container()
    box.button("Cancel", key="cancel_optimiser", help="Stops the optimiser and keeps your map as it was")
    bar = box.progress(0.0, text="Optimising ...")

    def progress(message: str, fraction: float) -> None:
        bar.progress(float(min(max(fraction, 0.0), 1.0)), text=message)  # a rerun (Cancel) stops the run here

    try:
        solver = optimise(scenario, model, iterations=int(iterations), time_limit=120.0, progress=progress)
        if solver.configuration_ is None:
            say(bulleted("No configuration meets these constraints:", solver.explanation_), "error")
        else:
            ws.load(solver.configuration_)
            st.session_state["after_optimiser"] = (model.level, solver.configuration_)
            # Margins region by region are offered where footprints stay within regions (worked out on request).
            st.session_state["firmness"] = None
            st.session_state["firmness_of"] = (model.level, scenario) if constraints.get("within_region") else None
            result = solver.result_
            gap = "no bound" if result.gap is None else f"gap {result.gap:.2%}"
            if result.gap is not None and result.bound_method in (BoundMethod.TERM_WISE, BoundMethod.BAND):
                which = "term-wise bound" + (" with the band" if result.bound_method is BoundMethod.BAND else "")
                gap += f" (against a {which}: wide, as the exact proof was not run)"
                st.session_state["gap_by_term"] = result.stats.get("gap_by_term")
            best = f", best of {len(result.restarts)} local searches" if result.restarts else ""
            say(f"Optimiser ({result.solver}): {result.status.value}, score {result.objective:.4f}, {gap}{best}, "
                f"{result.timings['total']:.1f} s. Undo returns to your map.", "success")
    except IcbSimError as exc:
        say(str(exc), "error")
    running.empty()

# ---------------------------------------------------------------------------------------------- header
st.title("ICB merger scenario simulator")
flash = st.container()
if "flash" in st.session_state:
    kind, message = st.session_state["flash"]  # dropped at the end of a run that gets there (no st.rerun on the way)
    getattr(flash, kind)(message)
    if st.session_state.get("gap_by_term"):
        # A wide gap says little by itself: which terms the bound cannot vouch for.
        with flash.expander("Where the gap may lie"):
            rows = [r for r in st.session_state["gap_by_term"] if r["answer"] - r["least"] > 5e-4]
            st.dataframe(pd.DataFrame({"term": [r["term"] for r in rows],
                                       "score in the answer": [f"{r['answer']:.3f}" for r in rows],
                                       "least the bound allows": [f"{r['least']:.3f}" for r in rows],
                                       "may be saved at most": [f"{r['answer'] - r['least']:.3f}" for r in rows]}),
                         hide_index=True, width="stretch")
            st.caption("The bound takes each term's least on its own (the band, people moved and ICBs split "
                       "together): terms with much to save are the ones no proof covers, not necessarily ones the "
                       "answer could do better on.")
ev = ws.evaluation()
o = ev.overall
ch = o["change_from_today"]
# Two rows of four: eight cards in one row cut their labels short on a laptop's screen.
cols = st.columns(4) + st.columns(4)
cols[0].metric("Footprints", o["footprints"], help=f"Today: {ch['today_icbs']} ICBs")
cols[1].metric(f"In band ({ws.params.band[0] / 1e6:.1f}-{ws.params.band[1] / 1e6:.1f}m)", o["in_band"])
cols[2].metric("Moving ICB", people(ch["people_moved"]),
               help="People in a footprint outside its largest part of one of today's ICBs")
cols[3].metric("Today's ICBs split", ch["today_icbs_split"],
               help=", ".join(ch["today_icbs_split_names"]) or "none: every ICB is whole, alone or merged whole")
cols[4].metric("£ at stake", money(o["at_stake_gbp"]),
               help="What the partners that gain would gain if each footprint levelled its allocation per head "
                    "(the others lose as much)")
cols[5].metric("Localisation", share(o["localisation_index"]),
               help="Residents' admissions at trusts inside their own footprint")
cols[6].metric("Running-cost saving", money(o["running_cost_saving_gbp"]),
               help="The 2025/26 running-cost allowances less this map's estimate: a fixed cost per statutory body "
                    "plus a cost per head, fitted to those allowances")
cols[7].metric("Score (lower is better)", score(ev.score))
st.caption(f"Population: {MEASURES[ws.params.population_measure]}. {LEVELS[model.level]} building blocks. Today's map: "
           f"{BASELINES[model.baseline]}.")
if st.session_state.get("scenario_rules"):
    st.caption(f"Optimising with the rules of the scenario {st.session_state['scenario_rules'][0]} (and the "
               "sidebar's toggles).")
for note in model.map_notes(model.baseline):
    st.caption(note)
problems = st.container()
for problem in ws.problems():
    problems.warning(problem)

# ---------------------------------------------------------------------------------------------- edit panel
cfg = ws.configuration
codes = list(model.blocks.code)
label = dict(zip(model.blocks.code, model.blocks.name))
if "map_pick" in st.session_state:  # blocks just clicked on the map: a keyed widget ignores a changed default
    st.session_state["pick_blocks"] = st.session_state.pop("map_pick")
with st.form("edit", clear_on_submit=False):
    c1, c2, c3 = st.columns([3, 2, 2])
    picked = c1.multiselect("Blocks to move (or click them on the map)", codes,
                            format_func=lambda c: f"{label[c]} ({c})", key="pick_blocks")
    target = c2.selectbox("Move to footprint", ["New footprint ..."] + cfg.names, key="target_fp")
    new_name = c3.text_input("Name of a new footprint", key="new_fp_name")
    moved = st.form_submit_button("Move blocks")
if moved:
    name = new_name if target == "New footprint ..." else target
    say(ws.reassign(picked, name))
    st.session_state["map_selection"] = []
    st.rerun()
c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
merge = c1.multiselect("Footprints to merge", cfg.names, key="merge_fps")
if c2.button("Merge", key="merge_btn"):
    say(ws.merge(merge))
    st.rerun()
if c3.button("Undo", key="undo", disabled=not ws.undo_stack):
    ws.undo()
    st.rerun()
if c4.button("Redo", key="redo", disabled=not ws.redo_stack):
    ws.redo()
    st.rerun()

# ---------------------------------------------------------------------------------------------- map
shapes = shapes_for(model.level)
# Councils and NHS regions drawn from the data under the footprints: context even where no basemap tiles load.
layers = [pdk.Layer("PathLayer", data=context_for(), id="context", get_path="path", get_color="colour",
                    get_width="width", width_min_pixels=1, width_max_pixels=3, pickable=False),
          pdk.Layer("PolygonLayer", data=block_polygons(shapes, cfg, ev, colour_by), id="blocks",
                    get_polygon="polygon", get_fill_color="fill", get_line_color=[255, 255, 255],
                    line_width_min_pixels=0.5, pickable=True, auto_highlight=True, opacity=0.8)]
if show_trusts:
    layers.append(pdk.Layer("ScatterplotLayer", data=trust_points(model), id="trusts", get_position=["lon", "lat"],
                            get_radius="r", get_fill_color=[20, 20, 20, 200], pickable=True))
if show_networks:
    layers.append(pdk.Layer("LineLayer", data=network_links(model), id="networks", get_source_position="from",
                            get_target_position="to", get_color=[120, 0, 120], get_width=2, pickable=True))
if show_authorities:
    layers.append(pdk.Layer("PathLayer", data=authorities_for(ws.params.authority_set), id="authorities",
                            get_path="path", get_color=[0, 0, 0], width_min_pixels=2, pickable=True))
deck = pdk.Deck(layers=layers, initial_view_state=pdk.ViewState(latitude=52.8, longitude=-1.6, zoom=5.3),
                tooltip={"text": "{tip}"}, map_style=None)
event = st.pydeck_chart(deck, on_select="rerun", selection_mode="multi-object", key="map", height=560)
try:
    objs = event.selection.objects.get("blocks", []) if event and event.selection else []
except AttributeError:
    objs = []
sel = sorted({o["code"] for o in objs})
if sel and sel != st.session_state.get("map_selection"):
    st.session_state["map_selection"] = sel
    st.session_state["map_pick"] = sel
    st.rerun()

# ---------------------------------------------------------------------------------------------- tables and charts
tabs = st.tabs(["Footprints", "Population", "Budget", "Flows and networks", "Authorities", "What changed",
                "Compare", "Save, open, download"])
fp = ev.footprints
with tabs[0]:
    table = fp[["footprint", "n_members", "population", "band_status", "people_moved", "today_icbs_split",
                "allocation_per_head", "allocation_per_head_spread", "distance_from_target", "at_stake_gbp",
                "localisation_index", "n_regions", "n_acute_trusts", "running_cost_allowance_estimate_gbp"]].copy()
    table["today_icbs_split"] = table.today_icbs_split.map(", ".join)
    st.dataframe(styled(table), hide_index=True, width="stretch")
with tabs[1]:
    chart = fp[["footprint", "population"]].sort_values("population", ascending=False).set_index("footprint")
    chart["floor"] = ws.params.band[0]
    chart["ceiling"] = ws.params.band[1]
    st.caption(f"Population ({MEASURES[ws.params.population_measure]}) against the band")
    st.bar_chart(chart[["population"]], height=320)
    st.line_chart(chart[["floor", "ceiling"]], height=160)
with tabs[2]:
    st.write(f"£ at stake if partners were levelled to their footprint's allocation per head: "
             f"**{money(o['at_stake_gbp'])}**; levelled to the footprint's distance from target: "
             f"**{money(o['at_stake_need_adjusted_gbp'])}**.")
    merged = ev.partners[ev.partners.footprint.map(fp.set_index("footprint").partners) > 1]
    if len(merged):
        st.dataframe(styled(merged[["footprint", "icb_name", "allocation_per_head", "distance_from_target",
                                    "change_per_head_levelling_gbp", "change_need_adjusted_gbp"]]),
                     hide_index=True, width="stretch")
    else:
        st.info("No footprint brings parts of two of today's ICBs together, so no partner's allocation would be "
                "levelled: nothing is at stake.")
    st.caption(ev.notes[1])
with tabs[3]:
    st.write(f"Localisation index {share(o['localisation_index'])}; major trusts serving 2+ footprints: "
             f"{o['major_trusts_shared']} of {o['major_trusts']}; pathology networks split: "
             f"{o['pathology_networks_split']} of {o['pathology_networks']}.")
    st.dataframe(styled(ev.major_trusts), hide_index=True, width="stretch")
    st.dataframe(styled(ev.networks), hide_index=True, width="stretch")
with tabs[4]:
    st.dataframe(styled(ev.authorities), hide_index=True, width="stretch")
    st.write(f"Upper-tier councils (county councils and unitaries) split: **{o['upper_tier_councils_split']}** of "
             f"{o['upper_tier_councils']} (more than {o['upper_tier_tolerance']:.0%} of their residents outside the "
             f"footprint holding most); {people(o['upper_tier_people_in_smaller_parts'])} people in the smaller parts. "
             "Below, every council with residents in more than one footprint.")
    councils = ev.councils
    st.dataframe(styled(councils[councils.n_footprints > 1].sort_values("share_in_one_footprint")), hide_index=True,
                 width="stretch")
with tabs[5]:
    today_key = f"today_{model.level}"
    if st.session_state.get(today_key, (None,))[0] != ws.params:
        st.session_state[today_key] = (ws.params, Workspace(model, ws.params).evaluation())
    today = st.session_state[today_key][1]
    st.write(f"{ws.blocks_moved()} block(s) have left the footprint that holds most of their ICB; "
             f"{o['footprints']} footprints against today's {ch['today_icbs']}; {people(ch['people_moved'])} people "
             f"change ICB; {ch['today_icbs_split']} of today's ICBs split.")
    st.dataframe(styled_diff(pd.DataFrame(diff(today, ev)).rename(columns={"A": "today", "B": "this map"})),
                 hide_index=True, width="stretch")
store = get_store()
with tabs[6]:
    before = st.session_state.get("before_optimiser")
    after = st.session_state.get("after_optimiser")
    if before and after and before[0] == after[0] == model.level:
        st.subheader("The optimiser's result beside your starting map")
        ev_after = Workspace(model, ws.params, after[1]).evaluation()
        st.dataframe(styled_diff(pd.DataFrame(diff(before[2], ev_after))
                                 .rename(columns={"A": "starting map", "B": "optimised"})),
                     hide_index=True, width="stretch")
        left, right = st.columns(2)
        small_map("Starting map", before[1], left)
        small_map("Optimised", after[1], right)
        firm = st.session_state.get("firmness_of")
        if firm and firm[0] == model.level:
            st.subheader("How firmly the result holds, region by region")
            if st.session_state.get("firmness") is None and st.button(
                    "Work out the margins", key="margins",
                    help="Solves each NHS region again for its runner-up: seconds at ICB and sub-ICB level, a minute "
                         "or two at place level"):
                with st.spinner("Solving each region's runner-up ..."):
                    try:
                        st.session_state["firmness"] = [r.for_people()
                                                        for r in forecast(firm[1], model, after[1])]
                    except IcbSimError as exc:
                        st.error(str(exc))
            if st.session_state.get("firmness"):
                st.dataframe(pd.DataFrame(st.session_state["firmness"]), hide_index=True, width="stretch")
                st.caption("Margin: how much more (in score points) the best configuration that differs in the "
                           "region scores, under the same rules: small margins are close calls.")
    st.subheader("Compare two maps")
    official = {f"Official map: {BASELINES[v]}": v for v in ("2026", "2024")
                if not (v == "2024" and model.level == "icb2026")}
    options = ["This map"] + list(official) + store.names(model.level)
    c1, c2 = st.columns(2)
    a = c1.selectbox("Map A", options, index=0, key="cmp_a")
    b = c2.selectbox("Map B", options, index=1, key="cmp_b")

    def resolve(name: str):
        if name == "This map":
            return cfg, ev
        if name in official:
            assignment, names = model.map_assignment(official[name])
            conf = Configuration(model, assignment, names, allow_noncontiguous=True)
        else:
            conf, _ = store.load(name, model)
        return conf, Workspace(model, ws.params, conf).evaluation()

    (cfg_a, ev_a), (cfg_b, ev_b) = resolve(a), resolve(b)
    st.dataframe(styled_diff(pd.DataFrame(diff(ev_a, ev_b)).rename(columns={"A": a, "B": b})), hide_index=True,
                 width="stretch")
    # Pairs of blocks that were apart in 2024; today's ICBs cannot be drawn on the 2024 map, so there every pair.
    older = model.map_assignment("2024")[0] if model.level != "icb2026" else np.arange(model.n_blocks)
    co = coassignment(model, cfg_a, cfg_b, older, model.population(ws.params.population_measure))
    scope = "blocks that were in different ICBs in 2024" if model.level != "icb2026" else "today's ICBs"
    st.caption(f"Pairwise co-assignment of {scope}, B as the truth: precision, recall and F1, overall and per NHS "
               "region.")
    why, co_table = coassignment_view(co, scope)
    if why:
        st.info(why)
    else:
        st.dataframe(co_table, hide_index=True, width="stretch")
    left, right = st.columns(2)
    small_map(a, cfg_a, left)
    small_map(b, cfg_b, right)
with tabs[7]:
    c1, c2 = st.columns(2)
    with c1:
        name = st.text_input("Save this map as", key="save_name")
        if st.button("Save", key="save_btn"):
            try:
                say(f"Saved {store.save(name, ws)}.", "success")
            except IcbSimError as exc:
                say(str(exc), "error")
            st.rerun()
        saved = store.names(model.level)
        if saved:
            pick = st.selectbox("Open a saved scenario", saved, key="open_name")
            if st.button("Open", key="open_btn"):
                conf, params = store.load(pick, model)
                ws.load(conf)
                ws.params = params
                show_params(params)
                say(f"Opened {pick}.", "success")
                st.rerun()
    with c2:
        up = st.file_uploader("Open a configuration (CSV unit_code,footprint; GeoJSON export; scenario TOML)",
                              type=["csv", "geojson", "json", "toml"], key="upload")
        if up is not None and st.button("Use the uploaded file", key="use_upload"):
            try:
                conf, params = parse_upload(up.name, up.getvalue(), model)
                ws.load(conf)
                if params is not None:
                    ws.params = params
                    show_params(params)
                say(f"Opened {up.name}: {conf.n_footprints} footprints.", "success")
            except IcbSimError as exc:
                say(str(exc), "error")
            st.rerun()
        key = (model.level, cfg.assignment.tobytes(), tuple(cfg.names), json.dumps(ws.params.weights))
        if st.button("Prepare downloads", key="prep_dl") or st.session_state.get("dl_key") == key:
            if st.session_state.get("dl_key") != key:
                st.session_state["dl_files"] = outputs(model, cfg, ev)  # dissolving footprints takes a moment
                st.session_state["dl_key"] = key
            files = st.session_state["dl_files"]
            st.download_button("Download footprints (GeoJSON)", files["footprints.geojson"],
                               file_name="footprints.geojson", mime="application/geo+json", key="dl_geojson")
            st.download_button("Download footprint table (CSV)", files["footprints.csv"], file_name="footprints.csv",
                               mime="text/csv", key="dl_csv")
            st.download_button("Download configuration (CSV)", files["assignment.csv"], file_name="assignment.csv",
                               mime="text/csv", key="dl_assignment")
            st.download_button("Download all metrics (JSON)", files["metrics.json"], file_name="metrics.json",
                               mime="application/json", key="dl_metrics")
            st.download_button("Download as a scenario file (TOML)", scenario_toml(ws), file_name="scenario.toml",
                               mime="application/toml", key="dl_toml")

st.session_state.pop("flash", None)  # shown by this run, which got to its end
st.session_state.pop("gap_by_term", None)
