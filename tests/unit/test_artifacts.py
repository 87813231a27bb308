"""Model artifacts: a scikit-learn file holding a type outside the allow-list is refused
before anything in it is built, even when its sha256 is the recorded one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from candlelab.training.artifacts import TRUSTED, ArtifactRefused, file_sha256, load_model

RAN: list[str] = []  # what the untrusted code did, if anything ever ran it


def shout(x: Any) -> Any:
    RAN.append("shout called")
    return x


class Loud(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """A transformer that says when it is rebuilt from a file."""

    def fit(self, x: Any, y: Any = None) -> Loud:
        return self

    def transform(self, x: Any) -> Any:
        return x

    def __setstate__(self, state: dict[str, Any]) -> None:
        RAN.append("Loud rebuilt")
        super().__setstate__(state)


def saved(step: Any, directory: Path) -> str:
    """A pipeline with `step` before a logistic regression, fitted and saved with skops
    where an MLflow model directory keeps it; the file's sha256, as training records it."""
    x = np.random.default_rng(1).random((20, 2))
    pipeline = Pipeline([("odd", step), ("model", LogisticRegression())])
    pipeline.fit(x, np.r_[np.zeros(10), np.ones(10)])
    sio.dump(pipeline, directory / "model.skops")
    return file_sha256(directory / "model.skops")


@pytest.mark.parametrize(
    ("step", "untrusted"),
    [(FunctionTransformer(shout), f"{__name__}.shout"), (Loud(), f"{__name__}.Loud")],
)
def test_a_type_outside_the_allow_list_is_refused_and_nothing_runs(
    tmp_path: Path, step: Any, untrusted: str
) -> None:
    sha256 = saved(step, tmp_path)
    RAN.clear()
    # The recorded hash is the file's: the allow-list, not the hash check, refuses it.
    with pytest.raises(ArtifactRefused, match=f"outside the allow-list, not loaded: {untrusted}$"):
        load_model(tmp_path, "logistic", sha256)
    assert RAN == []


def test_the_same_file_trusted_by_hand_would_run_its_code(tmp_path: Path) -> None:
    """The probe works: with the type allowed, loading the file runs it."""
    saved(Loud(), tmp_path)
    RAN.clear()
    sio.load(tmp_path / "model.skops", trusted=[*TRUSTED, f"{__name__}.Loud"])
    assert RAN == ["Loud rebuilt"]
