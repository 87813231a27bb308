"""A run logged through candlelab's tracking configuration reads back with a plain MlflowClient."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from mlflow import MlflowClient

from candlelab.training.tracking import Tracking, tracking_uri


def test_a_run_logged_by_candlelab_reads_back_with_a_plain_client(
    database_url: str, tmp_path: Path
) -> None:
    artifact_root = (tmp_path / "artifacts").as_uri()
    tracking = Tracking(database_url, artifact_root)
    run = tracking.start_run("candle-direction", params={"model": "lightgbm", "window": 20})
    tracking.log_metrics(run, {"auc": 0.58, "logloss": 0.68})
    note = tmp_path / "note.txt"
    note.write_text("trained on the synthetic market")
    tracking.client.log_artifact(run.run_id, str(note))
    tracking.finish(run)

    plain = MlflowClient(tracking_uri=tracking_uri(database_url))
    got = plain.get_run(run.run_id)
    assert got.data.params == {"model": "lightgbm", "window": "20"}
    assert got.data.metrics == {"auc": 0.58, "logloss": 0.68}
    assert got.info.status == "FINISHED"
    experiment = plain.get_experiment_by_name("candle-direction")
    assert experiment is not None
    assert experiment.artifact_location.startswith(artifact_root)
    stored = Path(urlparse(got.info.artifact_uri).path) / "note.txt"
    assert stored.read_text() == "trained on the synthetic market"


def test_the_experiment_is_created_once(database_url: str, tmp_path: Path) -> None:
    tracking = Tracking(database_url, tmp_path.as_uri())
    assert tracking.experiment("a") == tracking.experiment("a")
    assert tracking.experiment("a") != tracking.experiment("b")
