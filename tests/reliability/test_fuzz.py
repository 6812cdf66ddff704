"""Property-based tests (hypothesis): mutated spec files and arbitrary online requests end in a
typed error or a correct answer, never a traceback, within a bounded time per case (hypothesis'
deadline). `pytest --soak` runs 3,000 spec mutations and 5,000 requests instead of 150 and 300."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurelake.config import load_config
from featurelake.errors import FeaturelakeError
from featurelake.registry import apply_specs, load_registry
from featurelake.registry.compile import compile_repo
from featurelake.serving.online_features import answer
from featurelake.serving.settings import ServeSettings
from featurelake.serving.state import ServerState

REPO_ROOT = Path(__file__).resolve().parents[2]
SPECS = REPO_ROOT / "feature_specs"
SPEC_FILES = sorted(SPECS.rglob("*.yaml"))
CASE_DEADLINE_MS = 3000

# --- spec files ------------------------------------------------------------------------
_NASTY = st.sampled_from(
    ["", ":", "- ", "  ", "{", "}", "[", "]", "&a", "*a", "!!python/object:os.system", "---", "\t", "'", '"', "#",
     "~", "null", "1e999", "-1", "9" * 40, "<script>", "${UNSET}"]
)  # fmt: skip
_TEXT = st.one_of(_NASTY, st.text(max_size=40))


@st.composite
def spec_mutation(draw: st.DrawFn) -> tuple[int, int, str, str]:
    file = draw(st.integers(0, len(SPEC_FILES) - 1))
    lines = SPEC_FILES[file].read_text().splitlines()
    how = draw(st.sampled_from(["delete", "duplicate", "replace_value", "insert", "indent", "dedent"]))
    return file, draw(st.integers(0, len(lines) - 1)), how, draw(_TEXT)


def _mutate(text: str, line: int, how: str, noise: str) -> str:
    lines = text.splitlines()
    target = lines[line]
    if how == "delete":
        del lines[line]
    elif how == "duplicate":
        lines.insert(line, target)
    elif how == "replace_value":
        key, sep, _ = target.partition(":")
        lines[line] = f"{key}{sep} {noise}" if sep else noise
    elif how == "insert":
        lines.insert(line, noise)
    elif how == "indent":
        lines[line] = "   " + target
    else:
        lines[line] = target.lstrip()
    return "\n".join(lines) + "\n"


def test_mutated_specs_compile_or_fail_with_a_typed_error_naming_a_file(soak: bool) -> None:
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=3000 if soak else 150, deadline=CASE_DEADLINE_MS, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(mutations=st.lists(spec_mutation(), min_size=1, max_size=3))
    def check(mutations: list[tuple[int, int, str, str]]) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            repo = Path(scratch) / "feature_specs"
            shutil.copytree(SPECS, repo)
            for file, line, how, noise in mutations:
                path = repo / SPEC_FILES[file].relative_to(SPECS)
                text = path.read_text()
                if text.strip():
                    path.write_text(_mutate(text, min(line, len(text.splitlines()) - 1), how, noise))
            try:
                compile_repo(repo, "fuzz")
                outcomes["compiled"] += 1
            except FeaturelakeError as exc:
                outcomes["typed error"] += 1
                message = str(exc)
                assert message and "Traceback" not in message
                assert ".yaml" in message or "feature_specs" in message, message

    check()
    print(f"spec mutations: {dict(outcomes)}")  # the figure docs/reliability.md quotes (pytest -s)
    assert outcomes["compiled"] and outcomes["typed error"], f"mutations must reach both outcomes: {outcomes}"


# --- online requests ---------------------------------------------------------------------
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def serving(
    tmp_path_factory, make_test_conf, redis_server
) -> Iterator[tuple[asyncio.AbstractEventLoop, ServerState, list[str]]]:  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("fuzz-serve")
    conf = load_config(make_test_conf(base, redis_server.url, base / "lake", project="flfuzz"), env={})
    apply_specs(SPECS, conf)
    refs = [f"{v.name}:{f.name}" for v in load_registry(conf).views.values() for f in v.features]
    loop = asyncio.new_event_loop()
    settings_ = ServeSettings(max_entities=50, max_body_bytes=20_000, timeout_s=2.0)
    state = loop.run_until_complete(_make_state(settings_, conf))
    yield loop, state, refs
    loop.run_until_complete(state.close())
    loop.close()


async def _make_state(settings_: ServeSettings, conf: Any) -> ServerState:
    return ServerState(settings_, conf)


@st.composite
def request_body(draw: st.DrawFn, refs: list[str]) -> bytes:
    kind = draw(st.sampled_from(["structured", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(_JSON)).encode()
    feature = st.one_of(st.sampled_from(refs), st.text(max_size=20), _JSON)
    key_value = st.one_of(st.integers(-5, 10**19), st.text(max_size=10), st.none(), st.booleans(), st.floats(), _JSON)
    body: dict[str, Any] = {}
    if draw(st.booleans()):
        body["features"] = draw(st.one_of(st.lists(feature, max_size=6), _JSON))
    if draw(st.booleans()):
        body["feature_service"] = draw(st.one_of(st.sampled_from(["churn_model", "nope"]), _JSON))
    if draw(st.booleans()):
        n = draw(st.integers(0, 60))
        columns = st.fixed_dictionaries({"user_id": st.lists(key_value, min_size=n, max_size=n)})
        body["entities"] = draw(st.one_of(columns, _JSON))
    if draw(st.booleans()):
        row = st.dictionaries(st.sampled_from(["user_id", "product_id", "x"]), key_value, max_size=2)
        body["entity_rows"] = draw(st.one_of(st.lists(row, max_size=8), _JSON))
    if draw(st.booleans()):
        body["full_feature_names"] = draw(st.one_of(st.booleans(), _JSON))
    return json.dumps(body, allow_nan=True).encode()


async def _chunks(raw: bytes) -> AsyncIterator[bytes]:
    yield raw


def test_any_request_body_is_answered_200_or_4xx_with_a_message(serving, soak: bool) -> None:  # type: ignore[no-untyped-def]
    loop, state, refs = serving
    seen: Counter[int] = Counter()

    @settings(
        max_examples=5000 if soak else 300, deadline=CASE_DEADLINE_MS, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(raw=request_body(refs))
    def check(raw: bytes) -> None:
        status, payload, entities = loop.run_until_complete(
            answer(state, state.settings, None, str(len(raw)), _chunks(raw))
        )
        body = json.loads(payload)
        seen[status] += 1
        assert status in (200, 400, 413), (status, body)
        if status != 200:
            assert isinstance(body["error"], str) and body["error"]
            return
        lengths = {len(values) for values in body.values()}
        assert lengths <= {entities}, (lengths, entities)

    check()
    print(f"request bodies by status: {dict(seen)}")  # the figure docs/reliability.md quotes (pytest -s)
    assert seen[200] and seen[400], f"the generated requests must reach both answers: {seen}"
