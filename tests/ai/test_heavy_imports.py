"""torch, torchvision and pytorch-grad-cam are imported by one thread at a time: the viewer's
warm-up imports them on a worker while a Run or a heat map may start its own (two threads
importing them at once failed with "'_OpNamespace' 'prims' object has no attribute 'sum'")."""

import subprocess
import sys
import textwrap
from pathlib import Path

from medviewer.ai import heavy_imports


def test_a_second_thread_waits_for_the_import_in_progress():
    code = textwrap.dedent(
        """
        import sys, threading, time
        from medviewer.ai import heavy_imports as h

        assert "torch" not in sys.modules
        h._LOCK.acquire()  # another thread is importing
        done = []
        worker = threading.Thread(target=lambda: (h.import_heavy(), done.append(1)))
        worker.start()
        time.sleep(0.5)
        assert not done and "torch" not in sys.modules, "did not wait"
        h._LOCK.release()
        worker.join(120)
        assert done and "torchvision" in sys.modules and "pytorch_grad_cam" not in sys.modules
        h.import_heavy(grad_cam=True)
        assert "pytorch_grad_cam" in sys.modules
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_loading_a_model_and_explaining_go_through_the_lock(monkeypatch, tmp_path):
    from medviewer.ai import explain_cam, registry

    calls = []
    real = heavy_imports.import_heavy
    monkeypatch.setattr(heavy_imports, "import_heavy", lambda **kw: (calls.append(kw), real(**kw)))
    monkeypatch.setattr(explain_cam, "import_heavy", heavy_imports.import_heavy)
    bundled = Path(__file__).resolve().parents[2] / "models"
    reg = registry.ModelRegistry(bundled, tmp_path / "user", tmp_path / "state.json")
    reg.load("headct-lesions:2.0.0", device="cpu")
    assert calls == [{}]
    explain_cam._cam_class("gradcam")
    assert calls[-1] == {"grad_cam": True}
