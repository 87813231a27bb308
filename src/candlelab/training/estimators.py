"""Estimators: the three model kinds `candlelab train` fits, their parameters, and one
fit per fold.

- `lightgbm` (the default): one binned LightGBM Dataset of every row of the matrix, built
  once; each fit trains on a subset of it (LightGBM's own `subset`, which copies bins, not
  values), so the rows are binned once, not per fold. The few untaught rows (the charts'
  ends, the ATR's warm-up) are binned too: copying the taught rows out of the matrix
  first would cost more than binning them. The bin edges come from the features of every
  row, labels unseen (LightGBM's binning is unsupervised); nothing else is fitted beyond a
  fold's training part.
- `logistic`: scikit-learn's logistic regression behind a median imputer and a scaler,
  all three fitted on the fold's training part only.
- `hgb`: scikit-learn's HistGradientBoosting, which takes NaN as it is.

Imbalanced classes are weighted by `class_weight = "balanced"` (the default) computed
on each fit's own training rows.

The training matrix is float32 (`MATRIX`), as XGBoost and Qlib keep theirs: half the
memory of the stored float64, and here a good part of what a training read costs (most of
it is the first write to fresh memory; docs/benchmarks.md). A model predicts on its rows
rounded the same way (`ModelSpec.input_dtype`), so a bar served gives the values that bar
gave in training, never one on the other side of a split; a value beyond float32's range
is refused in training and in prediction alike.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from candlelab.errors import DataError, InvalidValue
from candlelab.features.reading import first_beyond

Floats = npt.NDArray[np.float64]
Values = npt.NDArray[np.floating[Any]]  # a matrix's rows: float32, or float64 as stored
Ints = npt.NDArray[np.int64]
MODELS = ("lightgbm", "logistic", "hgb")
MATRIX = np.float32  # the training matrix's values (see the module's docstring)
# LightGBM predicts fewer rows than this on one thread. Its OpenMP threads gain nothing
# on a row or a few (0.024 ms for a row either way), and once woken they spin on for
# more work: in `candlelab serve` that took the two cores from PostgreSQL and the event
# loop, a one-row predict's p90 5.6 ms against 0.4 ms on one thread (docs/benchmarks.md,
# "Serving a model"). From 100 rows the threads pay (0.13 against 0.22 ms on two cores).
FEW_ROWS = 100
COMMON: dict[str, Any] = {"class_weight": "balanced"}
DEFAULTS: dict[str, dict[str, Any]] = {
    "lightgbm": {"num_boost_round": 200, "learning_rate": 0.05, "num_leaves": 31,
                 "max_depth": -1, "min_data_in_leaf": 50, "feature_fraction": 0.9,
                 "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l1": 0.0,
                 "lambda_l2": 1.0, "max_bin": 255, "seed": 7, "num_threads": 0},
    "logistic": {"C": 1.0, "max_iter": 1000},
    "hgb": {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 31,
            "min_samples_leaf": 20, "l2_regularization": 0.0, "random_state": 7},
}  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    classes: int = 0  # 0: regression
    # The type of the values the model was fitted on, its rows are rounded to that before
    # a prediction: float32 since the matrix is; float64 for models trained before.
    input_dtype: str = np.dtype(MATRIX).name

    @property
    def settings(self) -> dict[str, Any]:
        """Every parameter, defaults included (what is logged and hashed)."""
        return {**COMMON, **DEFAULTS[self.kind], **self.params}


def model_spec(kind: str, params: Mapping[str, object], classes: int) -> ModelSpec:
    """A checked spec: a known model, known parameters of the right type."""
    if kind not in MODELS:
        raise InvalidValue(f"unknown model {kind!r}; choose one of {', '.join(MODELS)}")
    if kind == "logistic" and classes == 0:
        raise InvalidValue("a logistic regression needs classes: choose lightgbm or hgb "
                           "for a forward return's value")  # fmt: skip
    known = {**COMMON, **DEFAULTS[kind]}
    checked = {name: _typed(kind, name, value, known) for name, value in params.items()}
    if checked.get("class_weight", "balanced") not in ("balanced", "none"):
        raise InvalidValue("parameter class_weight: 'balanced' or 'none'")
    return ModelSpec(kind, checked, classes)


def parsed_params(pairs: list[str]) -> dict[str, object]:
    """`k=v` strings as a mapping (values typed later against the model's defaults)."""
    out: dict[str, object] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidValue(f"--param {pair!r}: write it as name=value")
        out[name.strip()] = value.strip()
    return out


def _typed(kind: str, name: str, value: object, known: Mapping[str, Any]) -> object:
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(known)}"
        raise InvalidValue(f"unknown {kind} parameter {name!r}; {hint}")
    default = known[name]
    try:
        if isinstance(default, str):
            return str(value)
        if isinstance(default, int):
            return int(str(value))
        return float(str(value))
    except ValueError:
        raise InvalidValue(f"{kind} parameter {name}: {value!r} is not a "
                           f"{type(default).__name__}") from None  # fmt: skip


def sample_weights(y: Floats, classes: int, balanced: bool) -> Floats | None:
    """Balanced class weights over these rows (n / (k * count of the row's class))."""
    if not balanced or classes == 0:
        return None
    labels = y.astype(np.int64)
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights[labels]


