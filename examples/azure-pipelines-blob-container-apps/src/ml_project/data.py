"""Stage `fetch`: read the source that params.yaml names (data.source), check every row of
it against the schema (data/schema.yaml), and write the checked data to data/raw/.

The source is `sample`, the dataset of the schema's task that ships inside scikit-learn
(the pipeline needs no network): the Wisconsin breast cancer data for binary
classification, the wine data for multiclass classification, the diabetes data (disease
progression a year after baseline, in its original units) for regression. Or it is the path of a CSV
or Parquet file in data/source/, tracked with `dvc add` or `dvc import-url` (README, "Your own
data"). A file that does not match the schema stops the pipeline here, before anything
trains, with the columns and rows at fault.

    python -m <package>.data [--check FILE]

--check only checks FILE (a CSV or Parquet file) against the schema, and writes nothing.
"""

import argparse
import re
import sys
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from . import config
from .schema import DataError, Schema, read_table

SAMPLE = "sample"
SCHEMA = Schema.read(config.SCHEMA)
FEATURES: tuple[str, ...] = SCHEMA.names
TARGET = SCHEMA.target
CLASS_NAMES = SCHEMA.classes
# The scikit-learn loader of each task's sample.
SAMPLES = {
    "binary_classification": load_breast_cancer,
    "multiclass_classification": load_wine,
    "regression": lambda as_frame: load_diabetes(as_frame=as_frame, scaled=False),
}


def sample() -> pd.DataFrame:
    """The bundled sample: one float column per measurement, the target as class names (a
    number for regression)."""
    bunch = SAMPLES[SCHEMA.task](as_frame=True)
    frame = bunch.frame.rename(columns=lambda name: re.sub(r"[ /]", "_", name.strip().lower()))
    if not SCHEMA.is_regression:
        frame["target"] = frame["target"].map(dict(enumerate(bunch.target_names)))
    return frame


def source(params_path: Path = config.PARAMS) -> str:
    return str(config.load_params(params_path)["data"]["source"])


def load_raw(params_path: Path = config.PARAMS) -> pd.DataFrame:
    """The source's rows, checked against the schema; raises DataError."""
    name = source(params_path)
    if name == SAMPLE:
        return SCHEMA.validated(sample(), where=name)
    if config.SOURCES not in Path(name).parents:
        raise DataError(
            f"data.source is {name}: a file of yours lives in {config.SOURCES}/, the folder "
            "the fetch stage depends on (or `sample`)"
        )
    return SCHEMA.validated(read_table(Path(name)), where=name)


def read(path: Path) -> pd.DataFrame:
    """Data the pipeline wrote (raw, train or test), with the schema's types."""
    return SCHEMA.read_csv(path)


def fetch(out: Path = config.RAW_DATA, params_path: Path = config.PARAMS) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    load_raw(params_path).to_csv(out, index=False)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="fetch the data and check it against the schema")
    parser.add_argument(
        "--check", type=Path, metavar="FILE", help="only check FILE against the schema"
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            rows = len(SCHEMA.validated(read_table(args.check), where=str(args.check)))
            print(f"{args.check}: {rows} rows match {config.SCHEMA}")
        else:
            print(f"wrote {fetch()}")
    except DataError as error:
        sys.exit(f"fetch: {error}")


if __name__ == "__main__":
    main()
