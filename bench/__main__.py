"""``python -m bench <name> [options]``: run one benchmark, print its tables, write its JSON."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import pkgutil
import sys
from types import ModuleType

import bench
from bench.harness import Report, common_arguments

NOT_BENCHMARKS = {"harness"}


def benchmarks() -> dict[str, ModuleType]:
    """Every module ``bench/<name>.py`` that defines ``add_arguments`` and ``run``."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("_") or info.name in NOT_BENCHMARKS:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if hasattr(module, "add_arguments") and hasattr(module, "run"):
            found[info.name] = module
    return found


def build_parser(modules: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks: the real bot in its own process against the sandbox Discord "
        "(loopback, with added API latency).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the harness does")
    sub = parser.add_subparsers(dest="bench", required=True, metavar="BENCH")
    for name, module in sorted(modules.items()):
        child = sub.add_parser(name, help=getattr(module, "DESCRIPTION", ""))
        module.add_arguments(child)
        common_arguments(child)
    return parser


def main(argv: list[str] | None = None) -> int:
    modules = benchmarks()
    args = build_parser(modules).parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # The sandbox logs every refusal as a warning; the report counts them instead.
    logging.getLogger("sandbox").setLevel(logging.INFO if args.verbose else logging.ERROR)
    # A bot stopped mid-request resets its connections; the server's tracebacks are noise here.
    logging.getLogger("aiohttp.server").setLevel(logging.INFO if args.verbose else logging.CRITICAL)
    settings = {k: v for k, v in vars(args).items() if k not in {"verbose"}}
    report = Report(args.bench, {k: str(v) if k == "results" else v for k, v in settings.items()})
    module = modules[args.bench]
    try:
        asyncio.run(module.run(args, report))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(report.render())
    if not args.no_json:
        path = report.write(args.results)
        print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
