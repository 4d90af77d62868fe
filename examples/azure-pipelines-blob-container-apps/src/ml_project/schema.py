"""The data's schema (data/schema.yaml): the task, the target (and its classes, for a
classification), and each feature's name, type (float, integer or category) and allowed
range or categories.

It is the one description of the data that everything else reads: the `fetch` stage checks
every row of the source against it before anything trains, training one-hot encodes its
categories, the export writes its types, ranges and categories into the model's manifest
(the service's request model), and `make drift` compares categories by their frequencies.

    python -m <package>.schema SOURCE [--target NAME] [--out data/schema.yaml] [--force]

writes a first schema from a CSV or Parquet file (`make schema SOURCE=...`) for you to
review: types inferred, ranges from the data, categories listed.
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from . import config

# The tasks this project trains for; what is specific to a task (the classes of the target,
# the metrics) is read from here.
TASKS = ("binary_classification", "multiclass_classification", "regression")
REGRESSION = "regression"
# `make schema` takes a numeric target with more distinct values than this for a regression
# target, and one with fewer for classes.
MAX_CLASSES = 20
TYPES = ("float", "integer", "category")
NUMERIC = ("float", "integer")
# A problem lists at most this many row numbers.
SHOWN_ROWS = 5
SUFFIXES = (".csv", ".parquet", ".pq")


class SchemaError(ValueError):
    """The schema file itself is wrong."""


class DataError(ValueError):
    """The data does not match the schema: each line names a column and its rows."""


@dataclass(frozen=True)
class Feature:
    name: str
    type: str
    # The closed range of a float or integer feature; None: unbounded on that side.
    min: float | None = None
    max: float | None = None
    # The values a category feature may take, in the order the model encodes them.
    categories: tuple[str, ...] = ()

    @property
    def is_category(self) -> bool:
        return self.type == "category"


@dataclass(frozen=True)
class Schema:
    task: str
    target: str
    # The target's values: two for binary classification (the second is the positive
    # class), three or more for multiclass classification, none for regression (a number).
    classes: tuple[str, ...]
    features: tuple[Feature, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)

    @property
    def is_regression(self) -> bool:
        return self.task == REGRESSION

    @property
    def categorical(self) -> tuple[Feature, ...]:
        return tuple(feature for feature in self.features if feature.is_category)

    @classmethod
    def read(cls, path: Path = config.SCHEMA) -> "Schema":
        try:
            raw = yaml.safe_load(path.read_text())
            return cls.from_dict(raw)
        except (KeyError, TypeError, AttributeError) as error:
            raise SchemaError(f"{path}: not a schema ({error!r} is missing or wrong)") from None
        except SchemaError as error:
            raise SchemaError(f"{path}: {error}") from None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Schema":
        if raw["task"] not in TASKS:
            raise SchemaError(f"task is {raw['task']!r}; this project trains {', '.join(TASKS)}")
        if raw["task"] == REGRESSION and "classes" in raw["target"]:
            raise SchemaError("a regression target is a number: it has no classes")
        classes = tuple(_text(value) for value in raw["target"].get("classes") or ())
        if raw["task"] != REGRESSION and not classes:
            raise SchemaError(f"a {raw['task']} target lists its classes")
        if len(set(classes)) < len(classes):
            raise SchemaError(f"the target's classes are listed once each, not {list(classes)}")
        if raw["task"] == "binary_classification" and len(classes) != 2:
            raise SchemaError(f"a binary target has two classes, not {list(classes)}")
        if raw["task"] == "multiclass_classification" and len(classes) < 3:
            raise SchemaError(
                f"a multiclass target has three or more classes, not {list(classes)}: "
                "with two, the task is binary_classification"
            )
        features = []
        for entry in raw["features"]:
            kind = entry["type"]
            if kind not in TYPES:
                raise SchemaError(f"feature {entry['name']!r}: type is one of {', '.join(TYPES)}")
            categories = tuple(_text(value) for value in entry.get("categories") or ())
            if kind == "category" and (not categories or len(set(categories)) < len(categories)):
                raise SchemaError(f"feature {entry['name']!r}: list its distinct categories")
            low, high = entry.get("min"), entry.get("max")
            if low is not None and high is not None and low > high:
                raise SchemaError(f"feature {entry['name']!r}: min {low} is above max {high}")
            features.append(Feature(str(entry["name"]), kind, low, high, categories))
        names = [feature.name for feature in features]
        target = str(raw["target"]["name"])
        if not names or len(set(names)) < len(names) or target in names:
            raise SchemaError("features are listed once each, and the target is not one of them")
        return cls(raw["task"], target, classes, tuple(features))

    def to_dict(self) -> dict[str, Any]:
        features = []
        for feature in self.features:
            entry: dict[str, Any] = {"name": feature.name, "type": feature.type}
            if feature.is_category:
                entry["categories"] = list(feature.categories)
            for bound in ("min", "max"):
                if getattr(feature, bound) is not None:
                    entry[bound] = getattr(feature, bound)
            features.append(entry)
        target: dict[str, Any] = {"name": self.target}
        if not self.is_regression:
            target["classes"] = list(self.classes)
        return {"task": self.task, "target": target, "features": features}

    def validated(self, table: pd.DataFrame, where: str) -> pd.DataFrame:
        """The schema's columns of `table` with their types (numbers, category and class
        names as strings); raises DataError naming each bad column and its first rows."""
        if table.empty:
            raise DataError(f"{where} has no rows")
        missing = [name for name in (*self.names, self.target) if name not in table]
        if missing:
            raise DataError(f"{where} has no column {', '.join(map(repr, missing))}")
        problems, columns = [], {}
        for feature in self.features:
            columns[feature.name], found = _checked(table[feature.name], feature)
            problems += [f'column "{feature.name}": {what} {rows}' for what, rows in found]
        if self.is_regression:
            target = Feature(self.target, "float")
        else:
            target = Feature(self.target, "category", categories=self.classes)
        columns[self.target], found = _checked(table[self.target], target, "classes")
        problems += [f'column "{self.target}": {what} {rows}' for what, rows in found]
        if problems:
            raise DataError(
                f"{where} does not match {config.SCHEMA} (row 1 is the first row of data):\n- "
                + "\n- ".join(problems)
            )
        frame = pd.DataFrame(columns)
        integers = [feature.name for feature in self.features if feature.type == "integer"]
        return frame.astype(dict.fromkeys(integers, "int64"))

    def encoded(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The features as the model reads them: numbers, each category as its position in
        the schema's list (the model one-hot encodes it)."""
        encoded = frame[list(self.names)].copy()
        for feature in self.categorical:
            codes = {name: code for code, name in enumerate(feature.categories)}
            encoded[feature.name] = encoded[feature.name].map(codes).astype("float64")
        return encoded

    def class_ids(self, frame: pd.DataFrame) -> np.ndarray:
        """The target as class positions: 0 and 1 for binary classification, 0 to n-1 for
        n classes."""
        ids = {name: code for code, name in enumerate(self.classes)}
        return frame[self.target].map(ids).to_numpy()

    def targets(self, frame: pd.DataFrame) -> np.ndarray:
        """What the model learns: the class positions, or a regression target's numbers."""
        if self.is_regression:
            return frame[self.target].to_numpy(dtype="float64")
        return self.class_ids(frame)

    def read_csv(self, path: Path) -> pd.DataFrame:
        """A CSV that the pipeline wrote (raw, train, test data), with its categories and
        classes read as strings, never guessed as numbers."""
        text = {feature.name: str for feature in self.categorical}
        if not self.is_regression:
            text[self.target] = str
        return pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""])


