"""Point-in-time training sets against a brute-force pandas oracle, plus bad input and reproducibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featurelake.config import load_config
from featurelake.offline import training_set
from featurelake.offline.tables import table_path
from featurelake.offline.training_set import (
    EmptyLabelsError,
    FeatureNameClashError,
    LabelColumnMissingError,
    LabelKeyTypeError,
    LabelsUnreadableError,
    LabelTimestampError,
    OutputExistsError,
)
from featurelake.registry import apply_specs
from featurelake.registry.model import UnknownFeatureError, UnknownViewError
from featurelake.store import FeatureStore

SPEC = """
entities:
  - {name: user, join_keys: [user_id]}
  - {name: product, join_keys: [product_id]}
sources:
  - {name: s_stats, format: parquet, path: raw/s, timestamp: event_timestamp, created_timestamp: created}
  - {name: s_profile, format: parquet, path: raw/p, timestamp: event_timestamp}
  - {name: s_product, format: parquet, path: raw/q, timestamp: event_timestamp}
"""
VIEWS = {
    "stats": ("user", "s_stats", "3d", ["spend: {dtype: double}", "purchases: {dtype: int64, default: -1}"]),
    "profile": ("user", "s_profile", "10d", ["tier: {dtype: string}", "spend: {dtype: double}"]),
    "product": ("product", "s_product", "1d", ["price: {dtype: double, default: 9.5}"]),
}
T0 = pd.Timestamp("2025-02-01", tz="UTC")
KEYS = {"user": "user_id", "product": "product_id"}


def view_yaml(name: str) -> str:
    entity, source, ttl, features = VIEWS[name]
    header = f"feature_view:\n  name: {name}\n  version: 1\n  entity: {entity}\n  source: {source}\n  owner: t\n"
    items = []
    for feature in features:
        feature_name, spec = feature.split(": ", 1)
        items.append(f"    - {{name: {feature_name}, {spec[1:]}\n")
    return header + f"  ttl: {ttl}\n  features:\n" + "".join(items)


def feature_rows(rng: np.random.Generator, view: str, n: int, entities: int) -> pd.DataFrame:
    key = KEYS[VIEWS[view][0]]
    ts = T0 + pd.to_timedelta(rng.integers(0, 20 * 86400, n) // 3600 * 3600, unit="s")  # whole hours: many ties
    frame = pd.DataFrame({key: rng.integers(0, entities, n).astype(np.int64), "event_timestamp": ts})
    frame["created_timestamp"] = frame.event_timestamp + pd.to_timedelta(rng.integers(0, 5, n) * 60, unit="s")
    frame = frame.drop_duplicates([key, "event_timestamp", "created_timestamp"])  # the validation gate's rule
    m = len(frame)
    if view == "stats":
        frame["spend"] = rng.gamma(2.0, 10.0, m).round(3)
        frame["purchases"] = pd.array(np.where(rng.random(m) < 0.1, None, rng.integers(0, 9, m)), dtype="Int64")
    elif view == "profile":
        frame["tier"] = rng.choice(["gold", "silver", None], m)
        frame["spend"] = rng.random(m).round(4)
    else:
        frame["price"] = np.where(rng.random(m) < 0.1, np.nan, rng.gamma(2.0, 5.0, m).round(2))
    frame["date"] = frame.event_timestamp.dt.date
    return frame


def make_labels(rng: np.random.Generator, tables: dict[str, pd.DataFrame], n: int = 600) -> pd.DataFrame:
    labels = pd.DataFrame({
        "user_id": pd.array(rng.integers(0, 35, n), dtype="Int64"),  # 30 users have features: 5 are unknown
        "product_id": rng.integers(0, 12, n).astype(np.int64),
        "event_timestamp": T0 + pd.to_timedelta(rng.integers(-2 * 86400, 24 * 86400, n), unit="s"),
        "label": rng.integers(0, 2, n),
    })  # fmt: skip
    stats = tables["stats"].sample(40, random_state=1)
    edges = pd.DataFrame({  # exactly ttl old (kept) and a microsecond older (dropped); exactly at the row's time
        "user_id": pd.array(list(stats.user_id[:20]) * 2 + list(stats.user_id[20:]), dtype="Int64"),
        "product_id": 0,
        "event_timestamp": list(stats.event_timestamp[:20] + pd.Timedelta(days=3))
        + list(stats.event_timestamp[:20] + pd.Timedelta(days=3, microseconds=1))
        + list(stats.event_timestamp[20:]),
        "label": 1,
    })  # fmt: skip
    labels = pd.concat([labels, edges, labels.sample(50, random_state=2)], ignore_index=True)  # duplicates
    labels.loc[labels.sample(15, random_state=3).index, "user_id"] = pd.NA  # null keys
    labels["row"] = np.arange(len(labels)) % (len(labels) - 50)  # duplicates share their row id
    return labels


def oracle(labels: pd.DataFrame, tables: dict[str, pd.DataFrame], full: bool) -> pd.DataFrame:
    out = labels.copy()
    for view, (entity, _, ttl, features) in VIEWS.items():
        key, table, ttl_td = KEYS[entity], tables[view], pd.Timedelta(ttl)
        names = [f.split(":")[0] for f in features]
        defaults = {"purchases": -1, "price": 9.5}
        values: dict[str, list[object]] = {n: [] for n in names}
        for _, label in labels.iterrows():
            k, t = label[key], label.event_timestamp
            rows = (
                table[(table[key] == k) & (table.event_timestamp <= t) & (table.event_timestamp >= t - ttl_td)]
                if pd.notna(k)
                else table.iloc[:0]
            )
            best = rows.sort_values(["event_timestamp", "created_timestamp"]).iloc[-1] if len(rows) else None
            for n in names:
                v = None if best is None else best[n]
                v = None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else v
                values[n].append(defaults.get(n) if v is None and view in ("stats", "product") and n in defaults else v)
        for n in names:
            out[f"{view}__{n}" if full else n] = values[n]
    return out


def normalise(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    frame = frame.copy()
    frame["event_timestamp"] = pd.to_datetime(frame.event_timestamp, utc=True)
    rows = []
    for record in frame.to_dict("records"):
        rows.append(
            tuple(
                sorted(
                    (
                        k,
                        None
                        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                        else (round(v, 9) if isinstance(v, float) else v),
                    )
                    for k, v in record.items()
                )
            )
        )
    return sorted(rows, key=repr)


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("pit")
    (base / "conf").mkdir()
    jars = Path(__file__).resolve().parents[2] / ".featurelake" / "jars"
    (base / "conf" / "c.yaml").write_text(f"project: pit\nlake_root: ./lake\nspark:\n  jars_dir: {jars}\n")
    conf = load_config(base / "conf" / "c.yaml", env={})
    repo = base / "specs"
    repo.mkdir()
    (repo / "base.yaml").write_text(SPEC)
    for name in VIEWS:
        (repo / f"{name}.yaml").write_text(view_yaml(name))
    apply_specs(repo, conf)
    store = FeatureStore(repo=repo, conf=conf, spark=spark)
    rng = np.random.default_rng(11)
    tables = {"stats": feature_rows(rng, "stats", 500, 30), "profile": feature_rows(rng, "profile", 200, 30),
              "product": feature_rows(rng, "product", 150, 10)}  # fmt: skip
    for name, frame in tables.items():
        path = table_path(conf.lake_root, store.registry.view(name))
        spark.createDataFrame(frame).write.format("delta").partitionBy("date").save(path)
    return store, conf, tables, make_labels(rng, tables)


ALL = ["stats:spend", "stats:purchases", "profile:tier", "profile:spend", "product:price"]


@pytest.mark.parametrize("entity_pruning", [True, False], ids=["label-entities-only", "all-entities"])
def test_point_in_time_join_matches_the_oracle(world, entity_pruning: bool, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Both plans: feature rows cut to the labels' entities first (small label sets) or not."""
    monkeypatch.setattr(training_set, "ENTITY_PRUNING_MAX_LABELS", 10**9 if entity_pruning else 0)
    store, _, tables, labels = world
    result = store.get_historical_features(labels, features=ALL, full_feature_names=True).toPandas()
    assert len(result) == len(labels)
    assert list(result.columns) == [*labels.columns, *[r.replace(":", "__") for r in ALL]]
    assert normalise(result) == normalise(oracle(labels, tables, full=True))


