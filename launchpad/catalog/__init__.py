"""The preset catalog: schema, the three sources it merges, and installed state from disk."""

from .loader import Catalog, load_catalog
from .schema import CatalogWarning, CivitaiSource, HFSource, ModelFile, Preset, UrlSource

__all__ = ["Catalog", "CatalogWarning", "CivitaiSource", "HFSource", "ModelFile", "Preset", "UrlSource", "load_catalog"]
