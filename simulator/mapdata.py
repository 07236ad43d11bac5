"""Map layers for the app: block polygons coloured by footprint or by a metric, trusts, network links, outlines."""

from __future__ import annotations

import hashlib

import numpy as np
import shapely
from shapely.geometry import mapping

from simulator.metrics.authorities import selected

BAND_COLOURS = {"below band": [214, 96, 77], "in band": [77, 172, 38], "above band": [67, 147, 195]}
# Line widths in metres: the app's layer keeps them between 1 and 3 pixels (deck.gl's pixel units draw spikes).
COUNCIL_LINE = {"colour": [110, 110, 110, 160], "width": 1}
REGION_LINE = {"colour": [40, 40, 40, 230], "width": 6000}


def block_shapes(model, tolerance: float = 0.002) -> list[dict]:
    """Simplified outer rings of each block (lon/lat, 4 decimals) for drawing; compute once per level."""
    out = []
    for code, name, geom in zip(model.blocks.code, model.blocks.name, model.geometry):
        simple = shapely.simplify(geom, tolerance, preserve_topology=True)
        rings = [[[round(x, 4), round(y, 4)] for x, y in mapping(p)["coordinates"][0]]
                 for p in shapely.get_parts(simple)]
        out.append({"code": code, "name": name, "rings": rings})
    return out


def footprint_colour(name: str) -> list[int]:
    """A stable colour per footprint name."""
    h = hashlib.md5(name.encode()).digest()
    return [60 + h[0] % 170, 60 + h[1] % 170, 60 + h[2] % 170]


def block_polygons(shapes: list[dict], config, evaluation, colour_by: str = "footprint") -> list[dict]:
    """Rows for a pydeck PolygonLayer: one per ring, with fill colour and a tooltip (lines split by newlines)."""
    fp_of = dict(zip(config.model.blocks.code, np.array(config.names)[config.assignment]))
    rows = evaluation.footprints.set_index("footprint")
    metric = None
    if colour_by not in ("footprint", "band"):
        metric = rows[colour_by].astype(float)
        lo, hi = float(metric.min()), float(metric.max())
    tips, fills = {}, {}
    for f, row in rows.iterrows():
        names = list(row.member_names)
        members = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        tips[f] = (f"Footprint: {f}\nPopulation: {row.population:,.0f} ({row.band_status})\nMembers ({row.n_members}): "
                   f"{members}\nAllocation per head: £{row.allocation_per_head:,.0f}\nLocalisation: "
                   f"{row.localisation_index:.1%}")
        if colour_by == "footprint":
            fills[f] = footprint_colour(f)
        elif colour_by == "band":
            fills[f] = BAND_COLOURS[row.band_status]
        else:
            t = 0.5 if hi <= lo else (float(metric[f]) - lo) / (hi - lo)
            fills[f] = [int(240 - 200 * t), int(240 - 120 * t), int(255 - 60 * t)]
    out = []
    for s in shapes:
        f = fp_of[s["code"]]
        tip = f"{s['name']} ({s['code']})\n{tips[f]}"
        for ring in s["rings"]:
            out.append({"code": s["code"], "polygon": ring, "fill": fills[f], "tip": tip})
    return out


def trust_points(model) -> list[dict]:
    """Acute trusts with a location (major trusts drawn larger)."""
    t = model.trusts
    ok = (model.trust_host >= 0) & t.lat.notna().to_numpy() & t.acute.to_numpy()
    return [{"lon": r.lon, "lat": r.lat, "r": 3500 if r.major else 1500,
             "tip": f"{r.name}\n{'Major trust: ' + r.major_reason if r.major else 'Acute trust'}"}
            for r in t[ok].itertuples()]


def network_links(model) -> list[dict]:
    """Lines between consecutive member trusts of each pathology network."""
    t = model.trusts
    pos = {c: (lon, lat) for c, lon, lat in zip(t.code, t.lon, t.lat) if lat == lat}
    links = []
    for n, members in enumerate(model.network_trusts):
        pts = [pos[t.code.iloc[i]] for i in members if t.code.iloc[i] in pos]
        for a, b in zip(pts, pts[1:]):
            links.append({"from": a, "to": b, "tip": model.networks.network_name.iloc[n]})
    return links


def authority_outlines(place_model, authority_set: str = "mayoral") -> list[dict]:
    """Outline paths of the selected authorities, dissolved from the place blocks they cover.

    Places lie wholly in one council, so at place level an authority is exactly a union of places.
    """
    out = []
    for a in selected(place_model, authority_set):
        idx = [i for i in range(place_model.n_blocks) if place_model.authority_overlap[i, a] > 0]
        if not idx:
            continue
        shape = shapely.simplify(shapely.union_all([place_model.geometry[i] for i in idx], grid_size=1e-6), 0.002)
        for poly in shapely.get_parts(shape):
            path = [[round(x, 4), round(y, 4)] for x, y in mapping(poly)["coordinates"][0]]
            out.append({"path": path, "tip": place_model.authorities.name.iloc[a]})
    return out


def context_outlines(place_model, tolerance: float = 0.005) -> list[dict]:
    """Outline paths of the councils and NHS regions, dissolved from the place blocks: the map's context where no
    basemap tiles can be fetched (offline), drawn under the footprints.

    Places lie wholly in one council and one region, so each is exactly a union of places. Rows: ``path``
    (lon/lat, 4 decimals), ``colour``, ``width`` (metres) and ``tip``; councils first, so regions draw on top.
    """
    blocks = place_model.blocks
    out = []
    for col, name_col, kind, style in (("lad_code", "lad_name", "Council", COUNCIL_LINE),
                                       ("region_ods", "region_name", "NHS region", REGION_LINE)):
        codes = blocks[col].to_numpy()
        names = dict(zip(blocks[col], blocks[name_col]))
        for code in sorted(set(codes.tolist()) - {""}):
            idx = np.flatnonzero(codes == code)
            shape = shapely.simplify(shapely.union_all([place_model.geometry[i] for i in idx], grid_size=1e-6),
                                     tolerance)
            for poly in shapely.get_parts(shape):
                if poly.geom_type != "Polygon" or poly.is_empty:
                    continue  # a stray line or point left by dissolving: nothing to outline
                path = _rounded_path(poly.exterior.coords)
                if len(path) > 2:
                    out.append({"path": path, "tip": f"{kind}: {names[code]}", **style})
    return out


def _rounded_path(coords) -> list[list[float]]:
    """Points rounded to 4 decimals (about 10 m), without repeats: a zero-length step makes deck.gl draw a spike."""
    path: list[list[float]] = []
    for x, y in coords:
        point = [round(x, 4), round(y, 4)]
        if not path or point != path[-1]:
            path.append(point)
    return path


def footprint_polygons(shapes: list[dict], config) -> list[dict]:
    """Rows for a small map of a configuration: blocks coloured by footprint."""
    fps = dict(zip(config.model.blocks.code, np.array(config.names)[config.assignment]))
    return [{"polygon": ring, "fill": footprint_colour(fps[s["code"]]), "tip": f"{s['name']}\n{fps[s['code']]}"}
            for s in shapes for ring in s["rings"]]