def test_name_clash_needs_full_feature_names(world) -> None:  # type: ignore[no-untyped-def]
    store, _, _, labels = world
    with pytest.raises(FeatureNameClashError, match="spend"):
        store.get_historical_features(labels, features=ALL)
    short = store.get_historical_features(labels, features=["stats:spend", "product:price"]).toPandas()
    assert list(short.columns) == [*labels.columns, "spend", "price"]


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda frame: frame.drop(columns=["product_id"]), LabelColumnMissingError, "no column 'product_id'"),
        (lambda frame: frame.drop(columns=["event_timestamp"]), LabelColumnMissingError, "--timestamp-column"),
        (lambda frame: frame.assign(event_timestamp=1), LabelTimestampError, "is bigint"),
        (lambda frame: frame.assign(event_timestamp="not a time"), LabelTimestampError, "unparsable"),
        (lambda frame: frame.iloc[:0], EmptyLabelsError, "no rows"),
        (
            lambda frame: frame.assign(product_id=frame.product_id.astype(str)),
            LabelKeyTypeError,
            "'product_id' is string",
        ),
        (lambda frame: frame.assign(product_id=frame.product_id > 5), LabelKeyTypeError, "is boolean.*bigint"),
    ],
    ids=["missing-key", "missing-time", "int-time", "string-time", "empty", "string-key", "bool-key"],
)
def test_bad_labels_are_refused_and_nothing_is_written(world, tmp_path: Path, mutate, error, match) -> None:  # type: ignore[no-untyped-def]
    store, _, _, labels = world
    out = tmp_path / "out"
    with pytest.raises(error, match=match):
        store.build_training_set(mutate(labels), str(out), features=["stats:spend", "product:price"])
    assert not out.exists() and not list(tmp_path.iterdir())


