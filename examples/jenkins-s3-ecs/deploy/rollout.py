"""Deploy an image to an environment, smoke-test it, and roll back when the test fails.

`make deploy ENV=staging` runs this. The target-specific commands live in
deploy/aws_ecs.py, which provides current, release, endpoint and restore, and
may provide smoke (when the service is not plain HTTP, such as a SageMaker endpoint) and
promote (when a release first gets a share of the traffic, such as a new revision on a
traffic split: promote gives it all of it once the smoke test passed).
"""

import argparse
import sys

import aws_ecs as target

from ml_project.smoke import smoke_test

ENVIRONMENTS = ("staging", "production")


def rollout(env: str, image: str) -> bool:
    """Release `image` to `env`; on a failed smoke test restore what ran before."""
    previous = target.current(env)
    print(f"{env}: releasing {image} (running now: {previous or 'nothing'})")
    try:
        target.release(env, image)
        if hasattr(target, "smoke"):
            target.smoke(env)
        else:
            smoke_test(target.endpoint(env))
        if hasattr(target, "promote"):
            target.promote(env)
    # A release that fails half-way (a container that never gets healthy, a service that
    # never stabilises) needs the same rollback as a failed smoke test.
    except Exception as error:
        print(f"{env}: release failed: {error}", file=sys.stderr)
        if previous:
            target.restore(env, previous)
            print(f"{env}: rolled back to {previous}", file=sys.stderr)
        else:
            print(f"{env}: nothing ran before, nothing to roll back to", file=sys.stderr)
        return False
    print(f"{env}: {image} is live and passed the smoke test")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", choices=ENVIRONMENTS, required=True)
    parser.add_argument("--image", required=True, help="image reference, registry/name:tag")
    args = parser.parse_args()
    return 0 if rollout(args.env, args.image) else 1


if __name__ == "__main__":
    sys.exit(main())
