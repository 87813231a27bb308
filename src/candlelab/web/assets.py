"""The browser's libraries, installed from their npm packages at set-up and served from there.

- **lightweight-charts** (TradingView, Apache-2.0): the chart. It draws candlesticks and
  histograms on canvas, keeps a time scale that pans and zooms over any number of bars,
  takes data in pieces (so a window can be prepended as the user scrolls back), and has
  panes (the volume) and series primitives (the span rectangles), in one 200 kB file.
- **swagger-ui-dist** (Apache-2.0): the API's pages at /docs, so they work with no
  network and under the same script policy as the rest (FastAPI's own page loads them
  from a CDN with an inline script).

`make install` runs `python -m candlelab.web.assets`: each pinned tarball is fetched
from the npm registry, checked against the integrity hash npm publishes, and the files
the app uses are unpacked into the virtual environment (`<prefix>/share/candlelab`).
Nothing of them is committed. The app serves them at /vendor/, and refuses to start
without them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from candlelab.errors import CandlelabError


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # npm's `dist.integrity` for this version
    members: dict[str, str]  # file in the package → name served under /vendor/

    @property
    def tarball(self) -> str:
        return f"https://registry.npmjs.org/{self.name}/-/{self.name}-{self.version}.tgz"

    @property
    def stamp(self) -> str:
        """The file that says this version was installed whole."""
        return f".{self.name}-{self.version}.installed"


PACKAGES = (
    Package(
        "lightweight-charts",
        "5.2.1",
        "sha512-IVwoK1RLFiLPubaKIjNbtjWLnpPMqiABSrTay6whmNa8L1+19292VtHJ+BWyPUuLCwF0tcQlhEWd1CLB"
        "2a1nsQ==",
        {
            "package/dist/lightweight-charts.standalone.production.js": "lightweight-charts.js",
            "package/LICENSE": "lightweight-charts.LICENSE.txt",
        },
    ),
    Package(
        "swagger-ui-dist",
        "5.35.0",
        "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3s"
        "U8yVUQ==",
        {
            "package/swagger-ui-bundle.js": "swagger-ui-bundle.js",
            "package/swagger-ui.css": "swagger-ui.css",
            "package/LICENSE": "swagger-ui.LICENSE.txt",
        },
    ),
)
# The one inline style the chart library adds: the rules of its TradingView attribution
# link (which its licence asks pages to show). The page's policy allows exactly this text.
ATTRIBUTION_STYLE = "'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='"


class AssetsMissing(CandlelabError):
    """The chart library has not been installed."""


def vendor_dir() -> Path:
    """Where the installed files live: beside the interpreter's environment."""
    return Path(sys.prefix) / "share" / "candlelab" / "vendor"


def installed() -> Path:
    """The folder of installed files, or an error saying how to install them."""
    folder = vendor_dir()
    missing = [f"{p.name} {p.version}" for p in PACKAGES if not _is_installed(p, folder)]
    if missing:
        raise AssetsMissing(
            f"{' and '.join(missing)} not installed in {folder}: run `make install` "
            "(or `python -m candlelab.web.assets`)"
        )
    return folder


def install() -> Path:
    """Fetch, check and unpack each package not yet installed."""
    folder = vendor_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        if not _is_installed(package, folder):
            _unpack(package, _fetched(package.tarball, package.integrity), folder)
    return installed()


def _is_installed(package: Package, folder: Path) -> bool:
    names = [package.stamp, *package.members.values()]
    return all((folder / name).is_file() for name in names)


def _fetched(source: str, integrity: str) -> bytes:
    with urllib.request.urlopen(source, timeout=120) as response:
        data: bytes = response.read()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != integrity:
        raise AssetsMissing(f"{source}: integrity {digest} is not the pinned {integrity}")
    return data


def _unpack(package: Package, data: bytes, folder: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member, name in package.members.items():
            extracted = archive.extractfile(member)
            if extracted is None:
                raise AssetsMissing(f"{package.tarball} has no file {member}")
            (folder / name).write_bytes(extracted.read())
    (folder / package.stamp).touch()  # last: a half-unpacked package is not installed


if __name__ == "__main__":
    folder = install()
    print(", ".join(f"{p.name} {p.version}" for p in PACKAGES) + f" in {folder}")
