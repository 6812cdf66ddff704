"""FeatureStore: the Python entry point.

store = FeatureStore(repo="feature_specs", conf="conf/local.yaml")
training = store.get_historical_features(labels, features=["user_orders:spend_30d"])
online = store.get_online_features(["user_stats:spend_30d"], [{"user_id": 42}]).to_dict()
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.registry import apply_specs, load_registry
from featurelake.registry.model import FeatureRef, Registry
from featurelake.registry.store import RegistryStore

INDEX_REFRESH_S = 5.0

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from featurelake.offline.training_set import TrainingSetInfo
    from featurelake.online.materialize import MaterializeResult
    from featurelake.online.reader import OnlineFeatures, OnlineReader
    from featurelake.similarity import IndexCache, SimilarResult


class FeatureStore:
    def __init__(
        self,
        repo: str | Path = "feature_specs",
        conf: str | Path | FeaturelakeConfig | None = None,
        spark: SparkSession | None = None,
    ) -> None:
        self.repo = Path(repo)
        self.config = conf if isinstance(conf, FeaturelakeConfig) else load_config(conf)
        self._spark = spark

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            from featurelake.spark.session import build_spark_session

            self._spark = build_spark_session(self.config)
        return self._spark

    @cached_property
    def registry(self) -> Registry:
        """The applied registry (what `featurelake apply` made live)."""
        return load_registry(self.config)

    def apply(self, allow_destroy: bool = False) -> int | None:
        """Apply the repo's specs; returns the new registry version (None: no change)."""
        _, version = apply_specs(self.repo, self.config, allow_destroy=allow_destroy)
        self.__dict__.pop("registry", None)
        return version

    @cached_property
    def online(self) -> OnlineReader:
        """Reads from the configured Redis (connected on first use; typed errors when it cannot be)."""
        from featurelake.online.reader import OnlineReader
        from featurelake.online.redis_server import connect

        return OnlineReader(connect(self.config), self.registry)

    def get_online_features(
        self,
        features: list[str] | None = None,
        entity_rows: list[dict[str, Any]] | None = None,
        feature_service: str | None = None,
        full_feature_names: bool = False,
    ) -> OnlineFeatures:
        """The newest values online, one Redis round trip for any number of features and entities."""
        return self.online.get(self.resolve(features, feature_service), entity_rows or [], full_feature_names)

    @cached_property
    def indexes(self) -> IndexCache:
        """The similarity indexes this process has opened; a new version is picked up within
        `INDEX_REFRESH_S` of being published, without a restart."""
        from featurelake.similarity import IndexCache

        return IndexCache(self.config.lake_root, self.config.state_dir / "index-cache", INDEX_REFRESH_S)

    def find_similar(
        self,
        feature: str,
        entity: dict[str, Any] | None = None,
        vector: Sequence[float] | None = None,
        k: int = 10,
        features: list[str] | None = None,
        filter: dict[str, Any] | None = None,
    ) -> SimilarResult:
        """The k live entities nearest to `entity`'s vector (itself left out) or to `vector`, by the
        feature's index; with `features`, their online values; `filter` on online values keeps K
        results whenever K entities match. The answer names the index version it came from."""
        from featurelake.similarity import find_similar, indexed_feature

        ref, _ = indexed_feature(self.registry, feature)
        index = self.indexes.get(ref.view, self.registry.view(ref.view).version, ref.feature)
        needs_online = bool(features or filter)
        return find_similar(index, self.registry, feature, entity=entity, vector=vector, k=k, features=features or [],
                            filter=filter, fetch=self._fetch_full_names if needs_online else None)  # fmt: skip

    def find_similar_batch(self, queries: DataFrame, feature: str, k: int = 10) -> DataFrame:
        """find_similar for a Spark DataFrame of entities (join key columns) or of `vector`s: one row
        per (query, neighbour), ranked; a query that cannot be answered gets one row saying why."""
        from featurelake.similarity.batch import find_similar_batch

        return find_similar_batch(self.spark, self.registry, self.indexes, queries, feature, k)

    def _fetch_full_names(self, refs: list[FeatureRef], rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        return self.online.get(refs, rows, full_feature_names=True).to_dict()

    def materialize(self, view: str, full: bool = False, reset: bool = False) -> MaterializeResult:
        """Write the newest row per entity of an online view into Redis (incremental unless
        `full`; `reset` deletes the view's online values first)."""
        from featurelake.online.materialize import materialize_view

        # Spark starts only if the run needs it (a full run from the latest rows does not).
        return materialize_view(lambda: self.spark, self.config, self.registry, view, full=full, reset=reset)

    def resolve(self, features: list[str] | None = None, feature_service: str | None = None) -> list[FeatureRef]:
        refs = self.registry.service_refs(feature_service) if feature_service else []
        return refs + self.registry.resolve_refs(features or [])

    def get_historical_features(
        self,
        labels: Any,
        features: list[str] | None = None,
        feature_service: str | None = None,
        timestamp_column: str = "event_timestamp",
        full_feature_names: bool = False,
    ) -> DataFrame:
        """Labels (Spark/pandas DataFrame or a path) joined point-in-time with the features."""
        from featurelake.offline.training_set import build

        refs = self.resolve(features, feature_service)
        frame, _ = build(self.spark, self.registry, self.config.lake_root, labels, refs, timestamp_column,
                         full_feature_names)  # fmt: skip
        return frame

    def build_training_set(
        self,
        labels: Any,
        output: str,
        features: list[str] | None = None,
        feature_service: str | None = None,
        timestamp_column: str = "event_timestamp",
        full_feature_names: bool = False,
        output_format: str = "parquet",
        overwrite: bool = False,
        labels_format: str | None = None,
    ) -> TrainingSetInfo:
        """Build, write (atomically) and describe a training set; returns its metadata."""
        refs = self.resolve(features, feature_service)
        version = RegistryStore(self.config.lake_root).current_version()
        return self._build(labels, output, refs, timestamp_column, full_feature_names, output_format, overwrite,
                           labels_format, pinned=None, registry=(self.registry, version))  # fmt: skip

    def reproduce_training_set(self, metadata: str | Path, output: str, overwrite: bool = False) -> TrainingSetInfo:
        """Rebuild a training set from its metadata JSON: same labels, refs, registry and table versions."""
        from featurelake.offline.training_set import read_metadata

        meta = read_metadata(metadata)
        registry = load_registry(self.config, meta["registry_version"])
        refs = registry.resolve_refs(meta["feature_refs"])
        pinned = {view: int(t["delta_version"]) for view, t in meta["tables"].items()}
        return self._build(meta["labels"], output, refs, meta["timestamp_column"], meta["full_feature_names"],
                           meta["output_format"] or "parquet", overwrite, None, pinned,
                           (registry, meta["registry_version"]))  # fmt: skip

    def _build(
        self,
        labels: Any,
        output: str,
        refs: list[FeatureRef],
        timestamp_column: str,
        full_feature_names: bool,
        output_format: str,
        overwrite: bool,
        labels_format: str | None,
        pinned: dict[str, int] | None,
        registry: tuple[Registry, int | None],
    ) -> TrainingSetInfo:
        from featurelake.offline.training_set import build, output_rows, write_atomically, write_metadata

        started = time.monotonic()
        frame, info = build(self.spark, registry[0], self.config.lake_root, labels, refs, timestamp_column,
                            full_feature_names, labels_format, pinned)  # fmt: skip
        info.registry_version = registry[1]
        written = time.monotonic()
        write_atomically(frame, output, output_format, overwrite)
        info.timings_s["join_and_write"] = round(time.monotonic() - written, 3)
        info.output, info.output_format = output, output_format
        info.output_rows = output_rows(self.spark, output, output_format)
        info.timings_s["total"] = round(time.monotonic() - started, 3)
        write_metadata(info, output, self.config.lake_root)
        return info
