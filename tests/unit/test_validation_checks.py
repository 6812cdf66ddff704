"""Checks built from the specs (no Spark, no Great Expectations run) and offline Data Docs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from featurelake.registry import compile_specs
from featurelake.validation.assets import ASSETS, MANIFEST, _manifest, localize_data_docs, package_folder
from featurelake.validation.checks import view_checks
from featurelake.validation.stats import ColumnStats, FeatureStats
from featurelake.validation.suite import to_expectation

SHIPPED = Path(__file__).resolve().parents[2] / "feature_specs"
DAY = date(2025, 3, 1)


def _checks(view: str, previous: FeatureStats | None = None):  # type: ignore[no-untyped-def]
    registry = compile_specs(SHIPPED, None)
    return {c.name: c for c in view_checks(registry, registry.view(view), DAY, DAY, previous)}


def test_every_view_gets_the_built_in_checks_and_its_spec_expectations() -> None:
    checks = _checks("user_orders")
    for name in ("columns", "key_not_null:user_id", "unique_row", "inside_partition", "inside_run", "not_future"):
        assert checks[name].blocking, name
    assert checks["between:spend_30d"].kwargs == {"min_value": 0.0, "max_value": 100000.0}
    assert checks["not_null:last_channel"].severity == "warn" and not checks["not_null:last_channel"].blocking
    assert checks["mean_between:avg_order_value_30d"].kind == "ExpectColumnMeanToBeBetween"
    assert checks["unique_row"].kwargs["column_list"] == ["user_id", "event_timestamp", "created_timestamp"]
    assert checks["unique_row"].kind == "duplicates"
    assert "date_sub(to_date(`event_timestamp`), 1)" in str(checks["inside_partition"].condition)  # aggregated rows
    assert "to_date(`event_timestamp`)" in str(_checks("user_stats")["inside_partition"].condition)
    assert "size(`behaviour_embedding`) != 16" in str(
        _checks("user_embedding")["embedding_dim:behaviour_embedding"].condition
    )
    assert not [c for c in checks.values() if c.severity == "info"]  # no drift before a first partition


def test_drift_checks_come_from_the_previous_partition() -> None:
    previous = FeatureStats("user_stats", 1, date(2025, 2, 28), 100, "r", {
        "spend_30d": ColumnStats(null_rate=0.1, mean=50.0, stddev=10.0),
        "account_age_days": ColumnStats(null_rate=0.0, mean=0.0, stddev=0.0),
    })  # fmt: skip
    checks = _checks("user_stats", previous)
    assert checks["drift_mean:spend_30d"].kwargs == {"min_value": 45.0, "max_value": 55.0}
    assert checks["drift_nulls:spend_30d"].kwargs == {"mostly": 0.85}
    assert checks["drift_mean:account_age_days"].kwargs["max_value"] > 0  # a constant column still gets a band
    assert all(not c.blocking for n, c in checks.items() if n.startswith("drift"))
    assert "2025-02-28" in checks["drift_mean:spend_30d"].description


def test_checks_become_great_expectations_expectations_with_severity_and_name() -> None:
    checks = _checks("user_orders")
    warn = to_expectation(checks["not_null:last_channel"])
    assert warn.severity.value == "warning" and warn.meta["featurelake_check"] == "not_null:last_channel"
    assert "never blocks" in str(warn.description)
    rows = to_expectation(checks["not_future"])
    assert "current_timestamp()" in rows.unexpected_rows_query  # type: ignore[attr-defined]


def test_row_and_uniqueness_checks_count_their_rows_and_fetch_none() -> None:
    """Great Expectations' UnexpectedRowsExpectation also fetches up to 200 of the rows (a Spark
    query of its own) that BASIC results never report: the gate's checks ask for the count only."""
    checks = _checks("user_orders")
    for name in ("not_future", "inside_partition", "inside_run", "unique_row"):
        expectation = to_expectation(checks[name])
        needed = expectation.get_validation_dependencies(runtime_configuration={"result_format": "BASIC"})
        assert set(needed.get_metric_names()) == {"unexpected_rows_query.row_count"}, name
        assert expectation.description == checks[name].description  # the report still says what it checks
        assert expectation._validate({"unexpected_rows_query.row_count": 2}) == {
            "success": False,
            "result": {"observed_value": 2},
        }


def test_data_docs_pages_are_pointed_at_vendored_assets(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    for package, member in ASSETS.values():
        target = assets / package_folder(package) / "package" / member
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("/* vendored */")
    (assets / MANIFEST).write_text("\n".join(_manifest()) + "\n")
    reports = tmp_path / "reports"
    page = reports / "validations" / "v" / "run" / "page.html"
    page.parent.mkdir(parents=True)
    logo = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1&dataContextId=x"
    page.write_text("".join(f'<script src="{url}"></script>' for url in ASSETS) + f'<img src="{logo}">')

    assert localize_data_docs(reports, assets)
    text = page.read_text()
    assert "https://" not in text
    assert '"../../../static/vendor/jquery@3.7.1/package/dist/jquery.min.js"' in text
    assert "../../../static/images/logo-long.png" in text
    assert (reports / "static" / "vendor" / "jquery@3.7.1" / "package" / "dist" / "jquery.min.js").is_file()
    assert not localize_data_docs(reports, tmp_path / "missing")  # no assets: pages keep their CDN links
