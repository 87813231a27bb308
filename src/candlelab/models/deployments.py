"""Deployments: which registered model version serves under which alias, and every move.

MLflow's registry aliases (`champion`, `challenger`, any name) are the truth of what
serves. Each move of an alias made through candlelab is appended to `model_deployments`
in the same step: the row is written in a transaction, the alias moved in MLflow, and the
transaction committed; if MLflow refuses, the row is rolled back, and if the commit
fails, the alias is put back. Rows are never changed (the table's triggers refuse it).
A move of an alias outside candlelab (MLflow's UI) shows as a disagreement until `sync`
records it.

A version is put in service only when it exists, its artifact's sha256 is the one its
registry tag and `training_runs` recorded (the file is loaded through
`artifacts.load_model`), and its feature-set version is built and current on the charts
it was trained on. The traffic share of a non-champion alias is in (0, 1]; a shadow
predicts on every request and serves none; the champion serves what the others leave.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from candlelab.errors import DataError, NotFound
from candlelab.features.registry import stored_set
from candlelab.models.routing import CHAMPION, Serving, champion_share
from candlelab.store.database import Connection, translated
from candlelab.store.queries import load_queries
from candlelab.training.artifacts import ArtifactRefused, load_model
from candlelab.training.datasets import check_built, recorded_dataset
from candlelab.training.runs import RunDetail, run_detail
from candlelab.training.tracking import RegisteredVersion, Tracking

QUERIES = load_queries(__file__)
LOCK_CLASS = 0x0CA3  # the first key of the per-model deployment locks
SHA_TAG = "candlelab.artifact_sha256"  # the registry tag the trainer writes
SYNCED = "moved in MLflow's registry outside candlelab; recorded by sync"


class DeploymentRefused(DataError):
    """A move of a model's alias was refused; nothing was written."""


@dataclass(frozen=True)
class Move:
    """One row of the audit trail: what `alias` names after the move (None: taken away)."""

    id: int | None
    model_name: str
    alias: str
    action: str  # promote, rollback, sync or retire
    version: int | None
    replaced_version: int | None
    traffic_share: float
    shadow: bool
    changed_by: str
    reason: str
    changed_at: datetime | None = None


@dataclass(frozen=True)
class AliasState:
    """An alias as MLflow's registry holds it and as candlelab's newest move recorded it."""

    alias: str
    version: int | None  # in MLflow's registry (the truth); None: not there
    recorded: int | None  # by the newest move; None: none, or taken away
    traffic_share: float  # the share it serves (the champion's: what the others leave)
    shadow: bool
    agrees: bool


@dataclass(frozen=True)
class VersionState:
    version: int
    run_id: str
    created_at: datetime
    aliases: tuple[str, ...]
    traffic_share: float  # of requests it serves, over all its aliases
    shadow: bool


@dataclass(frozen=True)
class ModelState:
    name: str
    versions: list[VersionState]
    aliases: list[AliasState]
    agrees: bool  # MLflow's registry and the newest recorded moves name the same versions


def promote(conn: Connection, tracking: Tracking, name: str, version: int, alias: str, *,
            traffic: float | None = None, shadow: bool = False, reason: str,
            who: str) -> Move:  # fmt: skip
    """Point `alias` at `version` in MLflow's registry and record the move (committed)."""
    share = _share(alias, traffic, shadow)
    if not reason.strip():
        raise DeploymentRefused("a promotion needs a --reason, for the audit trail")
    with _locked(conn, name):
        latest = _agreed(conn, tracking, name, alias)
        check_servable(conn, tracking, name, version)
        move = Move(None, name, alias, "promote", version, _version_of(latest), share, shadow,
                    who, reason.strip())  # fmt: skip
        _check_shares(conn, move)
        return _moved(conn, tracking, move)


def rollback(conn: Connection, tracking: Tracking, name: str, alias: str = CHAMPION, *,
             reason: str | None = None, who: str) -> Move:  # fmt: skip
    """Put back the version that held `alias` before its newest move, with the share it
    had then (committed); refused when no version held it before."""
    with _locked(conn, name):
        latest, previous = _last_two(conn, name, alias)
        _check_agrees(tracking, name, alias, latest)
        latest, back = _rolled_back_to(name, alias, latest)
        check_servable(conn, tracking, name, back)
        was = previous if previous is not None and previous.version == back else latest
        why = reason or f"rolled back from version {latest.version}"
        move = Move(None, name, alias, "rollback", back, latest.version, was.traffic_share,
                    was.shadow, who, why)  # fmt: skip
        _check_shares(conn, move)
        return _moved(conn, tracking, move)


