"""``python -m jaxsnn.plot DIR``: draw the figures of a saved run (see :mod:`jaxsnn.plot`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Plot one or more result folders.

    Exit status: 0 when every folder gave a figure and no error; 1 when a folder's files are
    intact but allow no figure (no completed epoch yet); 2 when a folder or file cannot be
    used (missing, not a result folder, damaged or foreign file, plots not writable) -- one
    line ``jaxsnn plot: error: ...`` per problem names the file, and the other figures are
    still drawn.
    """
    from jaxsnn.plot import plot_run
    from jaxsnn.training.results import ResultsError

    parser = argparse.ArgumentParser(
        prog="jaxsnn plot", description="Draw the figures of saved jaxsnn runs into DIR/plots/."
    )
    parser.add_argument("folders", nargs="+", metavar="DIR", help="result folder(s)")
    args = parser.parse_args(argv)
    status = 0
    for folder in args.folders:
        try:
            report = plot_run(folder)
        except ResultsError as error:
            print(f"jaxsnn plot: error: {error}", file=sys.stderr)
            status = 2
            continue
        for path in report.written:
            print(f"wrote {path}")
        for name, reason in report.skipped.items():
            print(f"skipped {name}: {reason}", file=sys.stderr)
        for message, names in report.errors.items():
            print(f"jaxsnn plot: error: {message}; not drawn: {', '.join(names)}", file=sys.stderr)
            status = 2
        if not report.written:
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
