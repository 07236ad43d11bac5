"""Population per footprint under the chosen measure, and the target band."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.metrics._common import footprint_sum


def out_of_band(population: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Persons below the floor or above the ceiling (0 inside the band)."""
    lo, hi = band
    return np.maximum(lo - population, 0.0) + np.maximum(population - hi, 0.0)


def population_table(model, config, measure: str, band: tuple[float, float]) -> pd.DataFrame:
    """Per footprint: population, whether it is in the band, and persons outside it."""
    pop = footprint_sum(config.assignment, model.population(measure), config.n_footprints)
    lo, hi = band
    status = np.where(pop < lo, "below band", np.where(pop > hi, "above band", "in band"))
    return pd.DataFrame({"population": pop, "in_band": (pop >= lo) & (pop <= hi), "band_status": status,
                         "persons_outside_band": out_of_band(pop, band)})