def retire(conn: Connection, tracking: Tracking, name: str, alias: str, *, reason: str,
           who: str) -> Move:  # fmt: skip
    """Take `alias` away in MLflow's registry (its version stops serving) and record it."""
    with _locked(conn, name):
        latest = _agreed(conn, tracking, name, alias)
        if _version_of(latest) is None:
            raise DeploymentRefused(f"model {name} has no alias {alias!r} to retire")
        move = Move(None, name, alias, "retire", None, _version_of(latest), 0.0, False, who,
                    reason or "retired")  # fmt: skip
        return _moved(conn, tracking, move)


def sync(conn: Connection, tracking: Tracking, name: str, *, who: str,
         reason: str | None = None) -> list[Move]:  # fmt: skip
    """Record each alias that MLflow's registry and the newest moves disagree on, as
    MLflow has it (committed); the moves written."""
    with _locked(conn, name):
        truth, recorded = tracking.aliases(name), _current(conn, name)
        moves = [replace(_synced(name, alias, truth.get(alias), recorded.get(alias)),
                         changed_by=who, reason=reason or SYNCED)
                 for alias in sorted(set(truth) | set(recorded))
                 if truth.get(alias) != _version_of(recorded.get(alias))]  # fmt: skip
        written = [_record(conn, move) for move in moves]
        conn.commit()
    return written


def history(conn: Connection, name: str) -> list[Move]:
    """Every move of the model's aliases, newest first."""
    return [_move(row) for row in conn.execute(QUERIES["history"], {"model_name": name})]


def serving(conn: Connection, tracking: Tracking, name: str) -> list[Serving]:
    """The versions serving the model now: each alias MLflow's registry holds, with the
    share and shadow flag of its newest recorded move; the champion first. An alias
    never recorded (set in MLflow's UI, not synced) serves nothing unless it is the
    champion. Callers keep the answer and ask again when channel model_deployments says
    the model moved."""
    return servings(tracking.aliases(name), _current(conn, name))


def serving_set(conn: Connection, name: str) -> list[Serving]:
    """`serving` read with SQL alone: MLflow's alias table and the newest moves, two
    queries on the caller's connection (a prediction's; no MLflow client)."""
    rows = conn.execute(QUERIES["registry_aliases"], {"model_name": name}, prepare=True)
    return servings({str(alias): int(version) for alias, version in rows}, _current(conn, name))


def servings(truth: dict[str, int], recorded: dict[str, Move]) -> list[Serving]:
    """`serving` from MLflow's aliases and the newest move of each alias."""
    others = []
    for alias, version in sorted(truth.items()):
        move = recorded.get(alias)
        if alias == CHAMPION or move is None or not (move.shadow or move.traffic_share > 0):
            continue
        others.append(Serving(alias, version, move.traffic_share, move.shadow))
    if CHAMPION not in truth:
        return others
    share = champion_share([s.traffic_share for s in others if not s.shadow])
    return [Serving(CHAMPION, truth[CHAMPION], share), *others]


def model_states(conn: Connection, tracking: Tracking) -> list[ModelState]:
    """Every registered model (and every model with recorded moves), by name."""
    recorded = [str(name) for (name,) in conn.execute(QUERIES["recorded_models"])]
    names = sorted(set(tracking.registered_names()) | set(recorded))
    return [model_state(conn, tracking, name) for name in names]


def model_state(conn: Connection, tracking: Tracking, name: str) -> ModelState:
    """A model's versions, the aliases each holds and the shares they serve, and whether
    MLflow's registry and the recorded moves agree."""
    versions = tracking.registered_versions(name)
    truth, recorded = tracking.aliases(name), _current(conn, name)
    if not versions and not recorded:
        raise NotFound(f"no registered model {name!r}; `candlelab models list` lists them")
    served = {s.alias: s for s in servings(truth, recorded)}
    held = set(truth) | {alias for alias, move in recorded.items() if move.version is not None}
    aliases = [_alias_state(alias, truth.get(alias), recorded.get(alias), served.get(alias))
               for alias in sorted(held)]  # fmt: skip
    states = [_version_state(v, served) for v in versions]
    return ModelState(name, states, aliases, all(a.agrees for a in aliases))


