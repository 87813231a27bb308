"""The chart library, installed from its npm package at set-up and served from there.

TradingView's lightweight-charts draws candlesticks and histograms on canvas, keeps a
time scale that pans and zooms over any number of bars, takes data in pieces (so a
window can be prepended as the user scrolls back), and has panes (the volume) and
series primitives (the span rectangles). It is Apache-2.0 and one 200 kB file.

`make install` runs `python -m candlelab.web.assets`: the pinned tarball is fetched
from the npm registry, checked against the integrity hash npm publishes, and its
standalone build unpacked into the virtual environment (`<prefix>/share/candlelab`).
Nothing of it is committed. The app serves it from there, and refuses to start
without it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

from candlelab.errors import CandlelabError

PACKAGE = "lightweight-charts"
VERSION = "5.2.1"
TARBALL = f"https://registry.npmjs.org/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz"
# npm's `dist.integrity` for this version.
INTEGRITY = (
    "sha512-IVwoK1RLFiLPubaKIjNbtjWLnpPMqiABSrTay6whmNa8L1+19292VtHJ+BWyPUuLCwF0tcQlhEWd1CLB2a1nsQ"
    "=="
)
# The one inline style the library adds: the rules of its TradingView attribution link
# (which its licence asks pages to show). The page's policy allows exactly this text.
ATTRIBUTION_STYLE = "'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='"
MEMBERS = {  # file in the package → name served under /vendor/
    "package/dist/lightweight-charts.standalone.production.js": "lightweight-charts.js",
    "package/LICENSE": "lightweight-charts.LICENSE.txt",
}


class AssetsMissing(CandlelabError):
    """The chart library has not been installed."""


def vendor_dir() -> Path:
    """Where the installed files live: beside the interpreter's environment."""
    return Path(sys.prefix) / "share" / "candlelab" / f"{PACKAGE}-{VERSION}"


def installed() -> Path:
    """The folder of installed files, or an error saying how to install them."""
    folder = vendor_dir()
    if not all((folder / name).is_file() for name in MEMBERS.values()):
        raise AssetsMissing(
            f"the chart library {PACKAGE} {VERSION} is not installed in {folder}: "
            "run `make install` (or `python -m candlelab.web.assets`)"
        )
    return folder


def install(source: str = TARBALL) -> Path:
    """Fetch, check and unpack the package; nothing is done when it is already there."""
    folder = vendor_dir()
    try:
        return installed()
    except AssetsMissing:
        pass
    with urllib.request.urlopen(source, timeout=60) as response:
        data = response.read()
    _check_integrity(data, source)
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member, name in MEMBERS.items():
            extracted = archive.extractfile(member)
            if extracted is None:
                raise AssetsMissing(f"{source} has no file {member}")
            (folder / name).write_bytes(extracted.read())
    return folder


def _check_integrity(data: bytes, source: str) -> None:
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != INTEGRITY:
        raise AssetsMissing(f"{source}: integrity {digest} is not the pinned {INTEGRITY}")


if __name__ == "__main__":
    print(f"{PACKAGE} {VERSION} in {install()}")
