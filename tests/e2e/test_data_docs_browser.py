"""A blocked run, as a user finds it: Data Docs served on loopback, opened in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import pytest

from featurelake.compute.backfill import backfill_view
from featurelake.config import load_config
from featurelake.registry import apply_specs, load_registry
from featurelake.validation.context import ValidationPaths
from featurelake.validation.errors import ValidationFailedError
from featurelake.validation.reports import reports_server

BIN = Path(sys.executable).parent
DAY = date(2025, 1, 6)


def test_the_failed_expectation_is_on_the_data_docs_page(  # type: ignore[no-untyped-def]
    spark, chromium, tmp_path, make_test_conf, redis_server, repo_root, output_dir
) -> None:
    from featurelake.demo_data import DatasetSize, generate

    specs = tmp_path / "specs"
    shutil.copytree(repo_root / "feature_specs", specs)
    orders = specs / "growth" / "user_orders.yaml"
    orders.write_text(orders.read_text().replace("between: {min: 0, max: 100000}", "between: {min: 0, max: 20}"))
    conf = load_config(make_test_conf(tmp_path, redis_server.url, tmp_path / "lake"), env={})
    generate(conf.lake_root, DatasetSize(users=80, products=20, days=8))
    apply_specs(specs, conf)
    with pytest.raises(ValidationFailedError):
        backfill_view(spark, load_registry(conf), "user_orders", conf.lake_root, DAY, DAY,
                      validation=ValidationPaths.from_config(conf))  # fmt: skip

    cli = subprocess.run([str(BIN / "featurelake"), "reports", "--conf", str(conf.source_file)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    index = ValidationPaths.from_config(conf).data_docs_index
    assert str(index) in cli.stdout

    server = reports_server(Path(index).parent, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        listing = chromium.dom(f"{base}/index.html")  # the list of runs is built by JavaScript
        links = re.findall(r'href="(validations/user_orders_v1/[^"]+\.html)"', listing)
        assert len(links) == 1, listing[-3000:]
        page_url = f"{base}/{links[0]}"
        page = chromium.dom(page_url)
        shot = chromium.screenshot(page_url, output_dir / "data_docs_failed_validation.png")
        chromium.screenshot(f"{base}/index.html", output_dir / "data_docs_index.png", size="1400,800")
    finally:
        server.shutdown()
    assert "spend_30d in [0, 20]" in page
    assert re.search(r"\d+ unexpected values found", page)
    assert "Failed" in page
    assert shot.stat().st_size > 30_000  # a rendered page; a blank one is a few KB
