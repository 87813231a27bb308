"""The one typed settings object, read from the environment at the entry points."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from candlelab.errors import ConfigError
from candlelab.store.urls import redact

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
SECRET_VARIABLES = {"CANDLELAB_TOKEN_HASHES", "CANDLELAB_ALERT_WEBHOOK"}  # a URL may hold a token
POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


class Settings(BaseSettings):
    """candlelab's configuration; each field names the environment variable it comes from."""

    # Only the aliases are read: by field name, `home` would pick up $HOME.
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: str | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="PostgreSQL URL; unset means candlelab runs its own embedded server.",
    )
    home: Path = Field(
        default=Path(".candlelab"),
        validation_alias="CANDLELAB_HOME",
        description="Where the embedded server's data and local artifacts live.",
    )
    artifact_root: str | None = Field(
        default=None,
        validation_alias="CANDLELAB_ARTIFACT_ROOT",
        description="MLflow artifact location (a path or any URI MLflow supports).",
    )
    log_level: LogLevel = Field(default="WARNING", validation_alias="CANDLELAB_LOG_LEVEL")
    token_hashes: str = Field(
        default="",
        validation_alias="CANDLELAB_TOKEN_HASHES",
        description="Comma-separated SHA-256 hex digests of the tokens `candlelab serve` "
        "accepts; needed to serve beyond 127.0.0.1.",
    )
    mlflow_ui: str = Field(
        default="http://127.0.0.1:5000",
        validation_alias="CANDLELAB_MLFLOW_UI",
        description="Where MLflow's UI is (`candlelab mlflow-ui` starts it there): the web "
        "app's links to a model version's run lead to it.",
    )

    alert_webhook: str | None = Field(
        default=None,
        validation_alias="CANDLELAB_ALERT_WEBHOOK",
        description="A URL each newly raised alert is POSTed to as JSON; unset: none.",
    )
    alert_cooldown_minutes: float = Field(
        default=60.0,
        ge=0,
        validation_alias="CANDLELAB_ALERT_COOLDOWN_MINUTES",
        description="A condition found again this soon after its alert was resolved "
        "reopens that alert instead of raising a new one.",
    )
    alert_retry_seconds: float = Field(
        default=1.0,
        ge=0,
        validation_alias="CANDLELAB_ALERT_RETRY_SECONDS",
        description="The webhook's first wait between attempts, doubled after each.",
    )
    alert_latency_ms: float = Field(
        default=500.0,
        gt=0,
        validation_alias="CANDLELAB_ALERT_LATENCY_MS",
        description="A version's p99 latency over its last day above this raises an alert.",
    )
    alert_min_expectancy: float = Field(
        default=0.0,
        validation_alias="CANDLELAB_ALERT_MIN_EXPECTANCY",
        description="A version's expectancy in R over its last 7 days below this raises an alert.",
    )
    alert_stale_bars: float = Field(
        default=3.0,
        gt=0,
        validation_alias="CANDLELAB_ALERT_STALE_BARS",
        description="A served chart whose newest bar is this many bars overdue (on a "
        "calendar chart: bars its calendar expects, closed since) raises an alert.",
    )

    retrain_on_alert: Literal["off", "warn", "alert"] = Field(
        default="alert",
        validation_alias="CANDLELAB_RETRAIN_ON_ALERT",
        description="A newly raised drift or performance alert of this severity or worse "
        "enqueues a retrain of its model (`alert`, `warn`, or `off`).",
    )

    @field_validator("database_url", mode="before")
    @classmethod
    def _postgres_url(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not value.startswith(POSTGRES_SCHEMES):
            raise ValueError("must be a PostgreSQL URL (postgresql://user@host:port/database)")
        return value

    @field_validator("alert_webhook", mode="before")
    @classmethod
    def _webhook(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not re.fullmatch(r"https?://\S+", value):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("mlflow_ui", mode="after")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http(s) URL, such as http://127.0.0.1:5000")
        return value.rstrip("/")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        # Accept any case, but leave an invalid value as typed so the error shows it.
        if isinstance(value, str) and value.upper() in get_args(LogLevel):
            return value.upper()
        return value

    @field_validator("token_hashes", mode="after")
    @classmethod
    def _digests(cls, value: str) -> str:
        for digest in (d.strip() for d in value.split(",") if d.strip()):
            if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
                raise ValueError(
                    "an entry is not a SHA-256 hex digest: give "
                    "`printf %s TOKEN | sha256sum`, never the token itself"
                )
        return value

    @field_validator("home", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @property
    def artifact_location(self) -> str:
        """Where MLflow stores artifacts: the configured root, or $CANDLELAB_HOME/artifacts."""
        return self.artifact_root or (self.home / "artifacts").as_uri()


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Read the environment (and command-line overrides, keyed by variable name).

    An invalid value becomes one ConfigError naming its variable.
    """
    try:
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        variable = ".".join(str(part) for part in error["loc"])
        value = error.get("input")
        shown = redact(value) if isinstance(value, str) else value
        if variable in SECRET_VARIABLES:  # it may hold the very token it should not
            shown = "…"
        problems.append(f"{variable}={shown!r}: {error['msg']}")
    return "invalid setting " + "; ".join(problems)
