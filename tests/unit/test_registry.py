"""plan -> apply -> plan, version-bump rules, history, atomic apply."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.registry import DestroyNotAllowedError, apply_specs, load_registry, plan_specs
from featurelake.registry.store import ConcurrentApplyError, RegistryStore
from featurelake.specs.loader import SpecValidationError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHIPPED = Path(__file__).resolve().parents[2] / "feature_specs"


@pytest.fixture()
def conf(tmp_path: Path) -> FeaturelakeConfig:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "c.yaml").write_text("project: t\nlake_root: ./lake\n")
    return load_config(tmp_path / "conf" / "c.yaml", env={})


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "feature_specs"
    shutil.copytree(SHIPPED, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("source", [SHIPPED, FIXTURES / "issue_example"], ids=["shipped", "issue_example"])
def test_plan_apply_plan_shows_no_changes(source: Path, conf: FeaturelakeConfig) -> None:
    first = plan_specs(source, conf)
    assert first.current_version is None
    assert any(c.kind == "feature_view" and c.action == "add" for c in first.plan.changes)
    _, version = apply_specs(source, conf)
    assert version == 1
    again = plan_specs(source, conf)
    assert again.plan.changes == []
    assert again.current_version == 1
    assert apply_specs(source, conf)[1] is None  # nothing to apply: no new version


def test_registry_round_trips_through_json(repo: Path, conf: FeaturelakeConfig) -> None:
    planned, _ = apply_specs(repo, conf)
    assert load_registry(conf) == planned.registry
    loaded = load_registry(conf)
    assert loaded.view("user_embedding").features[0].dim == 16
    assert loaded.join_keys("user_orders") == ["user_id"]
    assert loaded.timestamp_column("user_stats") == "event_timestamp"
    assert [str(r) for r in loaded.service_refs("recsys_ranker")] == [
        "user_embedding:behaviour_embedding",
        "user_orders:last_channel",
    ]


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        ("      dtype: int64\n      expression: quantity", "      dtype: double\n      expression: quantity",
         "dtype 'int64' -> 'double'"),
        ("      expression: amount\n      aggregation: {function: sum, window: 30d}",
         "      expression: amount * 2\n      aggregation: {function: sum, window: 30d}", "expression"),
        ("aggregation: {function: sum, window: 30d}", "aggregation: {function: sum, window: 60d}", "aggregation"),
        ("  source: orders", "  source: sessions", "source changes"),
    ],
    ids=["dtype", "expression", "window", "source"],
)  # fmt: skip
def test_meaning_change_without_version_bump_is_refused(
    repo: Path, conf: FeaturelakeConfig, old: str, new: str, what: str
) -> None:
    apply_specs(repo, conf)
    view_file = repo / "growth" / "user_orders.yaml"
    edit(view_file, old, new)
    if what == "source changes":  # the sessions source has no amount/channel columns: declare them
        edit(repo / "sources.yaml", "pages: int64,", "pages: int64, amount: double, channel: string, quantity: int64,")
    with pytest.raises(SpecValidationError) as err:
        apply_specs(repo, conf)
    messages = [str(p) for p in err.value.problems]
    assert any(what in m and "bump `version` to 2" in m and "user_orders.yaml:" in m for m in messages), messages
    assert RegistryStore(conf.lake_root).current_version() == 1

    edit(view_file, "  version: 1", "  version: 2")
    planned, version = apply_specs(repo, conf)
    assert version == 2
    assert any("new version v1 -> v2" in str(c) for c in planned.plan.changes)
    assert [h.version for h in RegistryStore(conf.lake_root).history()] == [1, 2]
    assert load_registry(conf, version=1).view("user_orders").version == 1  # history kept


def test_removing_a_feature_needs_a_bump_and_adding_one_does_not(repo: Path, conf: FeaturelakeConfig) -> None:
    apply_specs(repo, conf)
    view_file = repo / "growth" / "user_sessions.yaml"
    original = view_file.read_text()
    edit(view_file, "    - name: mobile_share_30d\n", "    - name: mobile_share_30d_renamed\n")
    with pytest.raises(SpecValidationError, match="feature 'mobile_share_30d' is removed"):
        plan_specs(repo, conf)
    view_file.write_text(
        original + "    - name: sessions_1d\n      dtype: int64\n      aggregation: {function: count, window: 1d}\n"
    )
    planned, version = apply_specs(repo, conf)
    assert version == 2
    assert [str(c) for c in planned.plan.changes] == [
        "+ feature user_sessions:sessions_1d: backfill to fill its history"
    ]


def test_metadata_changes_apply_without_a_bump(repo: Path, conf: FeaturelakeConfig) -> None:
    apply_specs(repo, conf)
    edit(repo / "growth" / "user_orders.yaml", "  ttl: 30d", "  ttl: 45d")
    edit(repo / "growth" / "user_orders.yaml", "        - not_null\n", "")
    planned, version = apply_specs(repo, conf)
    assert version == 2
    rendered = [str(c) for c in planned.plan.changes]
    assert "~ feature_view user_orders: ttl '30d' -> '45d'" in rendered
    assert "~ feature user_orders:spend_30d: expectations" in rendered


def test_adding_a_similarity_index_or_a_description_is_a_change(repo: Path, conf: FeaturelakeConfig) -> None:
    spec = repo / "recsys" / "user_embedding.yaml"
    edit(spec, "      index: {metric: cosine}   # similarity search: docs/similarity.md\n", "")
    apply_specs(repo, conf)
    edit(spec, "      expectations: [not_null]\n", "      expectations: [not_null]\n      index: {metric: cosine}\n")
    edit(spec, "cosine similarity compares users.", "cosine similarity compares them.")
    planned, version = apply_specs(repo, conf)
    assert version == 2
    changes = [str(c) for c in planned.plan.changes]
    assert changes == ["~ feature user_embedding:behaviour_embedding: description, index"]
    assert load_registry(conf).views["user_embedding"].features[0].index is not None


def test_version_cannot_go_back(repo: Path, conf: FeaturelakeConfig) -> None:
    edit(repo / "risk" / "user_stats.yaml", "  version: 1", "  version: 3")
    apply_specs(repo, conf)
    edit(repo / "risk" / "user_stats.yaml", "  version: 3", "  version: 2")
    with pytest.raises(SpecValidationError, match="went back from 3 to 2"):
        apply_specs(repo, conf)


def test_removing_a_view_needs_allow_destroy(repo: Path, conf: FeaturelakeConfig) -> None:
    apply_specs(repo, conf)
    (repo / "merch" / "product_popularity.yaml").unlink()
    with pytest.raises(DestroyNotAllowedError, match="product_popularity"):
        apply_specs(repo, conf)
    assert RegistryStore(conf.lake_root).current_version() == 1
    _, version = apply_specs(repo, conf, allow_destroy=True)
    assert version == 2
    assert "product_popularity" not in load_registry(conf).views


def test_a_stale_apply_loses_and_changes_nothing(repo: Path, conf: FeaturelakeConfig) -> None:
    planned, _ = apply_specs(repo, conf)
    store = RegistryStore(conf.lake_root)
    store.apply(planned.registry, expected_current=1)  # someone else applies version 2
    with pytest.raises(ConcurrentApplyError):
        store.apply(planned.registry, expected_current=1)
    assert store.current_version() == 2
    assert [v.version for v in store.history()] == [1, 2]
    assert not [p for p in Path(store.root).rglob("*") if ".tmp-" in p.name]


def test_a_crash_between_version_file_and_pointer_blocks_no_later_apply(repo: Path, conf: FeaturelakeConfig) -> None:
    planned, _ = apply_specs(repo, conf)
    store = RegistryStore(conf.lake_root)
    # What a process killed after writing its version file but before moving CURRENT leaves.
    orphan = Path(store.versions_dir) / "000002-deadbeef0000.json"
    orphan.write_text('{"version": 2, "broken": true}')
    assert store.current_version() == 1 and store.load() == planned.registry
    assert store.apply(planned.registry, expected_current=1) == 2
    assert [v.version for v in store.history()] == [1, 2]
    assert store.load(1) == planned.registry


def test_columns_are_checked_against_local_source_data(tmp_path: Path, conf: FeaturelakeConfig) -> None:
    import pandas as pd

    raw = Path(conf.lake_root) / "raw" / "orders"
    raw.mkdir(parents=True)
    pd.DataFrame(
        {"user_id": [1], "order_ts": pd.to_datetime(["2025-01-01"]), "amt": [1.0], "channel": ["web"]}
    ).to_parquet(raw / "part-0.parquet")
    repo = tmp_path / "feature_specs"
    shutil.copytree(FIXTURES / "issue_example", repo)
    with pytest.raises(SpecValidationError) as err:
        plan_specs(repo, conf)
    assert any(
        p.path.endswith("user_orders.yaml")
        and "column 'amount' is not in source 'orders'; did you mean 'amt'?" in p.message
        for p in err.value.problems
    ), err.value.problems
