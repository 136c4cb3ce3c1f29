"""Entry script of the frozen application (PyInstaller runs this file as ``__main__``).

It does what the ``medviewer`` console script does: ``medviewer.cli:main``.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    # First thing: the viewer decodes in spawned child processes (medviewer.dicom.decoders),
    # and a frozen child is this same executable, which must run the child's job instead of
    # main(). freeze_support() does that (and returns at once in the parent), before the
    # app's modules are imported.
    multiprocessing.freeze_support()
    from medviewer.cli import main

    sys.exit(main())
