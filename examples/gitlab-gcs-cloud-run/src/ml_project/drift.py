"""`make drift`: compare recent inputs with the training data, feature by feature.

A feature drifts when both tests agree: its population stability index (PSI) exceeds
drift.max_psi, and a test rejects "same distribution" at drift.ks_alpha shared out over the
features (Bonferroni): Kolmogorov-Smirnov for a number, chi-square over the category
frequencies for a category feature (its PSI is over those frequencies too). One test
alone raises false alarms on the few hundred records a service sees in a day. Thresholds
are in params.yaml.
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
from scipy.stats import chi2_contingency, ks_2samp

from . import config
from .data import FEATURES, SCHEMA, read
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


def category_psi(reference: pd.Series, recent: pd.Series, categories: tuple[str, ...]):
    """(PSI over the category frequencies, the chi-square test's p-value). A value that is
    not one of `categories` (a log written before the schema changed) counts as its own."""
    counts = pd.DataFrame(
        {
            "reference": reference.astype(str).value_counts(),
            "recent": recent.astype(str).value_counts(),
        }
    ).fillna(0)
    counts = counts.reindex([*categories, *sorted(set(counts.index) - set(categories))])
    counts = counts.fillna(0)
    expected = np.clip(counts["reference"] / len(reference), 1e-4, None)
    actual = np.clip(counts["recent"] / len(recent), 1e-4, None)
    index = float(np.sum((actual - expected) * np.log(actual / expected)))
    seen = counts[counts.sum(axis=1) > 0]
    p_value = 1.0 if len(seen) < 2 else float(chi2_contingency(seen.to_numpy().T).pvalue)
    return index, p_value


def compare(reference: pd.DataFrame, recent: pd.DataFrame, limits: dict) -> dict[str, dict]:
    alpha = limits["ks_alpha"] / len(FEATURES)
    report = {}
    for feature in SCHEMA.features:
        name = feature.name
        if feature.is_category:
            index, p_value = category_psi(reference[name], recent[name], feature.categories)
            test = "chi2_p_value"
        else:
            old, new = reference[name].to_numpy(float), recent[name].to_numpy(float)
            index, p_value = psi(old, new, limits["bins"]), float(ks_2samp(old, new).pvalue)
            test = "ks_p_value"
        report[name] = {
            "psi": round(index, 4),
            test: round(p_value, 6),
            "drifted": index > limits["max_psi"] and p_value < alpha,
        }
    return report


def load_recent(path: Path) -> pd.DataFrame:
    # `make inputs` writes an empty file when the service has recorded nothing yet.
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(FEATURES))
    # Category values stay text, whatever they look like.
    text = {feature.name: str for feature in SCHEMA.categorical}
    return pd.read_json(path, lines=True, dtype=text or True)


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
    report = compare(read(args.reference), recent, limits)
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
