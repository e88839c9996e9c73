"""Root test configuration: puts ``tests/`` on ``sys.path`` so that helper modules kept
here (``engine_helpers``) can be shared by unit, property and golden tests."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
