"""Data Docs that work offline: the web assets Great Expectations links from CDNs, vendored.

Great Expectations' pages load bootstrap, jQuery, bootstrap-table, font-awesome and vega
from public CDNs, and a logo whose URL carries the context id. Without them the index is
empty (it is filled by JavaScript) and every opening of a report calls out. `make setup`
fetches the exact packages from npm once (`featurelake setup-assets`); after each Data Docs
build, the new pages are rewritten to load the copies under `<reports>/static/vendor/`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from featurelake.errors import FeaturelakeError

# CDN URL in Great Expectations' templates -> (npm package@version, file in the package).
ASSETS: dict[str, tuple[str, str]] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap@4.3.1",
        "dist/css/bootstrap.min.css",
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap@4.3.1",
        "dist/js/bootstrap.min.js",
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery@3.7.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js@1.12.9",
        "dist/umd/popper.min.js",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "@fortawesome/fontawesome-free@6.6.0",
        "css/all.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker@1.9.0",
        "dist/css/bootstrap-datepicker.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker@1.9.0",
        "dist/js/bootstrap-datepicker.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table@1.19.1",
        "dist/bootstrap-table.min.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table@1.19.1",
        "dist/bootstrap-table.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table@1.19.1",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table@1.19.1",
        "dist/extensions/filter-control/bootstrap-table-filter-control.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table@1.19.1",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": ("vega@5.33.1", "build/vega.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": ("vega-lite@5.23.0", "build/vega-lite.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": ("vega-embed@6.29.0", "build/vega-embed.min.js"),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "@forevolve/bootstrap-dark@1.1.0",
        "dist/css/bootstrap-prefers-dark.css",
    ),
}
# Folders a vendored file reaches by relative URL (font-awesome's css -> ../webfonts/).
EXTRA_FOLDERS = {"@fortawesome/fontawesome-free@6.6.0": ["webfonts/"]}
# The hosted logo (its URL carries the context id and a timestamp) -> the site's own copy.
_HOSTED_LOGO = re.compile(r"https://great-expectations-web-assets\.s3[^\"'\s)]*")
_SITE_LOGO = "static/images/logo-long.png"
VENDOR = Path("static") / "vendor"
MANIFEST = "MANIFEST.txt"


class WebAssetsFetchError(FeaturelakeError):
    template = (
        "could not fetch the Data Docs web assets {package} from npm: {detail}; "
        "is npm installed and the registry reachable?"
    )


def package_folder(package: str) -> str:
    return package.replace("/", "__")


def assets_present(assets_dir: Path) -> bool:
    return (assets_dir / MANIFEST).read_text().split() == _manifest() if (assets_dir / MANIFEST).is_file() else False


def _manifest() -> list[str]:
    return sorted({pkg for pkg, _ in ASSETS.values()})


def fetch_web_assets(assets_dir: Path) -> Path:
    """Download each package with `npm pack` and keep the files the pages load (idempotent)."""
    if assets_present(assets_dir):
        return assets_dir
    assets_dir.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, list[str]] = {}
    for package, member in ASSETS.values():
        wanted.setdefault(package, []).append(member)
    with tempfile.TemporaryDirectory() as scratch:
        for package, members in wanted.items():
            _unpack(package, [*members, *EXTRA_FOLDERS.get(package, [])], Path(scratch), assets_dir)
    (assets_dir / MANIFEST).write_text("\n".join(_manifest()) + "\n")
    return assets_dir


def _unpack(package: str, members: list[str], scratch: Path, assets_dir: Path) -> None:
    try:
        done = subprocess.run(
            ["npm", "pack", "--silent", "--pack-destination", str(scratch), package],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        raise WebAssetsFetchError(package=package, detail=str(detail).strip()[-500:]) from None
    tarball = scratch / done.stdout.strip().splitlines()[-1]
    target = assets_dir / package_folder(package)
    with tarfile.open(tarball) as archive:
        chosen = [
            m
            for m in archive.getmembers()
            if any(m.name == f"package/{w}" or (w.endswith("/") and m.name.startswith(f"package/{w}")) for w in members)
        ]
        archive.extractall(target, members=chosen, filter="data")


def localize_data_docs(reports_dir: Path, assets_dir: Path | None, since: float = 0.0) -> bool:
    """Point pages written since `since` (a timestamp) at the vendored copies; False when there are none."""
    if assets_dir is None or not assets_present(assets_dir):
        return False
    vendor = reports_dir / VENDOR
    if not (vendor / MANIFEST).is_file() or (vendor / MANIFEST).read_text() != (assets_dir / MANIFEST).read_text():
        shutil.copytree(assets_dir, vendor, dirs_exist_ok=True)
    for page in reports_dir.rglob("*.html"):
        if page.stat().st_mtime >= since and VENDOR.parts[1] not in page.relative_to(reports_dir).parts[:2]:
            _rewrite(page, reports_dir)
    return True


def _rewrite(page: Path, reports_dir: Path) -> None:
    text = page.read_text()
    up = os.path.relpath(reports_dir, page.parent)
    new = text
    for url, (package, member) in ASSETS.items():
        new = new.replace(f'"{url}"', f'"{up}/{VENDOR.as_posix()}/{package_folder(package)}/package/{member}"')
    new = _HOSTED_LOGO.sub(f"{up}/{_SITE_LOGO}", new)
    if new != text:
        tmp = page.with_name(f".{page.name}.tmp")
        tmp.write_text(new)
        os.replace(tmp, page)
