"""Stage `fetch`: write the raw dataset to data/raw/.

The data is scikit-learn's copy of the Wisconsin breast cancer dataset, which ships inside
the package, so the pipeline needs no network. Replace `load_raw` to train on your own data.
"""

from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer

from . import config

TARGET = "target"
# 0 and 1 in the target column, in the dataset's own order.
CLASS_NAMES = ("malignant", "benign")


def _snake_case(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


FEATURES: tuple[str, ...] = tuple(_snake_case(n) for n in load_breast_cancer().feature_names)


def load_raw() -> pd.DataFrame:
    """The whole dataset: one float column per feature, then the integer target."""
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=_snake_case)
    return frame[[*FEATURES, TARGET]]


def fetch(out: Path = config.RAW_DATA) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    load_raw().to_csv(out, index=False)
    return out


if __name__ == "__main__":
    print(f"wrote {fetch()}")
