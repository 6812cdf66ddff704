"""Serve settings: which binds need TLS and tokens, and where tokens come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurelake.serving.settings import TOKENS_ENV, InsecureBindError, ServeSettings, ServeSettingsError


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_binds_need_neither_tls_nor_tokens(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKENS_ENV, raising=False)
    ServeSettings(host=host).check()


@pytest.mark.parametrize(
    ("tls", "token", "missing"),
    [(False, False, "TLS and tokens"), (True, False, "tokens"), (False, True, "TLS")],
)
def test_any_other_bind_refuses_without_tls_and_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tls: bool, token: bool, missing: str
) -> None:
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    files = {"tls_cert": str(tmp_path / "c.pem"), "tls_key": str(tmp_path / "k.pem")} if tls else {}
    monkeypatch.setenv(TOKENS_ENV, "t1" if token else "")
    with pytest.raises(InsecureBindError, match=f"needs {missing}:"):
        ServeSettings(host="0.0.0.0", **files).check()  # type: ignore[arg-type]


def test_tls_and_tokens_let_a_public_bind_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("c.pem", "k.pem"):
        (tmp_path / name).write_text("x")
    monkeypatch.setenv(TOKENS_ENV, "t1")
    ServeSettings(host="10.1.2.3", tls_cert=str(tmp_path / "c.pem"), tls_key=str(tmp_path / "k.pem")).check()


def test_tokens_come_from_the_environment_and_the_file_comments_and_blanks_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKENS_ENV, " a , b,, ")
    (tmp_path / "tokens").write_text("# old one goes on Friday\nc\n\n  d  \n")
    assert ServeSettings(token_file=str(tmp_path / "tokens")).tokens() == ("a", "b", "c", "d")


@pytest.mark.parametrize(
    "settings",
    [
        ServeSettings(tls_cert="/nope.pem"),
        ServeSettings(workers=0),
        ServeSettings(timeout_s=0),
        ServeSettings(max_entities=0),
    ],
)
def test_incoherent_settings_are_a_typed_error(settings: ServeSettings) -> None:
    with pytest.raises(ServeSettingsError):
        settings.check()


def test_settings_reach_workers_as_json_without_any_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKENS_ENV, "secret-token")
    settings = ServeSettings(host="::1", workers=3, max_entities=10)
    assert "secret-token" not in settings.to_env()
    monkeypatch.setenv("FEATURELAKE_SERVE_SETTINGS", settings.to_env())
    assert ServeSettings.from_env() == settings


def test_access_lines_are_written_in_whole_lines_of_at_most_pipe_buf_bytes() -> None:
    from featurelake.serving.access_log import CHUNK, _chunks

    lines = [f'{{"n": {i}, "pad": "{"x" * (i % 300)}"}}' for i in range(2000)]
    pieces = _chunks(lines)
    assert all(len(piece) <= CHUNK and piece.endswith(b"\n") for piece, _ in pieces)
    assert b"".join(p for p, _ in pieces).decode().splitlines() == lines
    assert sum(n for _, n in pieces) == len(lines)


def test_read_plans_stay_bounded_whatever_feature_lists_clients_send(tmp_path: Path) -> None:
    from itertools import permutations

    from featurelake.online.reader import ReadPlans
    from featurelake.registry.compile import compile_repo

    registry = compile_repo(Path(__file__).resolve().parents[2] / "feature_specs", "t")
    refs = [ref for view in registry.views.values() for ref in registry.resolve_refs([view.name])]
    plans = ReadPlans(registry)
    for order in permutations(refs[:7]):  # 5,040 orders of the same 7 features
        plans.get(list(order), False)
        assert len(plans) <= ReadPlans.MAX_PLANS
    assert plans.get(refs[:2], True) == plans.get(refs[:2], True)
