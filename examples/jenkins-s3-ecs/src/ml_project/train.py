"""Stage `train`: fit a logistic regression (a ridge regression, for a regression task) on
scaled numbers and one-hot encoded categories, and save it with joblib. The pickle stays in
the pipeline: `export` turns it into the ONNX model that ships."""

from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from . import config
from .data import FEATURES, SCHEMA, read


def preprocessing() -> StandardScaler | ColumnTransformer:
    """Numbers scaled; each category feature (its position in the schema's list, as the
    model's input carries it) one-hot encoded, inside the model and so inside its ONNX
    graph. Numbers alone need no column split."""
    if not SCHEMA.categorical:
        return StandardScaler()
    # Positions, not names: the ONNX graph has one input, a row of every feature.
    numbers = [i for i, f in enumerate(SCHEMA.features) if not f.is_category]
    categories = [i for i, f in enumerate(SCHEMA.features) if f.is_category]
    codes = [[float(code) for code in range(len(f.categories))] for f in SCHEMA.categorical]
    return ColumnTransformer(
        [
            ("numbers", StandardScaler(), numbers),
            ("categories", OneHotEncoder(categories=codes, handle_unknown="ignore"), categories),
        ]
    )


def build_model(hyperparameters: dict[str, Any], seed: int) -> Pipeline:
    """params.yaml's train section: C, the inverse of the L2 penalty's strength, and
    max_iter. A ridge regression's penalty alpha is 1 / (2 C), the logistic regression's
    C's counterpart (scikit-learn's user guide)."""
    if SCHEMA.is_regression:
        alpha = 1 / (2 * hyperparameters["C"])
        return make_pipeline(
            preprocessing(), Ridge(alpha=alpha, max_iter=hyperparameters["max_iter"])
        )
    return make_pipeline(
        preprocessing(),
        LogisticRegression(
            C=hyperparameters["C"], max_iter=hyperparameters["max_iter"], random_state=seed
        ),
    )


def fit(train: pd.DataFrame, hyperparameters: dict[str, Any], seed: int) -> Pipeline:
    model = build_model(hyperparameters, seed)
    # Fitting on a DataFrame records feature_names_in_: the column order the export keeps.
    model.fit(SCHEMA.encoded(train)[list(FEATURES)], SCHEMA.targets(train))
    return model


def train(
    train_path: Path = config.TRAIN_DATA,
    model_path: Path = config.SKLEARN_MODEL,
    params_path: Path = config.PARAMS,
) -> Path:
    params = config.load_params(params_path)
    model = fit(read(train_path), params["train"], params["seed"])
    model_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_path)
    return model_path


if __name__ == "__main__":
    print(f"wrote {train()}")
