"""Migration: an answer of copier.yml was renamed; carry a project's answer over to the new
name. Copier runs it in the project, before the update, only when the update crosses the
release that renamed it (and only with --trust / TRUST=1), from copier.yml:

  _migrations:
    - version: vX.Y.Z
      when: "{{ _stage == 'before' }}"
      command:
        - "{{ _copier_python }}"
        - "{{ _copier_conf.src_path }}/hooks/rename_answer.py"
        - old_name
        - new_name

It runs on Copier's own Python, so it needs nothing but the pyyaml Copier brings."""

import sys
from pathlib import Path

import yaml

ANSWERS_FILE = Path(".copier-answers.yml")


def main(old: str, new: str) -> None:
    answers = yaml.safe_load(ANSWERS_FILE.read_text())
    if old not in answers:
        return  # the project never had it (a question that did not apply), or it moved already
    answers[new] = answers.pop(old)
    header = "# Changes here will be overwritten by Copier; do not edit by hand.\n"
    ANSWERS_FILE.write_text(header + yaml.safe_dump(answers, sort_keys=True))


if __name__ == "__main__":
    main(*sys.argv[1:])
