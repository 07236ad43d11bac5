"""Where each dataset lives: the data directory, the files it must hold, and their official publishers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from boundaries.errors import DataError

DATA_ENV_VAR = "ICBSIM_DATA"
"""Environment variable naming the data directory (overridden by ``--data-dir``)."""

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SourceFile:
    """One file of the data directory and the official publication it comes from."""

    path: str
    publisher: str
    publication: str
    url: str


REQUIRED_FILES: dict[str, SourceFile] = {
    f.path: f
    for f in [
        SourceFile("geo/icb_boundaries_apr2023_bsc.geojson", "ONS", "Integrated Care Boards (April 2023) EN BSC",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("geo/sicbl_boundaries_apr2023_bsc.geojson", "ONS", "Sub Integrated Care Board Locations (April 2023) EN BSC",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("geo/lad_boundaries_may2024_bsc.geojson", "ONS", "Local Authority Districts (May 2024) Boundaries UK BSC",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("geo/lookup_lsoa21_sicbl24_icb24_lad24_population.csv", "ONS",
                   "LSOA (2021) to SICBL to ICB to LAD (April 2024) lookup; Census 2021 usual residents",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("geo/lookup_sicbl24_icb24_nhser24.csv", "ONS", "SICBL to ICB to NHS England region (April 2024)",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("geo/lookup_icb24_nhser24.csv", "ONS", "ICB to NHS England region (April 2024)",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("geo/lad24_sicbl24_population_shares.csv", "ONS", "LAD x SICBL Census 2021 population (derived)",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("geo/lad24_summary.csv", "ONS", "LAD24 summary with region and combined authority",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("geo/lookup_place_icb26.csv", "ONS / NHS England",
                   "Place (SICBL24 x LAD24) to ICB from 1 April 2026 (LSOA21 to SICBL to ICB April 2026 lookup; "
                   "written ministerial statement of 9 September 2025)", "https://geoportal.statistics.gov.uk/"),
        SourceFile("finance/icb26_gp_registered_patients_2026_08.csv", "NHS England",
                   "Patients Registered at a GP Practice, August 2026, by ICB of April 2026",
                   "https://digital.nhs.uk/data-and-information/publications/statistical/patients-registered-at-a-gp-practice"),
        SourceFile("geo/icb_adjacency.csv", "ONS", "ICB adjacency (derived from BSC boundaries)",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("geo/sicbl_adjacency.csv", "ONS", "SICBL adjacency (derived from BSC boundaries)",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("geo/lad_adjacency.csv", "ONS", "LAD adjacency (derived from BSC boundaries)",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("geo/strategic_authorities.csv", "ONS / MHCLG", "Combined, mayoral and strategic authorities",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("geo/lookup_lad25_cauth25_may2025.csv", "ONS", "LAD to Combined Authority (May 2025) lookup",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("geo/lookup_lad24_strategic_authority_supplement.csv", "MHCLG",
                   "Greater London and Devolution Priority Programme memberships (transcribed)",
                   "https://www.gov.uk/government/organisations/ministry-of-housing-communities-local-government"),
        SourceFile("geo/lookup_lad24_utla24.csv", "ONS",
                   "Lower Tier Local Authority to Upper Tier Local Authority (April 2023) Lookup in EW (2024 districts)",
                   "https://geoportal.statistics.gov.uk/"),
        SourceFile("finance/icb_allocations_2025_26.csv", "NHS England", "ICB allocations 2025/26",
                   "https://www.england.nhs.uk/allocations/"),
        SourceFile("finance/icb_population.csv", "NHS England / ONS", "ICB population measures",
                   "https://digital.nhs.uk/data-and-information/publications/statistical/patients-registered-at-a-gp-practice"),
        SourceFile("finance/sicbl_population.csv", "NHS England / ONS", "Sub-ICB population measures",
                   "https://digital.nhs.uk/data-and-information/publications/statistical/patients-registered-at-a-gp-practice"),
        SourceFile("finance/icb_weighted_population.csv", "NHS England", "ICB place-based allocation tool: weighted populations",
                   "https://www.england.nhs.uk/allocations/"),
        SourceFile("finance/sicbl_weighted_population_2025_26.csv", "NHS England",
                   "Sub-ICB weighted populations 2025/26", "https://www.england.nhs.uk/allocations/"),
        SourceFile("finance/icb_imd2025.csv", "MHCLG", "English indices of deprivation 2025, ICB summaries",
                   "https://www.gov.uk/government/statistics/english-indices-of-deprivation-2025"),
        SourceFile("finance/sicbl_imd2025.csv", "MHCLG", "English indices of deprivation 2025, sub-ICB (derived)",
                   "https://www.gov.uk/government/statistics/english-indices-of-deprivation-2025"),
        SourceFile("finance/lad_imd2025.csv", "MHCLG", "English indices of deprivation 2025, LAD summaries",
                   "https://www.gov.uk/government/statistics/english-indices-of-deprivation-2025"),
        SourceFile("finance/sicbl_gp_payments_2022_23.csv", "NHS Digital", "NHS Payments to General Practice 2022-23",
                   "https://digital.nhs.uk/data-and-information/publications/statistical/nhs-payments-to-general-practice"),
        SourceFile("finance/icb_gp_payments_2022_23.csv", "NHS Digital", "NHS Payments to General Practice 2022-23",
                   "https://digital.nhs.uk/data-and-information/publications/statistical/nhs-payments-to-general-practice"),
        SourceFile("finance/prescribing_pca_dispensed_icb_2023_24_2024_25.csv", "NHSBSA",
                   "Prescription Cost Analysis, by dispensing ICB",
                   "https://opendata.nhsbsa.net/dataset/prescription-cost-analysis-pca-monthly-data"),
        SourceFile("providers/trusts.csv", "NHS England ODS", "NHS trusts with beds, A&E and catchment figures",
                   "https://digital.nhs.uk/services/organisation-data-service"),
        SourceFile("providers/flows_area_trust.csv", "OHID", "NHS Acute (Hospital) Trust Catchment Populations",
                   "https://www.gov.uk/government/organisations/office-for-health-improvement-and-disparities"),
        SourceFile("providers/pathology_networks.csv", "NHS England / NHS Improvement",
                   "Pathology networks (transcribed)", "https://www.england.nhs.uk/"),
    ]
}


def _candidates(explicit: str | os.PathLike | None) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    if explicit:
        out.append(("--data-dir", Path(explicit)))
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        out.append((DATA_ENV_VAR, Path(env)))
    out.append(("../shared/data beside the project", _PROJECT_ROOT.parent / "shared" / "data"))
    out.append(("../shared/data beside the working directory", Path.cwd().parent / "shared" / "data"))
    out.append(("local cache", cache_dir()))
    return out


def cache_dir() -> Path:
    """Return the local cache that ``icbsim data fetch`` fills."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "icbsim" / "data"


def missing_files(data_dir: Path) -> list[str]:
    """List the required files that ``data_dir`` lacks."""
    return [p for p in REQUIRED_FILES if not (data_dir / p).is_file()]


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Find the data directory.

    An explicit directory (``--data-dir``) wins, then the ``ICBSIM_DATA`` environment variable, then
    ``../shared/data`` beside the project, then the local cache filled by ``icbsim data fetch``.

    Raises
    ------
    DataError
        If an explicitly named directory lacks files, or no candidate holds the data.
    """
    for label, path in _candidates(explicit):
        if label in ("--data-dir", DATA_ENV_VAR):
            if not path.is_dir():
                raise DataError(f"data directory {path} (from {label}) does not exist")
            missing = missing_files(path)
            if missing:
                raise DataError(f"data directory {path} (from {label}) lacks {len(missing)} required file(s), "
                                f"first {missing[0]}; run 'icbsim --data-dir {path} data check' for the list")
            return path.resolve()
        if path.is_dir() and not missing_files(path):
            return path.resolve()
    raise DataError("no data directory found: put the official data in ../shared/data, set "
                    f"{DATA_ENV_VAR} or --data-dir, or run 'icbsim data fetch'")
