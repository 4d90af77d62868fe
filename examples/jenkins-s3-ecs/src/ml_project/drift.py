"""`make drift`: compare recent inputs with the training data, feature by feature.

A feature drifts when both tests agree: its population stability index (PSI) exceeds
drift.max_psi, and the Kolmogorov-Smirnov test rejects "same distribution" at drift.ks_alpha
shared out over the features (Bonferroni). One test alone raises false alarms on the few
hundred records a service sees in a day. Thresholds are in params.yaml.
Only authenticated traffic is judged once there is any: when a record of the inputs was
authenticated (the service requires a bearer token), records that were not (or that do not
say: logs from before the token) are left out, so that nobody without the token can move
drift, and with it `make monitor`'s retraining. When none was (no token configured, the
laptop default), every record counts.
Writes reports/drift.json and exits DRIFT_FOUND (3) on drift, so that `make monitor`
retrains on drift only: a crash exits 1 (argparse errors 2), and fails the job instead.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from . import config
from .data import FEATURES
from .monitoring import AUTHENTICATED

DRIFT_REPORT = Path("reports/drift.json")
# Distinct from 1 (an uncaught exception) and 2 (bad arguments): see the docstring.
DRIFT_FOUND = 3


def psi(reference: np.ndarray, recent: np.ndarray, bins: int) -> float:
    """Population stability index over the reference's quantile bins."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    expected = np.histogram(reference, edges)[0] / len(reference)
    actual = np.histogram(recent, edges)[0] / len(recent)
    # A floor keeps empty bins from dividing by zero; it barely moves a real PSI.
    expected, actual = np.clip(expected, 1e-4, None), np.clip(actual, 1e-4, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def compare(reference: pd.DataFrame, recent: pd.DataFrame, limits: dict) -> dict[str, dict]:
    alpha = limits["ks_alpha"] / len(FEATURES)
    report = {}
    for feature in FEATURES:
        index = psi(reference[feature].to_numpy(), recent[feature].to_numpy(), limits["bins"])
        p_value = float(ks_2samp(reference[feature], recent[feature]).pvalue)
        report[feature] = {
            "psi": round(index, 4),
            "ks_p_value": round(p_value, 6),
            "drifted": index > limits["max_psi"] and p_value < alpha,
        }
    return report


def load_recent(path: Path) -> pd.DataFrame:
    # `make inputs` writes an empty file when the service has recorded nothing yet.
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(FEATURES))
    return pd.read_json(path, lines=True)


def judged(recent: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The records drift is judged on, and how many were left out: the authenticated ones
    when there are any, else all."""
    if AUTHENTICATED not in recent:
        return recent, 0
    authenticated = recent[AUTHENTICATED].fillna(False).astype(bool)
    if not authenticated.any():
        return recent, 0
    return recent[authenticated], int((~authenticated).sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recent", type=Path, default=Path("logs/inputs.jsonl"))
    parser.add_argument("--reference", type=Path, default=config.TRAIN_DATA)
    parser.add_argument("--report", type=Path, default=DRIFT_REPORT)
    args = parser.parse_args(argv)
    limits = config.load_params()["drift"]
    recent, left_out = judged(load_recent(args.recent))
    if left_out:
        print(f"left out {left_out} records of {args.recent} that were not authenticated")
    if len(recent) < limits["min_records"]:
        print(
            f"{len(recent)} recent records in {args.recent}, fewer than "
            f"drift.min_records = {limits['min_records']}: too few to judge, no drift reported"
        )
        return 0
    report = compare(pd.read_csv(args.reference), recent, limits)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n")
    drifted = sorted(name for name, result in report.items() if result["drifted"])
    if drifted:
        print(f"drift in {len(drifted)} of {len(report)} features: {', '.join(drifted)}")
        return DRIFT_FOUND
    print(f"no drift in {len(report)} features over {len(recent)} recent records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
