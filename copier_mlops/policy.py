"""An organisation's file (org.yml): answers for `copier copy --data-file`, and under the
`policy` key (which Copier ignores: it is no question of the template) what every
repository of the organisation must keep to."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

POLICY_KEY = "policy"


def load(path: Path) -> dict:
    """The policy section of an organisation file: allowed, minimum, maximum, patterns."""
    document = yaml.safe_load(path.read_text()) or {}
    policy = document.get(POLICY_KEY) or {}
    unknown = set(policy) - {"allowed", "minimum", "maximum", "patterns"}
    if unknown:
        raise ValueError(
            f"{path}: unknown policy sections {sorted(unknown)}; "
            "the sections are allowed, minimum, maximum and patterns"
        )
    return policy


def violations(answers: dict, policy: dict) -> list[str]:
    """What in `answers` breaks `policy`. An answer the project does not have (a question
    that does not apply to it) breaks nothing."""
    found = []
    for name, allowed in (policy.get("allowed") or {}).items():
        if name in answers and answers[name] not in allowed:
            found.append(f"{name} is {answers[name]!r}; allowed: {', '.join(map(str, allowed))}")
    for name, least in (policy.get("minimum") or {}).items():
        if name in answers and float(answers[name]) < least:
            found.append(f"{name} is {answers[name]}, below the minimum {least}")
    for name, most in (policy.get("maximum") or {}).items():
        if name in answers and float(answers[name]) > most:
            found.append(f"{name} is {answers[name]}, above the maximum {most}")
    for name, pattern in (policy.get("patterns") or {}).items():
        if name in answers and not re.fullmatch(pattern, str(answers[name])):
            found.append(f"{name} is {answers[name]!r}, which does not match {pattern}")
    return found
