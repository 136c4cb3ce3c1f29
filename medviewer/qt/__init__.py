"""The thin Qt layer. Only this package imports PySide6, pyqtgraph and superqt."""
