"""The README's network screenshots (run by capture.py --network, under Xvfb): a real PACS
(Debian's Orthanc on 127.0.0.1, medviewer.testing.orthanc) holding the bundled sample head CT;
the DICOM nodes dialog with the node verified, a query, and a retrieve in progress with the
first slices already on screen. Each instance is slowed by 80 ms to look like a busy hospital
network, so the retrieve can be caught half way. Everything lives in temporary folders."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def network_shots(app, out: Path, wait) -> None:
    folder = Path(tempfile.mkdtemp(prefix="mv-shots-network-"))
    os.environ["MEDVIEWER_CONFIG_DIR"] = str(folder / "config")
    os.environ["MEDVIEWER_DATA_DIR"] = str(folder / "data")
    from medviewer.net.nodes import LocalNode, NetConfig, RemoteNode, save_config
    from medviewer.net.storage import StudyStore
    from medviewer.qt.main_window import MainWindow
    from medviewer.resources import sample_study_dir
    from medviewer.testing.orthanc import OrthancServer, free_port

    port = free_port()
    with OrthancServer(folder / "orthanc", {"medviewer": ("READING1", port)}) as pacs:
        pacs.upload([sample_study_dir()])
        local = LocalNode(
            ae_title="READING1",
            port=port,
            allowed_callers=("ORTHANC",),
            store_folder=str(folder / "studies"),
        )
        save_config(
            NetConfig(
                local,
                [
                    RemoteNode("PACS", "ORTHANC", "127.0.0.1", pacs.dicom_port, "get"),
                    RemoteNode("CT scanner", "CT_ROOM2", "127.0.0.1", free_port(), "move"),
                ],
            )
        )
        w = MainWindow()
        w.resize(1400, 900)
        w.show()
        w.ai_dock.hide()
        w.labeling_dock.hide()
        wait(app)

        dialog = w.network.show_nodes_dialog()
        verified = []
        dialog.verified.connect(lambda *args: verified.append(args))
        dialog.verify("PACS")
        dialog.verify("CT scanner")
        wait(app, lambda: len(verified) == 2, 20)
        dialog.table.selectRow(0)
        wait(app)
        dialog.grab().save(str(out / "network-nodes.png"))
        dialog.reject()

        q = w.network.query
        q.show()
        found = []
        q.search_finished.connect(found.append)
        q.search()
        wait(app, lambda: bool(found), 20)
        listed = []
        q.series_listed.connect(lambda: listed.append(True))
        q.panel.study_table.selectRow(0)
        wait(app, lambda: bool(listed), 20)
        w.grab().save(str(out / "network-query.png"))

        real = StudyStore.store

        def slow(self, data):
            time.sleep(0.08)
            return real(self, data)

        StudyStore.store = slow
        try:
            retrieval = q.retrieve_study()
            wait(
                app,
                lambda: (
                    w.session.volume is not None
                    and len(w.session.volume.series.slices) >= 24
                    and w._worker is None
                ),
                60,
            )
            wait(app, lambda: not w.browser.thumbnails_pending(), 5)
            w.grab().save(str(out / "network-retrieve.png"))
            wait(app, lambda: not retrieval.running, 60)
        finally:
            StudyStore.store = real
        w.close()
