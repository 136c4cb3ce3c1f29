"""``python -m medviewer.cli``: the same as ``medviewer`` (and ``python -m medviewer``)."""

import sys

from medviewer.cli import main

sys.exit(main())
