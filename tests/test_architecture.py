"""The headless core loads without Qt, torch or SimpleITK; the window opens before torch loads."""

import subprocess
import sys
import textwrap


def _modules_after(code: str) -> set[str]:
    script = textwrap.dedent(code) + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


HEAVY = {"torch", "torchvision", "pytorch_grad_cam", "SimpleITK", "cv2"}
QT = {"PySide6", "pyqtgraph", "superqt", "shiboken6"}


def test_core_and_cli_import_neither_qt_nor_heavy_libraries():
    loaded = _modules_after(
        "import medviewer.cli, medviewer.dicom, medviewer.session, medviewer.jobs"
    )
    assert not loaded & (HEAVY | QT), loaded & (HEAVY | QT)


def test_main_window_opens_without_torch():
    loaded = _modules_after(
        """
        import os
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6 import QtWidgets
        app = QtWidgets.QApplication([])
        from medviewer.qt.main_window import MainWindow
        w = MainWindow(); w.show(); app.processEvents()
        """
    )
    assert "PySide6" in loaded
    assert not loaded & HEAVY, loaded & HEAVY


def test_inspect_runs_without_qt_or_torch(tmp_path):
    from medviewer.testing.synthetic import write_series

    write_series(tmp_path, n_slices=3, rows=16, cols=16)
    loaded = _modules_after(
        f"""
        import contextlib, io
        from medviewer.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["inspect", "--json", {str(tmp_path)!r}]) == 0
        """
    )
    assert not loaded & (HEAVY | QT), loaded & (HEAVY | QT)


def test_convert_of_native_ct_loads_neither_pydicom_nor_the_model_core(tmp_path):
    """`medviewer convert` as a whole process is timed against SimpleITK's
    (benchmarks/load_process.py): uncompressed slices are read by the fast header walker and
    one readinto each, so pydicom, the model core and Qt stay unloaded."""
    from medviewer.testing.synthetic import write_series

    write_series(tmp_path / "ct", n_slices=4, rows=16, cols=16)
    out = tmp_path / "ct.npy"
    loaded = _modules_after(
        f"""
        from medviewer.cli import main
        assert main(["convert", {str(tmp_path / "ct")!r}, "-o", {str(out)!r}]) == 0
        """
    )
    assert out.is_file()
    unwanted = HEAVY | QT | {"pydicom", "medviewer.ai.explain", "medviewer.ai.classifier"}
    assert not loaded & unwanted, loaded & unwanted


MAX_MODULE_LINES = 450  # one concern per module; Qt windows aim at ~300


def test_no_module_holds_more_than_one_concern_by_size():
    from pathlib import Path

    import medviewer

    root = Path(medviewer.__file__).parent
    sizes = {
        str(p.relative_to(root)): len(p.read_text(encoding="utf-8").splitlines())
        for p in root.rglob("*.py")
    }
    assert len(sizes) > 100
    too_big = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_big, f"split these by concern (docs/architecture.md): {too_big}"
