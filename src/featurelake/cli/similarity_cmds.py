"""similar: the k nearest entities by an embedding's similarity index, as JSON."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from featurelake.cli.common import ConfOption, app, out
from featurelake.cli.online_cmds import entity_row
from featurelake.config import load_config
from featurelake.errors import FeaturelakeError


class JsonArgumentError(FeaturelakeError):
    template = "{option} {value!r} is not valid JSON ({problem}); e.g. {example}"


def _json(option: str, value: str | None, example: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise JsonArgumentError(option=option, value=value[:80], problem=exc.msg, example=example) from None


@app.command("similar")
def similar_cmd(
    feature: Annotated[str, typer.Argument(help="The indexed embedding, view:feature.")],
    entity: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE of the entity to start from (repeat for composite keys).")
    ] = None,
    vector: Annotated[str | None, typer.Option(help="A JSON list of numbers to start from instead.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="How many neighbours.")] = 10,
    features: Annotated[str | None, typer.Option(help="Comma-separated view:feature refs to return with each.")] = None,
    filter: Annotated[
        str | None, typer.Option("--filter", help='JSON: {"view:feature": value or {"gte": x, "in": [...]}}.')
    ] = None,
    conf: ConfOption = None,
) -> None:
    """The k live entities most similar to an entity or a vector, with the index version they came from."""
    from featurelake.store import FeatureStore

    store = FeatureStore(conf=load_config(conf))
    result = store.find_similar(
        feature,
        entity=entity_row(entity) if entity else None,
        vector=_json("--vector", vector, "--vector '[0.1, 0.2, ...]'"),
        k=k,
        features=[f for f in (features or "").split(",") if f],
        filter=_json("--filter", filter, '--filter \'{"user_stats:spend_30d": {"gte": 100}}\''),
    )
    out.print_json(json.dumps(result.to_dict()))
