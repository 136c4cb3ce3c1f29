"""What the menus and toolbar of the main window do (kept apart from opening and loading)."""

from __future__ import annotations

import os

from PySide6 import QtCore, QtWidgets

from medviewer import __version__
from medviewer.dicom.display import Window, auto_window
from medviewer.dicom.export import write_volume
from medviewer.jobs import Progress

TAGS_FOLLOW_MS = 150
"""The tag browser follows the slice shown this long after scrolling stops."""
DICOM_FILTER = "DICOM files (*.dcm *.DCM *.dicom *.ima *.IMA);;All files (*)"
PNG_EXPORT_CHOICES = (
    "PNG, overlays de-identified (*.png)",
    "PNG, overlays as shown: may show the patient's name and ID (*.png)",
    "PNG without overlays (*.png)",
)
"""The file types of Export view as PNG; the first, de-identified, is the default."""


class CommandsMixin:
    """Slots for MainWindow's actions; expects the attributes MainWindow creates."""

    # -- open ---------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self, "Open DICOM folder", self.settings.last_folder
        )
        if folder:
            self.open_paths([folder])

    def choose_files(self) -> None:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self, "Open DICOM files", self.settings.last_folder, DICOM_FILTER
        )
        if files:
            self.open_paths(files)

    def choose_dicomdir(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self,
            "Open DICOMDIR",
            self.settings.last_folder,
            "DICOMDIR (DICOMDIR dicomdir);;All (*)",
        )
        if path:
            self.open_paths([path])

    def _rebuild_recent(self) -> None:
        menu = self.recent_menu
        menu.clear()
        for path in self.settings.recent:
            action = menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        menu.setEnabled(bool(self.settings.recent))

    # -- window / level ---------------------------------------------------------------------
    def _load_custom_windows(self) -> None:
        self.session.custom_windows = [
            (p.get("modality", ""), Window(p["center"], p["width"], p["name"]))
            for p in self.settings.custom_presets
        ]

    def save_window_preset(self, name: str | None = None) -> None:
        """Keep the current window as a named preset for this modality (saved in settings)."""
        window, series = self.session.window, self.session.series
        if window is None or series is None:
            return
        if name is None:
            name, ok = QtWidgets.QInputDialog.getText(
                self, "Save window preset", f"Name for {window.center:g}/{window.width:g}:"
            )
            if not ok:
                return
        name = name.strip()
        if not name:
            return
        self.settings.custom_presets.append(
            {
                "name": name,
                "center": window.center,
                "width": window.width,
                "modality": series.modality,
            }
        )
        self._load_custom_windows()
        self.session.set_window(Window(window.center, window.width, name))
        self._fill_windows()

    def _fill_windows(self) -> None:
        self._load_custom_windows()
        self._windows = self.session.available_windows()
        menu = self.window_menu
        menu.clear()
        menu.addAction(self.actions["window.auto"])
        menu.addSeparator()
        for i, w in enumerate(self._windows):
            key = f"\t{i + 1}" if i < 9 else ""  # the key is the window-wide preset action's
            action = menu.addAction(f"{w.name} {w.center:g}/{w.shown_width:g}{key}")
            action.triggered.connect(lambda _=False, i=i: self.pick_window(i))
        menu.addSeparator()
        menu.addAction("Save current window as preset…", self.save_window_preset)
        self.window_box.blockSignals(True)
        self.window_box.clear()
        for i, w in enumerate(self._windows):
            key = f"   {i + 1}" if i < 9 else ""
            self.window_box.addItem(f"{w.name} {w.center:g}/{w.shown_width:g}{key}")
        self.window_box.setEnabled(bool(self._windows))
        self.window_box.blockSignals(False)
        self._select_window_entry()

    def _select_window_entry(self) -> None:
        current = self.session.window
        volume = self.session.volume
        if volume is not None and volume.is_color:
            current = None  # colour is drawn as it is: no "Custom 0/1" entry
        index = self._windows.index(current) if current in self._windows else -1
        if index < 0 and current is not None:  # the same numbers under another name (a window
            # restored from a hanging protocol keeps only its centre and width): that preset
            same = [
                i
                for i, w in enumerate(self._windows)
                if (w.center, w.width) == (current.center, current.width)
            ]
            index = same[0] if same else -1
        self.window_box.blockSignals(True)
        if index < 0 and current is not None:
            label = f"Custom {current.center:.0f}/{current.width:.0f}"
            if self.window_box.count() > len(self._windows):
                self.window_box.setItemText(len(self._windows), label)
            else:
                self.window_box.addItem(label)
            index = len(self._windows)
        self.window_box.setCurrentIndex(index)
        self.window_box.blockSignals(False)

    def _window_chosen(self, index: int) -> None:
        if not 0 <= index < len(self._windows):
            return
        active = self.reading.active
        if active == 0:
            self.viewer.set_window(self._windows[index])
        else:  # the preset goes to the active viewport (and, when linked, the others)
            self.reading.viewports[active - 1].set_window(self._windows[index], by_user=True)

    def pick_window(self, index: int) -> None:
        if 0 <= index < len(self._windows):
            self.window_box.setCurrentIndex(index)

    def _study_open(self, what: str) -> bool:
        """False, saying so in the status bar, when no study is open for ``what``."""
        if self.session.volume is not None:
            return True
        self.statusBar().showMessage(f"Open a study first: nothing to {what}", 4000)
        return False

    def auto_window(self) -> None:
        if not self._study_open("window"):
            return
        image = self.viewer.primary.image
        if image is not None and image.values.ndim == 2:
            self.viewer.set_window(auto_window(image.values))

    # -- view -------------------------------------------------------------------------------
    def toggle_layout(self, checked: bool) -> None:
        self.viewer.set_layout("1x3" if checked else "1x1")

    def fit_views(self) -> None:
        if self._study_open("fit"):
            self.reading.fit()

    def toggle_invert(self, checked: bool) -> None:
        if checked and not self._study_open("invert"):
            self._invert_follows_active()  # stays unchecked
            return
        self.reading.set_inverted(checked)

    def _invert_follows_active(self) -> None:
        """The Invert button shows the active viewport's own choice."""
        action = self.actions["view.invert"]
        action.blockSignals(True)
        action.setChecked(self.reading.inverted())
        action.blockSignals(False)

    def toggle_overlays(self, checked: bool) -> None:
        self.reading.set_overlays_visible(checked)

    def toggle_deidentified(self, checked: bool) -> None:
        self.session.deidentified = checked
        self.reading.refresh()

    def toggle_cine(self, checked: bool) -> None:
        self.viewer.set_cine(checked)

    def change_fps(self, delta: int) -> None:
        self.fps_box.setValue(self.fps_box.value() + delta)

    def _fps_changed(self, fps: int) -> None:
        self.viewer.set_cine_fps(fps)

    # -- tools --------------------------------------------------------------------------------
    def set_tool(self, tool: str | None) -> None:
        self.reading.set_tool(tool)

    def delete_measurement(self) -> None:
        if not self.reading.delete_selected_measurement():
            self.statusBar().showMessage("Select a measurement first (click on it)", 3000)

    def show_tags(self) -> None:
        volume = self.session.volume
        if volume is None:
            self.statusBar().showMessage("Open a study first", 3000)
            return
        from medviewer.qt.tag_browser import TagBrowser

        if getattr(self, "tag_browser", None) is None:
            self.tag_browser = TagBrowser(self)
            # it follows the slice shown, as RadiAnt's and Horos' do (after scrolling stops)
            self._tags_timer = QtCore.QTimer(self)
            self._tags_timer.setSingleShot(True)
            self._tags_timer.setInterval(TAGS_FOLLOW_MS)
            self._tags_timer.timeout.connect(self._tags_follow)
            self.viewer.primary_index_changed.connect(lambda _i: self._tags_timer.start())
        self._tags_follow(force=True)
        self.tag_browser.show()
        self.tag_browser.raise_()

    def _tags_follow(self, force: bool = False) -> None:
        """Show the tags of the file of the slice in view, when the browser is open."""
        browser, volume = getattr(self, "tag_browser", None), self.session.volume
        if browser is None or volume is None or not (force or browser.isVisible()):
            return
        index = min(max(self.session.slice_index, 0), len(volume.series.slices) - 1)
        path = volume.series.slices[index].path
        if force or path != browser.path:
            browser.show_file(path)

    def show_help(self) -> None:
        from medviewer.qt.help_dialog import HelpDialog

        HelpDialog(self).exec()

    def show_about(self) -> None:
        QtWidgets.QMessageBox.about(self, "About medviewer", self.about_html())

    def about_html(self) -> str:
        """What Help > About says: version, use, the models in use, the bundled data's
        licences, where settings and data live, and the libraries (torch only when it is
        already loaded: About never loads it)."""
        import html
        import sys

        import numpy
        import pydicom
        import PySide6

        from medviewer.settings import settings_path, user_data_dir

        panel = getattr(self, "ai_panel", None)
        entry = panel.current_entry if panel is not None else None
        model = f"{entry.name} {entry.version}" if entry is not None else "none installed"
        libs = [
            f"Python {sys.version.split()[0]}",
            f"Qt {QtCore.qVersion()} (PySide6 {PySide6.__version__})",
            f"pydicom {pydicom.__version__}",
            f"numpy {numpy.__version__}",
        ]
        torch = sys.modules.get("torch")
        libs.append(f"torch {torch.__version__}" if torch else "torch (not loaded yet)")
        rows = [
            ("Model in use", f"{model} — AI > Model card… says what it was trained on and "
             "what it misses"),
            ("Network", "none, unless you configure DICOM nodes (Network > DICOM nodes…)"),
            ("Settings", str(settings_path().parent)),
            ("Labels and models", str(user_data_dir())),
            ("Sample study", "InVesalius example head CT, GPL-2 (resources/sample)"),
            ("Bundled model data", "that CT (GPL-2) and Colin27's MRI (BSD-3)"),
            ("Libraries", ", ".join(libs)),
        ]  # fmt: skip
        table = "".join(
            f"<tr><td style='padding-right:10px'><b>{html.escape(k)}</b></td>"
            f"<td>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        return (
            f"<h3>medviewer {html.escape(__version__)}</h3>"
            "<p>An offline DICOM viewer with a per-slice classifier and its explanations. "
            "No patient data leaves this computer.</p>"
            "<p style='color:#ffb74d'><b>The AI results are for research use only, not for "
            "diagnosis.</b></p>"
            f"<table>{table}</table>"
            "<p>F1 lists every shortcut; the README describes every feature.</p>"
        )

    # -- export -------------------------------------------------------------------------------
    def export_png(
        self, path: str | None = None, overlays: bool | None = None, identity: bool = False
    ) -> str | None:
        """Save the current view as a PNG.

        The overlay text is de-identified (no patient name, ID, birth or study date) unless
        ``identity`` asks for the overlays as shown; ``overlays=False`` leaves the text out.
        The file dialog offers the three as its file types, the de-identified one first.
        """
        if not self._study_open("export"):
            return None
        if path is None:
            path, chosen = QtWidgets.QFileDialog.getSaveFileName(
                self,
                "Export view as PNG",
                os.path.join(self.settings.last_folder, "view.png"),
                ";;".join(PNG_EXPORT_CHOICES),
                PNG_EXPORT_CHOICES[0],
            )
            if not path:
                return None
            overlays = chosen != PNG_EXPORT_CHOICES[2]
            identity = chosen == PNG_EXPORT_CHOICES[1]
        if not path.lower().endswith(".png"):
            path += ".png"
        shown = self.viewer.overlays_visible
        deidentified = self.session.deidentified
        if overlays is False:
            self.reading.set_overlays_visible(False)
        if not identity and not deidentified:
            self.session.deidentified = True
            self.reading.refresh()
        try:
            side = getattr(self, "ai_side", None)
            whole = self.viewer.mpr_shown or (side is not None and side.isVisible())
            target = self.viewer if whole else self.viewer.primary  # side by side: both
            if self.reading.count() > 1:
                target = self.reading  # every viewport of the grid, without the active frame
                self.reading.set_frames_visible(False)
            try:
                image = target.grab().toImage()
            finally:
                self.reading.set_frames_visible(True)
            caption = self.ai.export_caption() if hasattr(self, "ai") else None
            if caption is not None:
                from medviewer.qt.export_caption import add_caption

                image = add_caption(image, *caption)
            ok = image.save(path, "PNG")
        finally:
            self.reading.set_overlays_visible(shown)
            if self.session.deidentified != deidentified:
                self.session.deidentified = deidentified
                self.reading.refresh()
        if not ok:
            self._on_error(f"could not write {path}: check the folder exists and is writable")
            return None
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return path

    def export_nifti(self, path: str | None = None) -> None:
        """Write the active viewport's series as NIfTI (in the background)."""
        reading = getattr(self, "reading", None)
        volume = reading.volume(reading.active) if reading is not None else None
        volume = volume if volume is not None else self.session.volume
        if volume is None:
            self._study_open("export")
            return
        if path is None:
            series = volume.series
            name = "-".join(
                part
                for part in (series.modality, str(series.series_number or ""), series.description)
                if part
            )
            name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "series"
            path, _ = QtWidgets.QFileDialog.getSaveFileName(
                self,
                f"Export series {series.description or series.modality}",
                os.path.join(self.settings.last_folder, f"{name}.nii.gz"),
                "NIfTI (*.nii.gz *.nii);;NRRD (*.nrrd);;MetaImage (*.mha)",
            )
            if not path:
                return
        if not path.lower().endswith((".nii.gz", ".nii", ".nrrd", ".mha", ".mhd", ".npy")):
            path += ".nii.gz"

        def job():
            yield Progress(0, 1, f"writing {path}")
            return write_volume(volume, path)

        self._run(job(), lambda written: self._exported(written))

    def _exported(self, written: str) -> None:
        self._worker = None
        self._job_finished()
        self.statusBar().showMessage(f"Saved {written}", 5000)
        self.exported = written
