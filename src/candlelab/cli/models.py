"""`candlelab models`: registered models in service, their aliases' moves and their audit."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from candlelab.cli import workspace
from candlelab.cli.output import emit_json, out, table
from candlelab.cli.train import Json

if TYPE_CHECKING:
    from candlelab.models.deployments import ModelState, Move
    from candlelab.store.database import Connection
    from candlelab.training.tracking import Tracking

app = typer.Typer(
    help="Registered models in service: aliases (champion, challenger, shadows), every move "
    "audited in model_deployments, rollback.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="A registered model's name.")]
Alias = Annotated[str, typer.Option("--alias", help="The alias to move.")]
Reason = Annotated[str | None, typer.Option("--reason", help="Why, for the audit trail.")]
MOVING = ("promote", "roll back")  # the policy's actions that move an alias
By = Annotated[
    str | None,
    typer.Option("--by", help="Who moves it, for the audit trail.  [default: the OS user]"),
]


@app.command("list")
def list_models(ctx: typer.Context, json: Json = False) -> None:
    """Each registered model: its versions, the aliases each holds and the share of
    requests it serves; says where MLflow's registry and the audit trail disagree."""
    from candlelab.models.deployments import model_states

    with _registry(ctx) as (conn, tracking):
        states = model_states(conn, tracking)
    if json:
        emit_json(states)
        return
    rows = [[s.name, v.version, ", ".join(v.aliases), _share(v.traffic_share, v.shadow),
             v.run_id[:12], v.created_at] for s in states for v in s.versions]  # fmt: skip
    table("models", ("model", "version", "aliases", "serves", "run", "registered"), rows)
    for state in states:
        _say_disagreements(state)


@app.command("show")
def show(ctx: typer.Context, name: Name, json: Json = False) -> None:
    """One model: its versions, its aliases as MLflow and the audit trail have them, and
    its newest moves."""
    from candlelab.models.deployments import history, model_state

    with _registry(ctx) as (conn, tracking):
        state, moves = model_state(conn, tracking, name), history(conn, name)
    if json:
        emit_json({"model": state, "history": moves})
        return
    table(f"model {name}", ("version", "aliases", "serves", "run", "registered"),
          [[v.version, ", ".join(v.aliases), _share(v.traffic_share, v.shadow), v.run_id,
            v.created_at] for v in state.versions])  # fmt: skip
    table("aliases", ("alias", "MLflow", "recorded", "serves"),
          [[a.alias, _number(a.version), _number(a.recorded),
            _share(a.traffic_share, a.shadow)] for a in state.aliases])  # fmt: skip
    _say_disagreements(state)
    _moves_table("newest moves", moves[:10])


@app.command("promote")
def promote(
    ctx: typer.Context,
    name: Name,
    version: Annotated[int, typer.Argument(help="The version to put in service.", min=1)],
    alias: Annotated[str, typer.Option("--alias", help="champion, challenger or any name.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the audit trail.")],
    traffic: Annotated[
        float | None,
        typer.Option("--traffic", help="Share of requests a non-champion alias serves, (0, 1]."),
    ] = None,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="Predict on every request, logged, never served.")
    ] = False,
    by: By = None,
    json: Json = False,
) -> None:
    """Point an alias at a version in MLflow's registry and record the move. Refused for
    a version that does not exist, whose artifact fails its sha256 check, or whose feature
    set is not built and current."""
    from candlelab.models import deployments

    with _registry(ctx) as (conn, tracking):
        move = deployments.promote(conn, tracking, name, version, alias, traffic=traffic,
                                   shadow=shadow, reason=reason, who=_who(by))  # fmt: skip
    _print_move(move, json)


@app.command("rollback")
def rollback(ctx: typer.Context, name: Name, alias: Alias = "champion", reason: Reason = None,
             by: By = None, json: Json = False) -> None:  # fmt: skip
    """Put back the version that held the alias before its newest move, with the share it
    had then; recorded as a move of its own."""
    from candlelab.models import deployments

    with _registry(ctx) as (conn, tracking):
        move = deployments.rollback(conn, tracking, name, alias, reason=reason, who=_who(by))
    _print_move(move, json)


