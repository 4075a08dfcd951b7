"""Command line: ``python -m companion list`` and ``python -m companion reproduce <id>``."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import SCALES


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the registered experiments")
    rep = commands.add_parser("reproduce", help="run experiments; write figure (PNG) and metrics (JSON)")
    rep.add_argument("ids", nargs="*", help="experiment ids, for example preliminaries/realnvp_ring")
    rep.add_argument("--all", action="store_true", help="run every registered experiment")
    rep.add_argument("--scale", choices=SCALES, default=None, help="default: $COMPANION_SCALE, else book")
    rep.add_argument("--out", default="figures", help="output folder (default: figures)")
    args = parser.parse_args(argv)

    from .reproduce import experiments, reproduce_many

    known = experiments()
    if args.command == "list":
        width = max((len(k) for k in known), default=0)
        for experiment_id, exp in known.items():
            print(f"{experiment_id:<{width}}  {exp.description}")
        return 0
    ids = list(known) if args.all else args.ids
    if not ids:
        parser.error("name at least one experiment id, or pass --all")
    unknown = [i for i in ids if i not in known]
    if unknown:
        print(
            f"error: unknown experiment(s) {', '.join(unknown)}.\nKnown experiments:\n  "
            + "\n  ".join(known),
            file=sys.stderr,
        )
        return 2
    for experiment_id, paths in reproduce_many(ids, scale=args.scale, out=args.out).items():
        print(f"{experiment_id}: {paths['figure']}  {paths['metrics']}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