def _text(value: Any) -> str:
    """A class or category as the data spells it. YAML reads yes, no, on, off, true and
    false unquoted as booleans, which no data spells: they must be quoted."""
    if isinstance(value, bool):
        raise SchemaError(f"{value} reads as a boolean: quote a yes/no/on/off/true/false value")
    return str(value)


def _rows(mask: pd.Series) -> str:
    """The 1-based row numbers where `mask` holds: the first few, and how many more."""
    rows = (np.flatnonzero(mask.to_numpy()) + 1).tolist()
    shown = ", ".join(map(str, rows[:SHOWN_ROWS]))
    more = f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else ""
    return f"in {len(rows)} row{'s' if len(rows) > 1 else ''}: {shown}{more}"


def _checked(
    column: pd.Series, feature: Feature, allowed: str = "categories"
) -> tuple[pd.Series, list[tuple[str, str]]]:
    column = column.reset_index(drop=True)
    missing = column.isna() | (column.astype(str).str.strip() == "")
    problems = [("missing values", _rows(missing))] if missing.any() else []
    if feature.is_category:
        text = column.astype(str).str.strip()
        unknown = ~missing & ~text.isin(feature.categories)
        if unknown.any():
            values = ", ".join(sorted(map(repr, text[unknown].unique()))[:SHOWN_ROWS])
            problems.append((f"values not in its {allowed} ({values})", _rows(unknown)))
        return text, problems
    values = pd.to_numeric(column, errors="coerce").astype("float64")
    wrong = ~missing & ~np.isfinite(values)
    if wrong.any():
        problems.append((f"values that are not {feature.type} numbers", _rows(wrong)))
    if feature.type == "integer":
        fractional = np.isfinite(values) & (values % 1 != 0)
        if fractional.any():
            problems.append(("values that are not whole numbers", _rows(fractional)))
    for bound, beyond in (("min", values < feature.min), ("max", values > feature.max)):
        if getattr(feature, bound) is not None and beyond.any():
            problems.append((f"values beyond its {bound} {getattr(feature, bound)}", _rows(beyond)))
    return values, problems


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as it is, every CSV cell as text (the schema decides types)."""
    if path.suffix.lower() not in SUFFIXES:
        raise DataError(f"{path}: a source is a CSV or Parquet file ({', '.join(SUFFIXES)})")
    if not path.is_file():
        raise DataError(f"{path} does not exist: `dvc pull` it, or see the README's data section")
    if path.suffix.lower() == ".csv":
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        except pd.errors.EmptyDataError:
            raise DataError(f"{path} is empty") from None
    return pd.read_parquet(path)


def infer(table: pd.DataFrame, target: str) -> Schema:
    """A first schema of `table`: whole numbers are integers, other numbers floats, the rest
    categories; ranges and categories as found. A numeric target with more than MAX_CLASSES
    distinct values is a regression's, any other target's values are classes. For a person
    to review."""
    if table.empty:
        raise DataError("the file has no rows")
    if target not in table:
        raise DataError(f"the file has no column {target!r} (the target): pick one with TARGET=")
    features = []
    for name in table.columns.drop(target):
        column = table[name].dropna()
        numbers = pd.to_numeric(column, errors="coerce")
        if len(column) and numbers.notna().all() and np.isfinite(numbers.astype(float)).all():
            whole = bool((numbers % 1 == 0).all())
            kind, cast = ("integer", int) if whole else ("float", float)
            features.append(Feature(str(name), kind, cast(numbers.min()), cast(numbers.max())))
        else:
            categories = tuple(sorted(column.astype(str).str.strip().unique()))
            features.append(Feature(str(name), "category", categories=categories))
    classes = tuple(sorted(table[target].dropna().astype(str).str.strip().unique()))
    numbers = pd.to_numeric(table[target].dropna(), errors="coerce")
    if len(classes) > MAX_CLASSES and numbers.notna().all():
        return Schema(REGRESSION, str(target), (), tuple(features))
    if len(classes) < 2:
        raise DataError(
            f"the target {target!r} has {len(classes)} classes; a classification needs two "
            "(binary_classification) or more (multiclass_classification)"
        )
    task = TASKS[0] if len(classes) == 2 else "multiclass_classification"
    return Schema(task, str(target), classes, tuple(features))


HEADER = """\
# The data's schema: what `make pipeline` checks every row of the source against before it
# trains, and what the service holds requests to. `make schema` wrote it from
# {source}: review it. Widen each range to what is possible, not just what this file
# holds (a value outside gets a 422 from the service and fails the pipeline), list every
# category, and for a binary target put the positive class second (a numeric target with
# many distinct values makes the task regression).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write a first schema from a data file")
    parser.add_argument("source", type=Path)
    parser.add_argument("--target", help="the target column (default: the last column)")
    parser.add_argument("--out", type=Path, default=config.SCHEMA)
    parser.add_argument("--force", action="store_true", help="overwrite an existing schema")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.force:
        print(f"schema: {args.out} exists; FORCE=1 overwrites it", file=sys.stderr)
        return 1
    try:
        table = read_table(args.source)
        schema = infer(table, args.target or str(table.columns[-1]))
    except DataError as error:
        print(f"schema: {args.source}: {error}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(schema.to_dict(), sort_keys=False, allow_unicode=True)
    args.out.write_text(HEADER.format(source=args.source) + body)
    print(
        f"wrote {args.out}: {len(schema.features)} features, target {schema.target!r} "
        f"({schema.task})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
