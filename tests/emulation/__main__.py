"""``python -m emulation SPEC.json`` (with tests/ on the path): JSON results on stdout."""

from __future__ import annotations

import json
import sys

from .harness import Harness


def main() -> int:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    results = [
        Harness(spec["sys"], case, spec.get("count_instructions", False)).run()
        for case in spec["cases"]
    ]
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
