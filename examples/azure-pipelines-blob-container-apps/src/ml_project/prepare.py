"""Stage `prepare`: split the raw data into a train and a test set, stratified by class for
a classification (a regression's target is a number: a plain random split)."""

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from . import config
from .data import SCHEMA, read


def split(raw: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop exact duplicate rows first, so that no row can land in both sets."""
    rows = raw.drop_duplicates()
    strata = None if SCHEMA.is_regression else SCHEMA.class_ids(rows)
    train, test = train_test_split(rows, test_size=test_size, random_state=seed, stratify=strata)
    return train, test


def prepare(
    raw_path: Path = config.RAW_DATA,
    train_path: Path = config.TRAIN_DATA,
    test_path: Path = config.TEST_DATA,
    params_path: Path = config.PARAMS,
) -> None:
    params = config.load_params(params_path)
    train, test = split(read(raw_path), params["data"]["test_size"], params["seed"])
    train_path.parent.mkdir(parents=True, exist_ok=True)
    train.to_csv(train_path, index=False)
    test.to_csv(test_path, index=False)


if __name__ == "__main__":
    prepare()
    print(f"wrote {config.TRAIN_DATA} and {config.TEST_DATA}")
