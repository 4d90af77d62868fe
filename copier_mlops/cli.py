"""The `copier-mlops` command: `fleet status`, `fleet update`, and `check` (the pre-commit
hook published in .pre-commit-hooks.yaml)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from copier_mlops import check, fleet


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="copier-mlops", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    fleet_parser = commands.add_parser("fleet", help="many rendered repositories at once")
    actions = fleet_parser.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="release, answers, edits and policy of each")
    status.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    status.add_argument("--policy", type=Path, help="organisation file with a policy section")
    status.add_argument("repos", nargs="+", metavar="REPO", help="a path or a git URL")
    update = actions.add_parser("update", help="a template-update/<version> branch in each")
    update.add_argument("--ref", help="release or commit to update to (default: the latest)")
    update.add_argument("--yes", action="store_true", help="no interactive choice")
    update.add_argument(
        "--trust",
        action="store_true",
        help="let migrations run (needed only when an update crosses one; see CHANGELOG.md)",
    )
    update.add_argument("repos", nargs="+", metavar="REPO", help="a local repository")

    hook = commands.add_parser("check", help="is this project behind or edited? (pre-commit)")
    hook.add_argument("--strict", action="store_true", help="fail on edited template files too")
    hook.add_argument("project", nargs="?", type=Path, default=Path("."))
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "check":
        return check.main(args.project, strict=args.strict)
    if args.action == "status":
        return fleet.status(args.repos, args.policy, args.format)
    return fleet.update(args.repos, args.ref, args.yes, args.trust)


if __name__ == "__main__":
    sys.exit(main())