def check_servable(conn: Connection, tracking: Tracking, name: str,
                   version: int) -> RegisteredVersion:  # fmt: skip
    """The registered version, once it exists, its artifact is the one recorded at
    training, and its feature-set version is built and current."""
    found = tracking.registered_version(name, version)
    if found is None:
        if not tracking.registered_versions(name):
            raise NotFound(f"no registered model {name!r}; `candlelab models list` lists them")
        raise NotFound(f"model {name} has no version {version}; "
                       f"`candlelab models show {name}` lists its versions")  # fmt: skip
    detail = run_detail(conn, found.run_id)
    _check_artifact(tracking, found, detail)
    _check_features(conn, found, detail)
    return found


def _check_artifact(tracking: Tracking, found: RegisteredVersion, detail: RunDetail) -> None:
    what = f"model {found.name} version {found.version}"
    sha = found.tags.get(SHA_TAG)
    if sha is None or detail.artifact_sha256 is None:
        raise DeploymentRefused(
            f"{what} has no recorded sha256 (tag {SHA_TAG} and "
            "training_runs): not trained by candlelab, not put in service"
        )
    if sha != detail.artifact_sha256:
        raise DeploymentRefused(f"{what}: its registry tag {SHA_TAG} {sha[:16]}… differs from "
                                f"{detail.artifact_sha256[:16]}… in training_runs; not put in "
                                "service")  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        try:
            load_model(tracking.download_model(found.run_id, Path(scratch)), detail.model_type,
                       sha)  # fmt: skip
        except ArtifactRefused as exc:
            raise DeploymentRefused(f"{what}: {exc}") from None


def _check_features(conn: Connection, found: RegisteredVersion, detail: RunDetail) -> None:
    what = f"model {found.name} version {found.version}"
    dataset = recorded_dataset(conn, detail.dataset_version or "")
    if dataset is None:
        raise DeploymentRefused(f"{what}: its run {found.run_id} has no recorded dataset")
    try:
        stored = stored_set(conn, dataset.definition["features"]["set"])
        check_built(conn, stored, dataset.chart_ids, dataset.data_end)
    except DataError as exc:
        raise DeploymentRefused(f"{what} cannot serve: {exc}") from None


def _share(alias: str, traffic: float | None, shadow: bool) -> float:
    """The traffic share a move records, or the refusal of what was asked."""
    if traffic is not None and not (0 < traffic <= 1):  # NaN too
        raise DeploymentRefused(f"--traffic {traffic}: a share of requests, 0 < share <= 1")
    if shadow and traffic is not None:
        raise DeploymentRefused("--shadow predicts on every request and serves none: "
                                "it takes no --traffic")  # fmt: skip
    if alias == CHAMPION:
        if shadow or (traffic is not None and traffic != 1):
            raise DeploymentRefused(
                "the champion serves what the other aliases leave: it "
                "takes no --traffic or --shadow; give them to another alias"
            )
        return 1.0
    if not shadow and traffic is None:
        raise DeploymentRefused(f"alias {alias!r}: give --traffic SHARE (0 < SHARE <= 1) or "
                                "--shadow; only the champion serves without a share")  # fmt: skip
    return 0.0 if shadow else float(traffic or 0.0)


def _check_shares(conn: Connection, move: Move) -> None:
    """The non-champion aliases' shares, with this move's, add to 1 at most."""
    others = {m.alias: m.traffic_share for m in _current(conn, move.model_name).values()
              if m.alias not in (CHAMPION, move.alias) and m.version is not None
              and not m.shadow}  # fmt: skip
    mine = 0.0 if move.alias == CHAMPION else move.traffic_share
    total = sum(others.values()) + mine
    if total > 1 + 1e-9:
        taken = ", ".join(f"{alias} {share:g}" for alias, share in sorted(others.items()))
        raise DeploymentRefused(f"traffic shares would add to {total:g} ({taken} already): "
                                "lower --traffic, or retire an alias first")  # fmt: skip


def _rolled_back_to(name: str, alias: str, latest: Move | None) -> tuple[Move, int]:
    if latest is None:
        raise DeploymentRefused(f"alias {alias!r} of model {name} has no recorded move to "
                                "roll back")  # fmt: skip
    if latest.replaced_version is None:
        raise DeploymentRefused(f"nothing to roll back to: version {latest.version} was the "
                                f"first to hold alias {alias!r} of model {name}; `candlelab "
                                f"models retire {name} --alias {alias}` takes it away")  # fmt: skip
    return latest, latest.replaced_version


