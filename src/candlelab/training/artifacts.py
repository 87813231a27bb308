"""Model artifacts: loaded only in formats whose loading runs no code, and only when their
sha256 is the one recorded at training.

LightGBM models are LightGBM's own text; scikit-learn models are skops files, loaded with
an explicit allow-list of the types candlelab's pipelines hold (skops refuses any other).
MLflow's pickle loading is never used.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from candlelab.errors import DataError

# Beyond skops' own defaults (scikit-learn's estimators, NumPy arrays): what the
# logistic pipeline and HistGradientBoosting hold.
TRUSTED = ("numpy.dtype", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor")


class ArtifactRefused(DataError):
    """A model file differs from the one recorded at training, or holds untrusted types."""


def model_file(kind: str) -> str:
    return "model.lgb" if kind == "lightgbm" else "model.skops"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_model(directory: Path, kind: str, sha256: str) -> Any:
    """The model in `directory` (an MLflow model directory), once its file's hash is the
    recorded one."""
    path = directory / model_file(kind)
    found = file_sha256(path)
    if found != sha256:
        raise ArtifactRefused(f"{path}: sha256 {found[:16]}… differs from {sha256[:16]}… "
                              "recorded at training; the file was changed, not loaded")  # fmt: skip
    if kind == "lightgbm":
        import lightgbm as lgb

        return lgb.Booster(model_file=str(path))
    return _skops_load(path)


def _skops_load(path: Path) -> Any:
    import skops.io as sio

    untrusted = set(sio.get_untrusted_types(file=path)) - set(TRUSTED)
    if untrusted:
        raise ArtifactRefused(f"{path}: holds types outside the allow-list, not loaded: "
                              f"{', '.join(sorted(untrusted))}")  # fmt: skip
    return sio.load(path, trusted=list(TRUSTED))
