"""The feature catalog: search, lineage, freshness, quality, history and online status of
every feature view, from the registry and what the lake records (no second database)."""

from featurelake.catalog.app import create_app
from featurelake.catalog.service import Catalog, SearchFilters, search

__all__ = ["Catalog", "SearchFilters", "create_app", "search"]