def _synced(name: str, alias: str, version: int | None, latest: Move | None) -> Move:
    """A sync row: the alias as MLflow has it, with the share it had (a new alias: the
    champion serves the rest, any other nothing until promoted with a share)."""
    share, shadow = (1.0 if alias == CHAMPION else 0.0), False
    if version is None:
        share = 0.0
    elif latest is not None and latest.version is not None:
        share, shadow = latest.traffic_share, latest.shadow
    return Move(None, name, alias, "sync", version, _version_of(latest), share, shadow, "",
                SYNCED)  # fmt: skip


@contextmanager
def _locked(conn: Connection, name: str) -> Iterator[None]:
    """The model's deployment lock for one transaction; rolled back on any failure."""
    try:
        conn.execute(QUERIES["lock_model"], {"lock_class": LOCK_CLASS, "model_name": name})
        yield
    except BaseException:
        conn.rollback()
        raise


def _agreed(conn: Connection, tracking: Tracking, name: str, alias: str) -> Move | None:
    """The alias's newest move, once MLflow's registry names the same version."""
    latest, _ = _last_two(conn, name, alias)
    _check_agrees(tracking, name, alias, latest)
    return latest


def _check_agrees(tracking: Tracking, name: str, alias: str, latest: Move | None) -> None:
    truth, recorded = tracking.aliases(name).get(alias), _version_of(latest)
    if truth != recorded:
        raise DeploymentRefused(
            f"alias {alias!r} of model {name} names version {truth} in MLflow's registry but "
            f"{recorded} in candlelab's record (moved outside candlelab): run "
            f"`candlelab models sync {name}` first")  # fmt: skip


def _moved(conn: Connection, tracking: Tracking, move: Move) -> Move:
    """The row written, the alias moved, the row committed; the alias put back if the
    commit fails, the row rolled back if MLflow refuses."""
    recorded = _record(conn, move)
    tracking.set_alias(move.model_name, move.alias, move.version)  # _locked rolls back
    try:
        conn.commit()
    except BaseException:
        tracking.set_alias(move.model_name, move.alias, move.replaced_version)
        raise
    return recorded


def _record(conn: Connection, move: Move) -> Move:
    params = {k: v for k, v in move.__dict__.items() if k not in ("id", "changed_at")}
    with translated():
        row = conn.execute(QUERIES["record_move"], params).fetchone()
    assert row is not None, "the insert returned no row"
    return replace(move, id=int(row[0]), changed_at=row[1])


def _last_two(conn: Connection, name: str, alias: str) -> tuple[Move | None, Move | None]:
    rows = [_move(r) for r in conn.execute(QUERIES["alias_moves"],
                                           {"model_name": name, "alias": alias})]  # fmt: skip
    return (rows[0] if rows else None), (rows[1] if len(rows) > 1 else None)


def _current(conn: Connection, name: str) -> dict[str, Move]:
    rows = conn.execute(QUERIES["current_moves"], {"model_name": name}, prepare=True)
    return {move.alias: move for move in map(_move, rows)}


def _move(row: Any) -> Move:
    id_, name, alias, action, version, replaced, share, shadow, by, reason, at = row
    return Move(int(id_), name, alias, action, version, replaced, float(share), bool(shadow),
                by or "", reason or "", at)  # fmt: skip


def _version_of(move: Move | None) -> int | None:
    return None if move is None else move.version


def _alias_state(alias: str, truth: int | None, latest: Move | None,
                 served: Serving | None) -> AliasState:  # fmt: skip
    recorded = _version_of(latest)
    share = served.traffic_share if served is not None else 0.0
    shadow = served.shadow if served is not None else bool(latest and latest.shadow)
    return AliasState(alias, truth, recorded, share, shadow, truth == recorded)


def _version_state(found: RegisteredVersion, served: dict[str, Serving]) -> VersionState:
    mine = [s for s in served.values() if s.version == found.version]
    share = math.fsum(s.traffic_share for s in mine)
    return VersionState(found.version, found.run_id, found.created_at, found.aliases, share,
                        any(s.shadow for s in mine))  # fmt: skip