@dataclass(frozen=True)
class Fitted:
    """A fitted model of a spec: `predict` gives class probabilities (rows, classes), or
    values (rows,) for regression."""

    spec: ModelSpec
    model: Any  # lightgbm.Booster, or a scikit-learn estimator

    def predict(self, x: Values) -> Floats:
        x = rounded(x, self.spec.input_dtype)
        if self.spec.kind != "lightgbm":
            if self.spec.classes:
                return _all_classes(self.model, self.model.predict_proba(x), self.spec.classes)
            return np.asarray(self.model.predict(x), dtype=np.float64)
        threads = {"num_threads": 1} if len(x) < FEW_ROWS else {}
        raw = np.asarray(self.model.predict(x, **threads), dtype=np.float64)
        if self.spec.classes == 2:
            return np.column_stack([1 - raw, raw])
        return raw

    def gain(self) -> Floats | None:
        """LightGBM's total gain per feature (None for the other kinds)."""
        if self.spec.kind != "lightgbm":
            return None
        return np.asarray(self.model.feature_importance("gain"), dtype=np.float64)


def rounded(x: Values, dtype: str) -> Values:
    """The rows in the type a model takes (no copy when they are); refused where a value
    overflows it, as a training read refuses one: the model never saw such a value."""
    try:
        with np.errstate(over="raise"):
            return np.asarray(x, dtype=dtype)
    except FloatingPointError:
        found = first_beyond(x, dtype)
        assert found is not None, "the cast overflowed"
        row, column = found
        limit = float(np.finfo(dtype).max)
        raise DataError(
            f"row {row}, feature {column + 1}: {x[row, column]:g} is beyond the "
            f"{dtype} range (±{limit:.4g}) the model was trained on"
        ) from None


class Learner:
    """Fits one spec on subsets of the rows of one matrix; for LightGBM the matrix is
    binned once here and every fit takes a subset of that binned Dataset."""

    def __init__(self, spec: ModelSpec, x: Values, y: Floats) -> None:
        # Rounded as its predictions will round them (no copy of a training matrix).
        self.spec, self.x, self.y = spec, rounded(x, spec.input_dtype), y
        self.binned = _binned(spec, self.x, y) if spec.kind == "lightgbm" else None

    def fit(self, rows: Ints) -> Fitted:
        weights = sample_weights(self.y[rows], self.spec.classes,
                                 self.spec.settings["class_weight"] == "balanced")  # fmt: skip
        if self.binned is not None:
            return Fitted(self.spec, _fit_lightgbm(self.spec, self.binned, rows, weights))
        model = _sklearn_model(self.spec)
        step = "model__sample_weight" if self.spec.kind == "logistic" else "sample_weight"
        extra = {step: weights} if weights is not None else {}
        model.fit(self.x[rows], self._target(rows), **extra)
        return Fitted(self.spec, model)

    def _target(self, rows: Ints) -> npt.NDArray[Any]:
        return self.y[rows].astype(np.int64) if self.spec.classes else self.y[rows]


def _binned(spec: ModelSpec, x: Values, y: Floats) -> Any:
    import lightgbm as lgb

    # Binned with the fits' own parameters, as `lgb.train` would bin the rows itself: its
    # pre-filter drops the features no split can use (too few rows beside their most
    # common value on every row, so on any subset too) before any fit builds histograms
    # of them. The raw rows are not kept: a subset of a Dataset that keeps them copies
    # its rows of x too (LightGBM's `get_data`), gigabytes per fit that no fit reads.
    params, _ = _lightgbm_params(spec)
    return lgb.Dataset(x, label=y, params=params, free_raw_data=True).construct()


def _fit_lightgbm(spec: ModelSpec, binned: Any, rows: Ints, weights: Floats | None) -> Any:
    import lightgbm as lgb

    part = _part(binned, rows)
    if weights is not None:
        order = np.argsort(rows, kind="stable")
        part.set_weight(weights[order])
    params, rounds = _lightgbm_params(spec)
    return lgb.train(params, part, num_boost_round=rounds)


def _lightgbm_params(spec: ModelSpec) -> tuple[dict[str, Any], int]:
    """LightGBM's parameters for the spec, and its number of rounds."""
    settings = {k: v for k, v in spec.settings.items() if k != "class_weight"}
    rounds = settings.pop("num_boost_round")
    params = {**settings, **_objective(spec), "verbosity": -1, "deterministic": True,
              "force_row_wise": True}  # fmt: skip
    return params, rounds


def _part(binned: Any, rows: Ints) -> Any:
    """The binned rows a fit trains on: the Dataset itself when they are all of its rows,
    else a subset of it (LightGBM copies the rows' bins, not their values). Weights set on
    the Dataset itself do not leak into a later fit: a spec weighs every fit or none, and
    each one sets its own."""
    if len(rows) == binned.num_data():
        return binned
    # Constructed here: LightGBM drops the weights set on a subset before its construction.
    return binned.subset(np.sort(rows).astype(np.int32).tolist()).construct()


def _objective(spec: ModelSpec) -> dict[str, Any]:
    if spec.classes == 0:
        return {"objective": "regression"}
    if spec.classes == 2:
        return {"objective": "binary"}
    return {"objective": "multiclass", "num_class": spec.classes}


def _sklearn_model(spec: ModelSpec) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    params = {k: v for k, v in spec.settings.items() if k != "class_weight"}
    if spec.kind == "hgb":
        kind = HistGradientBoostingClassifier if spec.classes else HistGradientBoostingRegressor
        return kind(**params)
    steps = [("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
             ("scale", StandardScaler()), ("model", LogisticRegression(**params))]  # fmt: skip
    return Pipeline(steps)


def _all_classes(model: Any, proba: Floats, classes: int) -> Floats:
    """Probabilities in a column per class, zeros for classes the fit never saw."""
    out = np.zeros((len(proba), classes))
    out[:, np.asarray(model.classes_, dtype=np.int64)] = proba
    return out
