"""``python -m PancreasMultiTaskLib.cli``: the same as the ``pancreas-mt`` command."""

import sys

from .main import main

if __name__ == "__main__":
    sys.exit(main())
