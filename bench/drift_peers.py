"""Evidently's DataDriftPreset on the drift benchmark's data, timed: run by the Python of
a throw-away environment holding Evidently (`bench_monitoring.py --parts evidently`
makes it), never by candlelab's, which it does not import beside (pandas 3).

    python drift_peers.py REFERENCE.npy WINDOW.npy

Prints one JSON line: the seconds of `Report([DataDriftPreset()]).run(...)`, the rows and
columns, Evidently's version, and how many columns it found drifted.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version

import numpy as np
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def frame(path: str) -> pd.DataFrame:
    values = np.load(path)
    return pd.DataFrame(values, columns=[f"f{j:02d}" for j in range(values.shape[1])])


def main() -> None:
    reference, window = frame(sys.argv[1]), frame(sys.argv[2])
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=window, reference_data=reference)
    seconds = time.perf_counter() - started
    drifted = snapshot.dict()["metrics"][0]["value"]["count"]
    print(json.dumps({"seconds": seconds, "rows": len(window), "columns": window.shape[1],
                      "evidently": version("evidently"), "drifted": drifted}))  # fmt: skip


if __name__ == "__main__":
    main()
