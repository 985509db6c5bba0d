"""GeographicLib oracles shared by the geometry tests (the truth our code is checked against)."""

from __future__ import annotations

import math

from geographiclib.geodesic import Geodesic

WGS84 = Geodesic.WGS84


def edge_distance(lon: float, lat: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Oracle: distance from a point to the geodesic a-b, by coarse sampling then golden-section (geographiclib)."""
    line = WGS84.InverseLine(a[1], a[0], b[1], b[0])
    length = line.s13

    def f(s: float) -> float:
        p = line.Position(s)
        return float(WGS84.Inverse(lat, lon, p["lat2"], p["lon2"])["s12"])

    n = 16
    samples = [length * i / n for i in range(n + 1)]
    values = [f(s) for s in samples]
    k = min(range(n + 1), key=values.__getitem__)
    lo, hi = samples[max(k - 1, 0)], samples[min(k + 1, n)]
    inv_phi = (math.sqrt(5) - 1) / 2
    x1, x2 = hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo)
    f1, f2 = f(x1), f(x2)
    while hi - lo > 1e-7:
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - inv_phi * (hi - lo)
            f1 = f(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + inv_phi * (hi - lo)
            f2 = f(x2)
    return min(values[k], f1, f2, f(lo), f(hi))