@app.command("retire")
def retire(ctx: typer.Context, name: Name, alias: Alias, reason: Reason = None,
           by: By = None, json: Json = False) -> None:  # fmt: skip
    """Take an alias away (its version stops serving under it); recorded as a move."""
    from candlelab.models import deployments

    with _registry(ctx) as (conn, tracking):
        move = deployments.retire(conn, tracking, name, alias, reason=reason or "", who=_who(by))
    _print_move(move, json)


@app.command("history")
def history(ctx: typer.Context, name: Name, json: Json = False) -> None:
    """Every move of the model's aliases, newest first."""
    from candlelab.models import deployments

    with _registry(ctx) as (conn, _):
        moves = deployments.history(conn, name)
    if json:
        emit_json(moves)
    elif not moves:
        out.print(f"model {name}: no recorded moves; `candlelab models list` lists the models")
    else:
        _moves_table(f"moves of model {name}", moves)


@app.command("sync")
def sync(ctx: typer.Context, name: Name, reason: Reason = None, by: By = None,
         json: Json = False) -> None:  # fmt: skip
    """Record the aliases moved in MLflow's registry outside candlelab (its UI), as MLflow
    has them."""
    from candlelab.models import deployments

    with _registry(ctx) as (conn, tracking):
        moves = deployments.sync(conn, tracking, name, who=_who(by), reason=reason)
    if json:
        emit_json(moves)
        return
    if not moves:
        out.print(f"model {name}: MLflow's registry and the audit trail agree; nothing to sync")
    for move in moves:
        _print_move(move, False)


@app.command("decide")
def decide(
    ctx: typer.Context,
    name: Name,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what the policy would do; move nothing.")
    ] = False,
    by: By = None,
    json: Json = False,
) -> None:
    """Judge the challenger against the champion (the sequential verdict of `candlelab
    evaluate --report`) and apply the policy: better at 95 %, it becomes champion; worse,
    its alias is taken away; otherwise nothing moves. Each move is audited with the
    verdict as its reason."""
    from candlelab.jobs.policy import decide

    with _registry(ctx) as (conn, tracking):
        decision = decide(conn, tracking, name, apply=not dry_run, who=by or "policy")
    if json:
        emit_json(decision)
        return
    would = "dry run, would " if dry_run and decision.action in MOVING else ""
    out.print(f"model {name}: {would}{decision.action}: {decision.reason}", soft_wrap=True)
    for move in decision.moves:
        _print_move(move, False)


@contextmanager
def _registry(ctx: typer.Context) -> Iterator[tuple[Connection, Tracking]]:
    from candlelab.training.tracking import Tracking

    space = workspace(ctx)
    with space.connect() as conn:
        yield conn, Tracking(space.database_url, space.settings.artifact_location)


def _who(by: str | None) -> str:
    return by if by and by.strip() else getpass.getuser()


def _print_move(move: Move, json: bool) -> None:
    if json:
        emit_json(move)
        return
    serves = _share(move.traffic_share, move.shadow, move.alias) or "nothing"
    now = (f"names {_version(move.version)}, serving {serves}" if move.version is not None
           else "is taken away")  # fmt: skip
    out.print(f"model {move.model_name}: alias {move.alias} {now} (was "
              f"{_version(move.replaced_version)}); {move.action} #{move.id} by "
              f"{move.changed_by}: {move.reason}", soft_wrap=True)  # fmt: skip


def _moves_table(title: str, moves: list[Move]) -> None:
    table(title, ("id", "when", "action", "alias", "version", "was", "traffic", "by", "reason"),
          [[m.id, m.changed_at, m.action, m.alias, _number(m.version),
            _number(m.replaced_version), _share(m.traffic_share, m.shadow, m.alias),
            m.changed_by, m.reason] for m in moves])  # fmt: skip


def _say_disagreements(state: ModelState) -> None:
    for a in state.aliases:
        if not a.agrees:
            out.print(f"model {state.name}: alias {a.alias} names {_version(a.version)} in "
                      f"MLflow's registry, {_version(a.recorded)} in the audit trail (moved "
                      f"outside candlelab): `candlelab models sync {state.name}` records it",
                      soft_wrap=True)  # fmt: skip


def _share(share: float, shadow: bool, alias: str = "") -> str:
    if shadow:
        return "shadow"
    return "the rest" if alias == "champion" else f"{share:.0%}" if share else ""


def _version(version: int | None) -> str:
    return "none" if version is None else f"version {version}"


def _number(version: int | None) -> str:
    return "-" if version is None else str(version)
