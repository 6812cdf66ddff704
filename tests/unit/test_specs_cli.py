"""The spec commands as a user runs them: exit codes 0 / 1 / 2 and readable output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FEATURELAKE = str(Path(sys.executable).parent / "featurelake")
SHIPPED = REPO_ROOT / "feature_specs"


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FEATURELAKE, *args], capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})}, check=False
    )


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A user's project: conf/local.yaml and a copy of the shipped specs."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "local.yaml").write_text("project: cli\nlake_root: ./lake\n")
    shutil.copytree(SHIPPED, tmp_path / "feature_specs")
    return tmp_path


def test_validate_the_shipped_repo() -> None:
    proc = run("validate", "--repo", str(SHIPPED), cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: 5 feature views, 17 features, 2 entities, 5 sources, 2 feature services")


def test_validate_reports_every_problem_as_path_line(project: Path) -> None:
    view = project / "feature_specs" / "growth" / "user_orders.yaml"
    view.write_text(view.read_text().replace("  entity: user", "  entity: usr").replace("  ttl: 30d", "  ttl: 30 days"))
    proc = run("validate", cwd=project)
    assert proc.returncode == 1
    assert "feature_specs/growth/user_orders.yaml:4: unknown entity 'usr'; did you mean 'user'?" in proc.stderr
    assert "feature_specs/growth/user_orders.yaml:8: '30 days' is not a duration" in proc.stderr
    assert "2 problem(s)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_plan_apply_plan_list_describe_search(project: Path) -> None:
    plan = run("plan", cwd=project)
    assert plan.returncode == 0, plan.stderr
    assert "+ feature_view user_embedding: v1" in plan.stdout
    apply = run("apply", cwd=project)
    assert apply.returncode == 0, apply.stderr
    assert "applied registry version 1" in apply.stdout
    assert run("plan", cwd=project).stdout.strip() == "no changes (registry version 1 is current)"
    listing = run("list", cwd=project)
    assert all(v in listing.stdout for v in ("user_orders", "user_stats", "user_embedding", "product_popularity"))
    described = run("describe", "user_embedding", cwd=project)
    assert "embedding[16]" in described.stdout
    assert "feature_specs/recsys/user_embedding.yaml:1" in described.stdout
    found = run("search", "dwell", cwd=project)
    assert "product_popularity:avg_dwell_7d" in found.stdout
    assert run("search", "no-such-thing-anywhere", cwd=project).returncode == 1


def test_unknown_view_is_exit_1_with_a_hint(project: Path) -> None:
    assert run("apply", cwd=project).returncode == 0
    proc = run("describe", "user_ordrs", cwd=project)
    assert proc.returncode == 1
    assert "did you mean 'user_orders'?" in proc.stderr


def test_destroy_needs_the_flag(project: Path) -> None:
    assert run("apply", cwd=project).returncode == 0
    (project / "feature_specs" / "merch" / "product_popularity.yaml").unlink()
    refused = run("apply", cwd=project)
    assert refused.returncode == 1
    assert "--allow-destroy" in refused.stderr
    assert run("apply", "--allow-destroy", cwd=project).returncode == 0


def test_usage_errors_are_exit_2(project: Path) -> None:
    assert run("validate", "--no-such-option", cwd=project).returncode == 2
    assert run("describe", cwd=project).returncode == 2


def test_committed_json_schema_matches_the_models() -> None:
    proc = run("schema")
    assert proc.returncode == 0
    generated = json.loads(proc.stdout)
    committed = json.loads((REPO_ROOT / "docs" / "featurelake-spec.schema.json").read_text())
    assert generated == committed, "run: featurelake schema --output docs/featurelake-spec.schema.json"
    assert set(generated["properties"]) == {"entities", "sources", "feature_view", "feature_services"}


def test_shipped_specs_validate_against_the_json_schema() -> None:
    """What an editor does with the schema: the shipped files must pass it too."""
    import yaml
    from pydantic import TypeAdapter

    from featurelake.specs.models import SpecFile

    for path in sorted(SHIPPED.rglob("*.yaml")):
        TypeAdapter(SpecFile).validate_python(yaml.safe_load(path.read_text()))


def test_committed_spec_reference_matches_the_models() -> None:
    from featurelake.specs.reference import render_reference

    committed = (REPO_ROOT / "docs" / "spec-reference.md").read_text()
    assert committed == render_reference(), "run: featurelake schema --format markdown --output docs/spec-reference.md"


def test_schema_format_must_be_known() -> None:
    assert run("schema", "--format", "xml").returncode == 2
