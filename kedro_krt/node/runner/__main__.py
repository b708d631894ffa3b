"""``python -m kedro_krt.node.runner``: run one KRT node as KRE starts a node pod."""

from __future__ import annotations

import sys

from kedro_krt.node.runner import main

if __name__ == "__main__":
    sys.exit(main())
