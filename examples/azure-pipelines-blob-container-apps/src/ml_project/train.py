"""Stage `train`: fit a scaled logistic regression and save it with joblib. The pickle
stays in the pipeline: `export` turns it into the ONNX model that ships."""

from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from . import config
from .data import FEATURES, TARGET


def build_model(hyperparameters: dict[str, Any], seed: int) -> Pipeline:
    return make_pipeline(
        StandardScaler(),
        LogisticRegression(
            C=hyperparameters["C"], max_iter=hyperparameters["max_iter"], random_state=seed
        ),
    )


def fit(train: pd.DataFrame, hyperparameters: dict[str, Any], seed: int) -> Pipeline:
    model = build_model(hyperparameters, seed)
    # Fitting on a DataFrame records feature_names_in_: the column order the export keeps.
    model.fit(train[list(FEATURES)], train[TARGET])
    return model


def train(
    train_path: Path = config.TRAIN_DATA,
    model_path: Path = config.SKLEARN_MODEL,
    params_path: Path = config.PARAMS,
) -> Path:
    params = config.load_params(params_path)
    model = fit(pd.read_csv(train_path), params["train"], params["seed"])
    model_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_path)
    return model_path


if __name__ == "__main__":
    print(f"wrote {train()}")
