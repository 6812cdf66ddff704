"""Time columns as featurelake reads them: timestamp, naive timestamp, date or ISO string, all as UTC."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

TIME_TYPES = {"TimestampType", "TimestampNTZType", "DateType", "StringType"}


def type_name(frame: DataFrame, column: str) -> str:
    return type(frame.schema[column].dataType).__name__


def as_timestamp(frame: DataFrame, column: str) -> Column:
    """The column as a UTC timestamp; unparsable strings become null (callers count them)."""
    from pyspark.sql import functions as F

    if type_name(frame, column) == "StringType":
        return F.try_to_timestamp(F.col(column))
    return F.col(column).cast("timestamp")  # naive (NTZ) timestamps are read as UTC
