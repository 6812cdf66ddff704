"""Read a view's source for a time range, typed and checked, with pruning.

Output columns: the entity keys, `_ts` (event time, UTC timestamp), `_created` (the
source's created_timestamp or `_ts`), `_ts_raw_bad` (true where a string timestamp could
not be parsed) and one `_v<i>` per feature: its expression cast to the feature's type.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from featurelake.compute.errors import SourceColumnMissingError, SourceColumnTypeError, SourceNotFoundError
from featurelake.offline.tables import spark_type
from featurelake.registry.model import Registry
from featurelake.spark.times import TIME_TYPES, as_timestamp
from featurelake.specs.expressions import check_expression
from featurelake.specs.models import Feature, FeatureView, Source
from featurelake.specs.source_schema import source_location

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import DataType

_KEY_TYPES = {"ByteType", "ShortType", "IntegerType", "LongType", "StringType"}
_INTEGRAL = {"ByteType", "ShortType", "IntegerType", "LongType"}
_NUMERIC = _INTEGRAL | {"FloatType", "DoubleType", "DecimalType"}


def feature_value_column(i: int) -> str:
    return f"_v{i}"


def load_source(spark: SparkSession, view: FeatureView, source: Source, lake_root: str) -> DataFrame:
    location = source_location(source, lake_root)
    if "://" not in location and not Path(location).exists():
        raise SourceNotFoundError(view=view.name, source=source.name, path=location)
    reader = spark.read
    if source.format == "csv":
        reader = reader.option("header", True).option("inferSchema", source.columns is None)
        if source.columns:
            reader = reader.schema(", ".join(f"`{c}` {_csv_type(t)}" for c, t in source.columns.items()))
    try:
        return reader.format(source.format).load(location)
    except Exception as exc:  # AnalysisException: PATH_NOT_FOUND and friends
        if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc) or "not a Delta table" in str(exc):
            raise SourceNotFoundError(view=view.name, source=source.name, path=location) from None
        raise


def _csv_type(dtype: str) -> str:
    return {"int32": "int", "int64": "bigint", "bool": "boolean"}.get(dtype, dtype)


def _type_name(data_type: DataType) -> str:
    return type(data_type).__name__


def _fits(feature: Feature, found: DataType) -> bool:
    from pyspark.sql.types import ArrayType

    name = _type_name(found)
    if feature.aggregation and feature.aggregation.function == "count":
        return True
    if feature.dtype in {"array<double>", "embedding"}:
        return isinstance(found, ArrayType) and _type_name(found.elementType) in _NUMERIC
    expected = {
        "int64": _INTEGRAL,
        "double": _NUMERIC,
        "string": {"StringType"},
        "bool": {"BooleanType"},
        "timestamp": {"TimestampType", "TimestampNTZType", "DateType"},
    }[feature.dtype]
    return name in expected


def _check_columns(raw: DataFrame, registry: Registry, view: FeatureView) -> None:
    source = registry.sources[view.source]
    needed = [*registry.join_keys(view.name), registry.timestamp_column(view.name)]
    needed += [source.created_timestamp] if source.created_timestamp else []
    for feature in view.features:
        if feature.source_expression:
            needed += sorted(check_expression(feature.source_expression).columns)
    available = set(raw.columns)
    for column in needed:
        if column not in available:
            raise SourceColumnMissingError(
                view=view.name, source=source.name, column=column, available=", ".join(sorted(available))
            )
    types = {f.name: f.dataType for f in raw.schema.fields}
    for key in registry.join_keys(view.name):
        if _type_name(types[key]) not in _KEY_TYPES:
            raise SourceColumnTypeError(view=view.name, source=source.name, column=key, found=types[key].simpleString(),
                                        expected="an integer or string entity key", hint="")  # fmt: skip
    for column in [registry.timestamp_column(view.name), source.created_timestamp or ""]:
        if column and _type_name(types[column]) not in TIME_TYPES:
            raise SourceColumnTypeError(view=view.name, source=source.name, column=column,
                                        found=types[column].simpleString(), expected="a timestamp, date or string",
                                        hint="; epoch numbers: convert them in the source")  # fmt: skip


def _time_filter(raw: DataFrame, column: str, lo: datetime, hi: datetime) -> Column:
    """A predicate Spark can push into parquet row groups and partition pruning."""
    from pyspark.sql import functions as F

    kind = _type_name(raw.schema[column].dataType)
    if kind == "StringType":
        ts = as_timestamp(raw, column)
        return (ts >= F.lit(lo)) & (ts < F.lit(hi))
    if kind == "TimestampNTZType":
        lo_lit, hi_lit = F.lit(lo).cast("timestamp_ntz"), F.lit(hi).cast("timestamp_ntz")
    elif kind == "DateType":
        lo_lit, hi_lit = F.lit(lo.date()), F.lit(hi.date() + timedelta(days=1))
    else:
        lo_lit, hi_lit = F.lit(lo), F.lit(hi)
    predicate = (F.col(column) >= lo_lit) & (F.col(column) < hi_lit)
    if "date" in raw.columns and _type_name(raw.schema["date"].dataType) == "DateType" and column != "date":
        # a `date` partition column prunes whole folders; one day of margin either side
        lo_day, hi_day = lo.date() - timedelta(days=1), hi.date() + timedelta(days=1)
        predicate = predicate & (F.col("date") >= F.lit(lo_day)) & (F.col("date") <= F.lit(hi_day))
    return predicate


def _expression_types(raw: DataFrame, features: list[Feature]) -> dict[int, DataType]:
    """The type of each feature's source expression, from one analysis of them all (no Spark
    job; one round trip to the JVM instead of one per feature)."""
    from pyspark.sql import functions as F

    exprs = {i: f.source_expression for i, f in enumerate(features) if f.source_expression is not None}
    analysed = raw.select(*[F.expr(e).alias(f"_t{i}") for i, e in exprs.items()]).schema if exprs else None
    return {i: analysed[f"_t{i}"].dataType for i in exprs} if analysed else {}


def read_events(
    spark: SparkSession, registry: Registry, view: FeatureView, lake_root: str, lo: datetime, hi: datetime
) -> DataFrame:
    """Source rows with event time in [lo, hi), projected to keys, times and feature values."""
    from pyspark.sql import functions as F

    source = registry.sources[view.source]
    raw = load_source(spark, view, source, lake_root)
    _check_columns(raw, registry, view)
    ts_column = registry.timestamp_column(view.name)
    keys = registry.join_keys(view.name)
    ts = as_timestamp(raw, ts_column)
    raw_is_string = _type_name(raw.schema[ts_column].dataType) == "StringType"
    bad_ts = (F.col(ts_column).isNotNull() & ts.isNull()) if raw_is_string else F.lit(False)
    created = as_timestamp(raw, source.created_timestamp) if source.created_timestamp else ts
    values = []
    found_types = _expression_types(raw, view.features)
    for i, feature in enumerate(view.features):
        if feature.source_expression is None:  # count(*)
            values.append(F.lit(1).alias(feature_value_column(i)))
            continue
        value = F.expr(feature.source_expression)
        found = found_types[i]
        if not _fits(feature, found):
            raise SourceColumnTypeError(view=view.name, source=source.name, column=feature.source_expression,
                                        found=found.simpleString(), expected=feature.dtype,
                                        hint=f" by feature {feature.name!r}")  # fmt: skip
        values.append(value.cast(spark_type(feature)).alias(feature_value_column(i)))
    in_range = _time_filter(raw, ts_column, lo, hi)
    if raw_is_string:  # unparsable values must reach the checks, not vanish in the filter
        in_range = in_range | bad_ts
    return raw.where(in_range).select(
        *[F.col(k) for k in keys],
        ts.alias("_ts"),
        created.alias("_created"),
        bad_ts.alias("_ts_raw_bad"),
        (F.col(ts_column) if raw_is_string else F.lit(None).cast("string")).alias("_ts_raw"),
        *values,
    )
