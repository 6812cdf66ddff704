"""Where feature tables live and what their columns are.

`<lake_root>/features/<view>/v<version>`: entity keys, `event_timestamp` (when the value
became true), `created_timestamp` (when it was computed), the features in their declared
dtypes, and `date` (the partition column).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from featurelake.specs.models import Feature, FeatureView
from featurelake.storage import join, storage_for

if TYPE_CHECKING:
    from pyspark.sql.types import DataType

EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"
PARTITION = "date"
_COMMIT = re.compile(r"\d{20}\.json")


def table_key(view: FeatureView) -> str:
    """The table's path under the lake root (also the name of its writer lease)."""
    return f"features/{view.name}/v{view.version}"


def table_path(lake_root: str, view: FeatureView) -> str:
    return f"{lake_root.rstrip('/')}/{table_key(view)}"


def committed_version(table: str) -> int | None:
    """The newest committed version of the Delta table at `table`; None when it has none.

    A commit exists once its `_delta_log/<20 digits>.json` does (Delta creates it atomically,
    and log cleanup never removes the newest), so one listing answers what `isDeltaTable`
    and `history(1)` answer with two Delta snapshots, without Spark."""
    names = storage_for(table).list(join(table, "_delta_log"))
    versions = [int(name[:20]) for name in names if _COMMIT.fullmatch(name)]
    return max(versions) if versions else None


def spark_type(feature: Feature) -> DataType:
    """The Spark type a feature is stored as (embedding = array<float>)."""
    from pyspark.sql import types as T

    simple: dict[str, DataType] = {
        "int64": T.LongType(),
        "double": T.DoubleType(),
        "string": T.StringType(),
        "bool": T.BooleanType(),
        "timestamp": T.TimestampType(),
        "array<double>": T.ArrayType(T.DoubleType()),
        "embedding": T.ArrayType(T.FloatType()),
    }
    return simple[feature.dtype]
