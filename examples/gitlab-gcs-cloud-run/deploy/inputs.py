"""`make inputs`: fetch the inputs the ENV service recorded, as JSON lines, for `make drift`.

The service ships them in chunk objects named <UTC time>-<random>.jsonl under
INPUTS_URL/<env>/ (the bucket of infra/gcp/inputs.tf). This reads the newest
chunks of the last drift.window_days days, up to drift.max_records records (params.yaml).
When there is nothing to read yet (no service, no bucket, nothing recorded), it says so
and writes an empty file: drift is then not judged, and a new project's scheduled job
stays green. Anything else (no credentials, no permission) fails.
"""

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsspec

from ml_project import config

ENVIRONMENTS = ("staging", "production")
# The bucket of infra/gcp/inputs.tf; each environment ships under <env>/.
INPUTS_URL = os.environ.get("INPUTS_URL", "gs://ml-project-inputs")


def read_chunks(url: str, since: datetime, max_records: int) -> str:
    """The newest records of the chunks under `url` written since `since`, oldest first.
    Chunk names start with their UTC time, so sorting the names sorts them by time."""
    fs, root = fsspec.core.url_to_fs(url)
    try:
        paths = fs.ls(root.rstrip("/"), detail=False)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"no bucket or nothing recorded under {url} yet") from error
    oldest = f"{since:%Y%m%dT%H%M%S}"
    chunks: list[list[str]] = []
    count = 0
    for path in sorted(paths, key=lambda p: p.rstrip("/").rsplit("/", 1)[-1], reverse=True):
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if not name.endswith(".jsonl"):
            continue
        if name < oldest or count >= max_records:
            break
        lines = fs.cat_file(path).decode().splitlines(keepends=True)
        chunks.append(lines)
        count += len(lines)
    records = [line for chunk in reversed(chunks) for line in chunk]
    return "".join(records[-max_records:])


def recorded(env: str, window_days: int, max_records: int) -> str:
    """What the `env` service recorded: JSON lines, oldest first."""
    if INPUTS_URL:
        since = datetime.now(UTC) - timedelta(days=window_days)
        return read_chunks(f"{INPUTS_URL.rstrip('/')}/{env}/", since, max_records)
    raise FileNotFoundError("INPUTS_URL is empty: no bucket to read from")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=ENVIRONMENTS, required=True)
    parser.add_argument("--to", type=Path, required=True, help="the JSON-lines file to write")
    args = parser.parse_args(argv)
    limits = config.load_params()["drift"]
    try:
        lines = recorded(args.env, limits["window_days"], limits["max_records"])
    except FileNotFoundError as error:
        print(f"{args.env}: no recorded inputs to read ({error}): {args.to} is empty")
        lines = ""
    args.to.parent.mkdir(parents=True, exist_ok=True)
    args.to.write_text(lines)
    if lines:
        print(f"{args.env}: wrote {lines.count(chr(10))} recorded inputs to {args.to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