def test_float_keys_from_pandas_join_like_integer_keys(world) -> None:  # type: ignore[no-untyped-def]
    """pandas turns an integer column with nulls into float64: such keys join by value."""
    store, _, tables, labels = world
    floats = labels.assign(user_id=labels.user_id.astype("float64"))  # <NA> becomes NaN
    got = store.get_historical_features(floats, features=["stats:spend"], full_feature_names=True).toPandas()
    want = oracle(labels, tables, full=True)[[*labels.columns, "stats__spend"]]
    got["user_id"] = got.user_id.astype("Int64")
    assert normalise(got) == normalise(want)


def test_unknown_view_and_feature(world) -> None:  # type: ignore[no-untyped-def]
    store, _, _, labels = world
    with pytest.raises(UnknownViewError, match="did you mean 'stats'"):
        store.get_historical_features(labels, features=["stat:spend"])
    with pytest.raises(UnknownFeatureError, match="did you mean 'spend'"):
        store.get_historical_features(labels, features=["stats:spent"])


def test_a_build_is_reproduced_exactly_after_new_data(world, spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, conf, tables, labels = world
    labels_path = tmp_path / "labels.parquet"
    labels.to_parquet(labels_path)  # pandas' default: nanoseconds, which Spark refuses
    with pytest.raises(LabelsUnreadableError, match="coerce_timestamps='us'"):
        store.build_training_set(str(labels_path), str(tmp_path / "v1"), features=["stats:spend"])
    labels.to_parquet(labels_path, coerce_timestamps="us", allow_truncated_timestamps=True)
    first = store.build_training_set(str(labels_path), str(tmp_path / "v1"), features=["stats:spend", "product:price"])
    assert first.output_rows == len(labels) and first.label_rows == len(labels)
    meta = tmp_path / "v1.metadata.json"
    assert meta.is_file()
    with pytest.raises(OutputExistsError):
        store.build_training_set(str(labels_path), str(tmp_path / "v1"), features=["stats:spend"])
    # new feature rows arrive: the latest value of every user changes
    newer = tables["stats"].assign(event_timestamp=lambda f: f.event_timestamp + pd.Timedelta(minutes=30),
                                   created_timestamp=lambda f: f.created_timestamp + pd.Timedelta(minutes=30),
                                   spend=-1.0)  # fmt: skip
    path = table_path(conf.lake_root, store.registry.view("stats"))
    spark.createDataFrame(newer).write.format("delta").mode("append").save(path)
    again = store.reproduce_training_set(meta, str(tmp_path / "v1_again"))
    assert again.tables == first.tables
    read = lambda p: spark.read.parquet(str(p)).toPandas()  # noqa: E731
    assert normalise(read(tmp_path / "v1_again")) == normalise(read(tmp_path / "v1"))
    fresh = store.build_training_set(str(labels_path), str(tmp_path / "v2"), features=["stats:spend", "product:price"])
    assert fresh.tables["stats"]["delta_version"] > first.tables["stats"]["delta_version"]
    assert (read(tmp_path / "v2").spend == -1.0).any()


def test_delta_output_and_metadata_contents(world, spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    store, _, _, labels = world
    info = store.build_training_set(labels, str(tmp_path / "set"), features=["stats", "product:price"],
                                    output_format="delta")  # fmt: skip
    assert spark.read.format("delta").load(str(tmp_path / "set")).count() == len(labels)
    meta = json.loads((tmp_path / "set.metadata.json").read_text())
    assert meta["feature_refs"] == ["stats:spend", "stats:purchases", "product:price"]
    assert meta["output_format"] == "delta" and meta["output_rows"] == meta["label_rows"] == len(labels)
    assert meta["registry_version"] == 1 and meta["view_versions"] == {"stats": 1, "product": 1}
    assert set(meta["tables"]) == {"stats", "product"} and all("delta_version" in t for t in meta["tables"].values())
    assert meta["featurelake_version"] and meta["timings_s"]["total"] > 0
    assert info.labels == "<pandas DataFrame>"


def test_parquet_outputs_are_written_without_dictionary_pages(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Dictionaries of mostly distinct times and doubles only cost time (OUTPUT_WRITE_OPTIONS):
    no column chunk has one, and every label's row is there."""
    import pyarrow.parquet as pq

    store, _, _, labels = world
    store.build_training_set(labels, str(tmp_path / "set"), features=["stats", "product:price"])
    metas = [pq.ParquetFile(f).metadata for f in sorted((tmp_path / "set").rglob("*.parquet"))]
    assert metas
    chunks = [
        meta.row_group(g).column(c)
        for meta in metas
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    ]
    assert chunks and not [c.path_in_schema for c in chunks if c.has_dictionary_page]
    assert sum(meta.num_rows for meta in metas) == len(labels)


# Keys whose shift by 30 bits wraps, around zero, and the extremes of a long.
WRAPPING_KEYS = np.array(
    [-(2**63), 2**63 - 1, -1, 0, 1, 2**33, -(2**33) - 1, 2**40 + 7, -(2**50), 2**62 + 3], dtype=np.int64
)


@pytest.mark.parametrize("years_back", [0, 60], ids=["2025", "before-1970"])
def test_the_pre_sort_changes_no_result_where_its_packed_key_wraps(world, spark, years_back: int) -> None:  # type: ignore[no-untyped-def]
    """as_of_join first sorts each partition on the key shifted 30 bits with the minute below
    it, which wraps for keys beyond +-2^33 and misorders minutes before 1970: only the speed
    may suffer, the window's own sort decides. Against the oracle, with ties on whole hours."""
    from featurelake.offline.as_of_join import LABEL_TS, ViewRequest, as_of_join

    store, _, tables, _ = world
    shift = pd.DateOffset(years=years_back)
    rows = tables["stats"].copy()
    rows["user_id"] = WRAPPING_KEYS[rows.user_id.to_numpy() % len(WRAPPING_KEYS)]
    rows = rows.drop_duplicates(["user_id", "event_timestamp", "created_timestamp"])
    rows["event_timestamp"] -= shift
    rows["created_timestamp"] -= shift
    rng = np.random.default_rng(7)
    labels = pd.DataFrame({
        "user_id": rng.choice(WRAPPING_KEYS, 400),
        "event_timestamp": T0 - shift + pd.to_timedelta(rng.integers(-86400, 22 * 86400, 400) // 3600 * 3600, unit="s"),
    })  # fmt: skip
    features = tuple(store.registry.feature("stats", n) for n in ("spend", "purchases"))
    request = ViewRequest(store.registry.view("stats"), ("user_id",), features, ("spend", "purchases"),
                          spark.createDataFrame(rows.drop(columns=["date"])))  # fmt: skip
    frame = spark.createDataFrame(labels)
    got = as_of_join(frame.withColumn(LABEL_TS, frame.event_timestamp), [request]).toPandas()

    expected = labels.copy()
    picked = []
    for key, t in zip(labels.user_id, labels.event_timestamp, strict=True):
        times = rows.event_timestamp
        seen = rows[(rows.user_id == key) & (times <= t) & (times >= t - pd.Timedelta("3d"))]
        picked.append(seen.sort_values(["event_timestamp", "created_timestamp"]).iloc[-1] if len(seen) else None)
    expected["spend"] = [None if p is None else p.spend for p in picked]
    expected["purchases"] = [-1 if p is None or p.purchases is pd.NA else p.purchases for p in picked]
    assert normalise(got) == normalise(expected)
