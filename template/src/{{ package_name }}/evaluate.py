"""Stage `evaluate`: score the ONNX model, the one that serves, on the test set; write
metrics and DVC plots. It loads the model as the service does: hash checked, golden record
answered.

Binary classification scores the positive class (the schema's second); multiclass
classification averages f1, precision and recall over the classes with equal weight
(macro), its ROC AUC is one-vs-rest, and its ROC curve is the micro-average (every class's
probability against whether it is the true class). Regression is scored by the root mean
squared error, the mean absolute error (in the target's units) and R squared, and plotted
as predicted against actual values."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    roc_curve,
    root_mean_squared_error,
)

from . import config
from .data import CLASS_NAMES, SCHEMA, read
from .model import OnnxModel, load

# How f1, precision and recall average over the classes.
AVERAGE = "binary" if SCHEMA.task == "binary_classification" else "macro"


def score_values(model: OnnxModel, test: pd.DataFrame) -> dict[str, float]:
    truth = SCHEMA.targets(test)
    predicted = model.predict(SCHEMA.encoded(test).to_numpy())[:, 0]
    return {
        "rmse": round(float(root_mean_squared_error(truth, predicted)), 4),
        "mae": round(float(mean_absolute_error(truth, predicted)), 4),
        "r2": round(float(r2_score(truth, predicted)), 4),
    }


def score(model: OnnxModel, test: pd.DataFrame) -> dict[str, float]:
    if SCHEMA.is_regression:
        return score_values(model, test)
    truth = SCHEMA.class_ids(test)
    probabilities = model.predict(SCHEMA.encoded(test).to_numpy())
    predicted = probabilities.argmax(axis=1)
    if AVERAGE == "binary":
        roc_auc = roc_auc_score(truth, probabilities[:, 1])
    else:
        classes = list(range(len(CLASS_NAMES)))
        roc_auc = roc_auc_score(truth, probabilities, multi_class="ovr", labels=classes)
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "f1": round(float(f1_score(truth, predicted, average=AVERAGE)), 4),
        "precision": round(float(precision_score(truth, predicted, average=AVERAGE)), 4),
        "recall": round(float(recall_score(truth, predicted, average=AVERAGE)), 4),
        "roc_auc": round(float(roc_auc), 4),
    }


def write_plots(model: OnnxModel, test: pd.DataFrame, plots_dir: Path) -> None:
    """CSV files that `dvc plots show` renders: a confusion matrix and a ROC curve, or for
    regression the predicted against the actual value of each test record."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    if SCHEMA.is_regression:
        predicted = model.predict(SCHEMA.encoded(test).to_numpy())[:, 0]
        pd.DataFrame({"actual": SCHEMA.targets(test), "predicted": predicted.round(4)}).to_csv(
            plots_dir / "predicted.csv", index=False
        )
        return
    probabilities = model.predict(SCHEMA.encoded(test).to_numpy())
    predicted = probabilities.argmax(axis=1)
    truth = SCHEMA.class_ids(test)
    pd.DataFrame(
        {
            "actual": [CLASS_NAMES[i] for i in truth],
            "predicted": [CLASS_NAMES[i] for i in predicted],
        }
    ).to_csv(plots_dir / "confusion.csv", index=False)
    if AVERAGE == "binary":
        fpr, tpr, _ = roc_curve(truth, probabilities[:, 1])
    else:
        is_class = np.equal.outer(truth, np.arange(len(CLASS_NAMES)))
        fpr, tpr, _ = roc_curve(is_class.ravel(), probabilities.ravel())
    pd.DataFrame({"fpr": fpr.round(4), "tpr": tpr.round(4)}).to_csv(
        plots_dir / "roc.csv", index=False
    )


def evaluate(
    model_path: Path = config.MODEL,
    manifest_path: Path = config.MANIFEST,
    test_path: Path = config.TEST_DATA,
    metrics_path: Path = config.METRICS,
    plots_dir: Path = config.PLOTS,
) -> dict[str, float]:
    model = load(model_path, manifest_path)
    test = read(test_path)
    metrics = score(model, test)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    write_plots(model, test, plots_dir)
    return metrics


if __name__ == "__main__":
    print(json.dumps(evaluate(), indent=2))
