"""The served model: ONNX bytes checked against the sha256 the pipeline recorded, run by
onnxruntime, and proven on a golden record before anything is served.

Only numpy and onnxruntime here: this module is what the serving image runs, and it never
unpickles anything. `evaluate` loads the model the same way, so what the gate measures is
exactly what serves.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from . import config

# The names the export gives the ONNX graph's input and its output: a classifier's class
# probabilities, or a regressor's predicted values.
INPUT = "features"
PROBABILITIES = "probabilities"
VALUES = "values"
# How far a probability may move between the export and the service and still match; a
# predicted value, this much of its size (or of 1, when it is smaller).
GOLDEN_TOLERANCE = 1e-5


def output_of(task: str) -> str:
    """The graph's output a model of `task` answers with, and the golden record's key for it."""
    return VALUES if task == "regression" else PROBABILITIES


def close(answered: np.ndarray, expected: np.ndarray) -> bool:
    """Whether two outputs of the model are the same within GOLDEN_TOLERANCE."""
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    return answered.shape == expected.shape and bool(
        np.allclose(answered, expected, rtol=0, atol=GOLDEN_TOLERANCE * scale)
    )


class ModelIntegrityError(RuntimeError):
    """The model file is not the one the pipeline recorded: the service must not start."""


@dataclass(frozen=True)
class Manifest:
    """What `export` recorded about the model, read from models/manifest.json."""

    sha256: str
    # The schema's task: binary_classification, multiclass_classification or regression.
    task: str
    features: tuple[str, ...]
    # The class names; none for regression.
    classes: tuple[str, ...]
    # Per float or integer feature, the closed interval a request value must fall in.
    bounds: dict[str, tuple[float, float]]
    # Per feature, its type in the schema: float, integer or category.
    types: dict[str, str]
    # Per category feature, its values: the model reads each as its position here.
    categories: dict[str, tuple[str, ...]]
    golden_record: tuple[float, ...]
    # The model's output for the golden record: its class probabilities, or its value.
    golden_output: tuple[float, ...]
    # Regression only: the upper bounds of the histogram of predicted values (/metrics),
    # the deciles of the training target.
    value_buckets: tuple[float, ...] = ()

    @property
    def output(self) -> str:
        return output_of(self.task)

    @classmethod
    def read(cls, path: Path = config.MANIFEST) -> "Manifest":
        raw = json.loads(path.read_text())
        return cls(
            sha256=raw["sha256"],
            task=raw["task"],
            features=tuple(raw["features"]),
            classes=tuple(raw["classes"]),
            bounds={name: (low, high) for name, (low, high) in raw["bounds"].items()},
            types=raw["types"],
            categories={name: tuple(values) for name, values in raw["categories"].items()},
            golden_record=tuple(raw["golden"]["record"]),
            golden_output=tuple(raw["golden"][output_of(raw["task"])]),
            value_buckets=tuple(raw.get("value_buckets", ())),
        )

    def write(self, path: Path) -> None:
        raw = {
            "sha256": self.sha256,
            "task": self.task,
            "features": list(self.features),
            "classes": list(self.classes),
            "bounds": {name: list(interval) for name, interval in self.bounds.items()},
            "types": self.types,
            "categories": {name: list(values) for name, values in self.categories.items()},
            "golden": {"record": list(self.golden_record), self.output: list(self.golden_output)},
        }
        if self.value_buckets:
            raw["value_buckets"] = list(self.value_buckets)
        path.write_text(json.dumps(raw, indent=2) + "\n")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class OnnxModel:
    """An onnxruntime session over model bytes: float32 rows in, class probabilities (a
    column per class) or predicted values (one column) out."""

    def __init__(self, model_bytes: bytes) -> None:
        options = ort.SessionOptions()
        # One thread per session: a request is a few microseconds of work, far less than
        # waking a thread pool, and the service scales with one worker process per CPU.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            model_bytes, options, providers=["CPUExecutionProvider"]
        )
        outputs = {output.name for output in self.session.get_outputs()}
        self.output = PROBABILITIES if PROBABILITIES in outputs else VALUES

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities, a row per record; or predicted values, a row of one each."""
        return self.session.run([self.output], {INPUT: rows.astype(np.float32, copy=False)})[0]


def verified_bytes(model_path: Path, manifest: Manifest) -> bytes:
    """The model file's bytes, once their sha256 is the one the pipeline recorded. The
    session is built from these same bytes, so nothing can swap the file in between."""
    data = model_path.read_bytes()
    if sha256(data) != manifest.sha256:
        raise ModelIntegrityError(
            f"{model_path} has sha256 {sha256(data)}, the pipeline recorded {manifest.sha256}: "
            "refusing to serve a model that is not the one that was gated"
        )
    return data


def golden_mismatch(model: OnnxModel, manifest: Manifest) -> str | None:
    """None when the model answers the golden record as it did at export, else why not."""
    record = np.asarray([manifest.golden_record], dtype=np.float32)
    try:
        answered = model.predict(record)[0]
    except Exception as error:  # a graph that loads but cannot run is just as unservable
        return f"the golden prediction failed: {error}"
    expected = np.asarray(manifest.golden_output)
    if not close(answered, expected):
        return f"the golden prediction is {answered.tolist()}, export recorded {expected.tolist()}"
    return None


def load(model_path: Path = config.MODEL, manifest_path: Path = config.MANIFEST) -> OnnxModel:
    """The verified model, for `evaluate`: raises unless the hash and the golden record match."""
    manifest = Manifest.read(manifest_path)
    model = OnnxModel(verified_bytes(model_path, manifest))
    if problem := golden_mismatch(model, manifest):
        raise ModelIntegrityError(f"{model_path}: {problem}")
    return model
