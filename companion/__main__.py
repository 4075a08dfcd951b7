"""Command line: ``python -m companion list`` and ``python -m companion reproduce <id>``."""

from __future__ import annotations

import argparse
import ast
import os
import sys
from typing import Any, List, Optional, Tuple

from . import SCALES, get_scale


def main(argv: Optional[List[str]] = None) -> int:
    """The command line ``python -m companion`` (``argv``: its arguments, ``sys.argv[1:]`` by default);
    returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)

    from .reproduce import experiments  # after parsing: --help and bad arguments answer without torch

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
    return _reproduce(parser, args, ids)


def _parser() -> argparse.ArgumentParser:
    """The command line's arguments: ``list`` and ``reproduce``."""
    parser = argparse.ArgumentParser(prog="python -m companion", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the registered experiments")
    rep = commands.add_parser("reproduce", help="run experiments; write figure (PNG) and metrics (JSON)")
    rep.add_argument("ids", nargs="*", help="experiment ids, for example preliminaries/realnvp_ring")
    rep.add_argument("--all", action="store_true", help="run every registered experiment")
    rep.add_argument("--scale", choices=SCALES, default=None, help="default: $COMPANION_SCALE, else book")
    rep.add_argument("--out", default="figures", help="output folder (default: figures)")
    rep.add_argument("--checkpoint-every", type=float, default=None, metavar="MINUTES",
                     help="checkpoint the training loops every MINUTES into OUT/<chapter>/<name>.checkpoints "
                          "(default: 30 at paper scale, none otherwise)")
    rep.add_argument("--resume", action="store_true",
                     help="continue from the checkpoints of an interrupted run with the same configuration")
    rep.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="override one configuration field, for example --set n_steps=500 (repeatable)")
    rep.add_argument("--bf16", action="store_true",
                     help="bf16 autocast on CUDA in the experiments that support it (not measured here: opt-in)")
    return parser


def _reproduce(parser: argparse.ArgumentParser, args: argparse.Namespace, ids: List[str]) -> int:
    """``reproduce IDS``: run them (under ``torchrun``, in every process) and print what rank 0 wrote."""
    from .distributed import init_from_env, is_main, shutdown  # torch, only once the arguments are good
    from .reproduce import reproduce, reproduce_many

    if args.checkpoint_every is not None and args.checkpoint_every < 0:
        parser.error("--checkpoint-every must be >= 0 minutes")
    every = args.checkpoint_every
    if every is None and get_scale(args.scale) == "paper":
        every = 30.0  # a paper-scale run is long: never lose more than half an hour of it
    if args.bf16:
        os.environ["COMPANION_BF16"] = "1"
    overrides = dict(_parse_setting(parser, text) for text in args.set)
    if overrides and len(ids) > 1:
        parser.error("--set applies to one experiment at a time")
    init_from_env()  # under torchrun: one process per device, rank 0 writes
    main_process = is_main()
    try:
        if overrides:
            written = {ids[0]: reproduce(ids[0], scale=args.scale, out=args.out, checkpoint_every=every,
                                         resume=args.resume, **overrides)}
        else:
            written = reproduce_many(ids, scale=args.scale, out=args.out, checkpoint_every=every, resume=args.resume)
    finally:
        shutdown()
    if main_process:
        for experiment_id, paths in written.items():
            print(f"{experiment_id}: {paths['figure']}  {paths['metrics']}")
    return 0


def _parse_setting(parser: argparse.ArgumentParser, text: str) -> Tuple[str, Any]:
    """``NAME=VALUE`` of ``--set``: VALUE as a Python literal (``40``, ``(0, 1)``, ``'cifar10'``), else a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        parser.error(f"--set expects NAME=VALUE with NAME a configuration field; got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
