"""Where feature tables live and what their columns are.

`<lake_root>/features/<view>/v<version>`: entity keys, `event_timestamp` (when the value
became true), `created_timestamp` (when it was computed), the features in their declared
dtypes, and `date` (the partition column).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurelake.specs.models import Feature, FeatureView

if TYPE_CHECKING:
    from pyspark.sql.types import DataType

EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"
PARTITION = "date"


def table_key(view: FeatureView) -> str:
    """The table's path under the lake root (also the name of its writer lease)."""
    return f"features/{view.name}/v{view.version}"


def table_path(lake_root: str, view: FeatureView) -> str:
    return f"{lake_root.rstrip('/')}/{table_key(view)}"


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
