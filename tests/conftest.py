"""Make the helper module ``toy_task`` (a script beside the tests) importable in importlib mode."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
