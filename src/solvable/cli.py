"""The ``solvable`` command line."""
from __future__ import annotations

import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print("solvable: the command line is being written (see issue 7)")
    return 0
