"""After `terraform apply` (`make deploy`): prune the sources bucket of superseded function bundles.

The bucket holds `<function>/<sha256>.zip`, one object per build. A bundle that a deployed revision
uses must never go (a lifecycle rule by age deleted live bundles of functions unchanged for 90 days:
the next plan re-uploaded them, and no rollback could use them). This step keeps, per function, the
live bundle (the zip `make build` just wrote, which Terraform deployed) and the KEEP most recent
before it (rollback without a rebuild; an older commit rebuilds the same bytes anyway: the bundles are
reproducible), and deletes the rest.

    python -m scripts.prune_sources --project P [--keep N] [--dry-run]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterable
from datetime import datetime

from shared.config import FUNCTION_NAMES, REPO_ROOT

KEEP = 3


def live_names(build_dir=REPO_ROOT / "build", functions: Iterable[str] = FUNCTION_NAMES) -> dict[str, str]:
    """function -> the object name of the bundle `make build` wrote (what Terraform uploaded)."""
    out = {}
    for name in functions:
        zipped = build_dir / f"{name}.zip"
        if not zipped.is_file():
            raise SystemExit(f"{zipped} is missing: run `make build` (make deploy does) before pruning")
        out[name] = f"{name}/{hashlib.sha256(zipped.read_bytes()).hexdigest()}.zip"
    return out


def pruned(objects: Iterable[tuple[str, datetime]], live: dict[str, str], keep: int = KEEP) -> list[str]:
    """The object names to delete: per function, all but its live bundle and the `keep` newest others.
    Objects of a function not in `live` (removed from the topology, or not ours) are left alone."""
    by_function: dict[str, list[tuple[datetime, str]]] = {}
    for name, updated in objects:
        function = name.split("/", 1)[0]
        if function in live and name != live[function]:
            by_function.setdefault(function, []).append((updated, name))
    doomed = []
    for older in by_function.values():
        older.sort(reverse=True)  # newest first
        doomed += [name for _, name in older[keep:]]
    return sorted(doomed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", required=True)
    parser.add_argument("--keep", type=int, default=KEEP, help="superseded bundles kept per function")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    from google.cloud import storage

    live = live_names()
    bucket = storage.Client(project=args.project).bucket(f"{args.project}-ledgerline-sources")
    listing = [(blob.name, blob.updated) for blob in bucket.list_blobs()]
    missing = sorted(set(live.values()) - {name for name, _ in listing})
    if missing:  # the apply did not upload what was built: never prune against another state
        print(f"error: the live bundles are not in the bucket ({', '.join(missing)}): apply first", file=sys.stderr)
        return 2
    doomed = pruned(listing, live, args.keep)
    for name in doomed:
        print(f"{'would delete' if args.dry_run else 'deleting'} gs://{bucket.name}/{name}")
        if not args.dry_run:
            bucket.blob(name).delete()
    print(f"kept {len(listing) - len(doomed)} bundle(s), {'would prune' if args.dry_run else 'pruned'} {len(doomed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
