"""The corpus of invalid specs: each is rejected at the right path:line, nothing applied.

A case file in tests/fixtures/invalid_specs/ replaces (or adds) its `# target:` file in a
copy of the issue's example repo. Every line marked `# <-- expect: TEXT` must produce a
problem at that line whose message contains TEXT.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.registry import apply_specs
from featurelake.specs.loader import SpecValidationError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BASE_REPO = FIXTURES / "issue_example"
CASES = sorted((FIXTURES / "invalid_specs").glob("*.yaml"))
_MARK = re.compile(r"#\s*<-- expect:\s*(.*)$")


def expectations(text: str) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _MARK.search(line)
        if match:
            found.append((number, match.group(1).strip()))
    return found


def registry_snapshot(conf: FeaturelakeConfig) -> dict[str, str]:
    root = Path(conf.lake_root) / "_registry"
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def applied_conf(tmp_path_factory: pytest.TempPathFactory) -> FeaturelakeConfig:
    base = tmp_path_factory.mktemp("applied")
    (base / "conf").mkdir()
    (base / "conf" / "c.yaml").write_text("project: corpus\nlake_root: ./lake\n")
    conf = load_config(base / "conf" / "c.yaml", env={})
    _, version = apply_specs(BASE_REPO, conf)
    assert version == 1
    return conf


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_invalid_spec_is_rejected_at_its_line(case: Path, tmp_path: Path, applied_conf: FeaturelakeConfig) -> None:
    text = case.read_text()
    target = re.search(r"^# target: (\S+)", text, re.M)
    assert target, f"{case.name} needs a '# target:' header"
    expected = expectations(text)
    assert expected, f"{case.name} marks no line"
    repo = tmp_path / "feature_specs"
    shutil.copytree(BASE_REPO, repo)
    (repo / target.group(1)).parent.mkdir(parents=True, exist_ok=True)
    (repo / target.group(1)).write_text(text)
    before = registry_snapshot(applied_conf)

    with pytest.raises(SpecValidationError) as err:
        apply_specs(repo, applied_conf)

    problems = err.value.problems
    for line, fragment in expected:
        hits = [p for p in problems if p.path.endswith(target.group(1)) and p.line == line and fragment in p.message]
        assert hits, f"expected {target.group(1)}:{line}: ...{fragment}...; got:\n" + "\n".join(map(str, problems))
    assert registry_snapshot(applied_conf) == before


def test_all_problems_of_a_repo_are_reported_together(tmp_path: Path) -> None:
    repo = tmp_path / "feature_specs"
    shutil.copytree(BASE_REPO, repo)
    for name in ("unknown_entity", "bad_source_format", "embedding_without_dim"):
        text = (FIXTURES / "invalid_specs" / f"{name}.yaml").read_text()
        target = re.search(r"^# target: (\S+)", text, re.M)
        assert target
        path = repo / target.group(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    with pytest.raises(SpecValidationError) as err:
        from featurelake.registry import compile_specs

        compile_specs(repo, None)
    files = {Path(p.path).name for p in err.value.problems}
    assert {"user_orders.yaml", "sources.yaml", "embeddings.yaml"} <= files
    assert str(err.value).startswith(f"{len(err.value.problems)} problem(s)")
