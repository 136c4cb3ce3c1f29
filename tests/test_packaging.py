"""Packaging files: the PyInstaller spec, the Linux desktop entry, AppStream metadata, MIME
type, icons and the per-user installer (run for real with HOME in a temporary folder).

Fast (a few seconds): nothing is frozen here; `make package` builds and checks the bundle.
The freedesktop tools (desktop-file-validate, appstreamcli, update-mime-database) are used
when installed (packaging/install-debian-deps.sh installs them); the checks of our own run
either way.
"""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import medviewer

REPO = Path(__file__).resolve().parent.parent
PACKAGING = REPO / "packaging"
LINUX = PACKAGING / "linux"
APP_ID = "org.medviewer.Medviewer"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
MIME = LINUX / f"{APP_ID}.mime.xml"
ICONS = LINUX / "icons" / "hicolor"
ICON_SIZES = (16, 32, 48, 64, 128, 256)
SPEC = PACKAGING / "medviewer.spec"
INSTALLER = PACKAGING / "install-linux.sh"
MAIN_CATEGORIES = {
    "AudioVideo", "Audio", "Video", "Development", "Education", "Game", "Graphics",
    "Network", "Office", "Science", "Settings", "System", "Utility",
}  # fmt: skip


# -- the desktop entry --------------------------------------------------------------------------
def desktop_problems(text: str) -> list[str]:
    """Our own checks of a desktop entry (the keys a launcher and file manager rely on)."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        return [f"unparsable: {exc}"]
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    problems = []
    if not lines or lines[0] != "[Desktop Entry]":
        problems.append("the first group must be [Desktop Entry]")
    if "Desktop Entry" not in parser:
        return problems + ["no [Desktop Entry] group"]
    entry = parser["Desktop Entry"]
    for key in ("Type", "Name", "Exec", "Icon", "MimeType", "Categories"):
        if not entry.get(key, "").strip():
            problems.append(f"{key} is missing")
    if entry.get("Type") != "Application":
        problems.append("Type must be Application")
    exec_ = entry.get("Exec", "")
    if not any(code in exec_.split() for code in ("%f", "%F", "%u", "%U")):
        problems.append("Exec takes no file argument (%F)")
    if entry.get("Terminal", "false") not in ("true", "false"):
        problems.append("Terminal must be true or false")
    for key in ("MimeType", "Categories", "Keywords"):
        if key in entry and not entry[key].endswith(";"):
            problems.append(f"{key} must end with ';'")
    mimes = [m for m in entry.get("MimeType", "").split(";") if m]
    if "application/dicom" not in mimes:
        problems.append("MimeType lacks application/dicom")
    categories = [c for c in entry.get("Categories", "").split(";") if c]
    if not MAIN_CATEGORIES & set(categories):
        problems.append("Categories names no main category")
    return problems


def test_desktop_entry_passes_our_checks_and_names_our_icon():
    text = DESKTOP.read_text(encoding="utf-8")
    assert desktop_problems(text) == []
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    entry = parser["Desktop Entry"]
    assert entry["Icon"] == APP_ID
    assert entry["Exec"].split()[:2] == ["medviewer", "gui"]  # install-linux.sh rewrites it
    assert entry["StartupWMClass"] == "medviewer"  # the QApplication's name


def test_our_desktop_checks_catch_broken_entries():
    good = DESKTOP.read_text(encoding="utf-8")
    assert desktop_problems(good.replace("Exec=medviewer gui %F", "Exec=medviewer gui"))
    assert desktop_problems(good.replace("MimeType=application/dicom;", "MimeType=image/png;"))
    assert desktop_problems(good.replace("Categories=Science;", "Categories=Foo;"))
    assert desktop_problems(good.replace("Type=Application\n", "Type=Application\nType=Link\n"))
    assert desktop_problems("Name=x\n")


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason="no desktop-file-utils")
def test_desktop_entry_is_valid_for_desktop_file_validate():
    out = subprocess.run(
        ["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0 and "error" not in out.stdout, out.stdout + out.stderr


# -- AppStream ------------------------------------------------------------------------------------
def test_metainfo_has_the_required_elements():
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    for tag in ("metadata_license", "project_license", "name", "summary"):
        assert (root.findtext(tag) or "").strip(), tag
    assert root.find("description/p") is not None
    launchable = root.find("launchable")
    assert launchable is not None and launchable.get("type") == "desktop-id"
    assert (LINUX / launchable.text).is_file()
    assert "application/dicom" in [m.text for m in root.findall("provides/mediatype")]
    assert "medviewer" in [b.text for b in root.findall("provides/binary")]
    releases = [r.get("version") for r in root.findall("releases/release")]
    assert releases and releases[0] == medviewer.__version__  # newest first, this version


@pytest.mark.skipif(not shutil.which("appstreamcli"), reason="no appstream")
def test_metainfo_is_valid_for_appstreamcli():
    out = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(METAINFO)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


# -- MIME type ------------------------------------------------------------------------------------
def test_mime_package_maps_dcm_and_dicomdir_to_application_dicom(tmp_path):
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    root = ET.parse(MIME).getroot()
    types = {t.get("type"): t for t in root.findall("m:mime-type", ns)}
    dicom = types["application/dicom"]
    globs = {g.get("pattern") for g in dicom.findall("m:glob", ns)}
    assert {"*.dcm", "dicomdir"} <= globs  # globs are case-insensitive: DICOMDIR too
    match = dicom.find("m:magic/m:match", ns)
    assert (match.get("value"), match.get("offset")) == ("DICM", "128")
    if shutil.which("update-mime-database"):
        (tmp_path / "packages").mkdir()
        shutil.copy(MIME, tmp_path / "packages" / f"{APP_ID}.xml")
        subprocess.run(["update-mime-database", str(tmp_path)], check=True, capture_output=True)
        globs2 = (tmp_path / "globs2").read_text()
        assert "application/dicom:dicomdir" in globs2 and "application/dicom:*.dcm" in globs2


# -- icons ----------------------------------------------------------------------------------------
def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is no PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("size", ICON_SIZES)
def test_png_icons_have_their_sizes(size):
    assert png_size(ICONS / f"{size}x{size}" / "apps" / f"{APP_ID}.png") == (size, size)


def test_svg_icon_is_square_svg():
    root = ET.parse(ICONS / "scalable" / "apps" / f"{APP_ID}.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    _, _, w, h = (float(v) for v in root.get("viewBox").split())
    assert w == h > 0


# -- the PyInstaller spec -------------------------------------------------------------------------
def spec_strings() -> set[str]:
    tree = ast.parse(SPEC.read_text(encoding="utf-8"), str(SPEC))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
        elif isinstance(node, ast.JoinedStr):
            found.update(v.value for v in node.values if isinstance(v, ast.Constant))
    return found


def spec_calls() -> set[str]:
    tree = ast.parse(SPEC.read_text(encoding="utf-8"), str(SPEC))
    return {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }


def test_spec_compiles_as_python():
    compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec")


def test_spec_builds_a_one_folder_bundle_of_the_launcher():
    calls = spec_calls()
    assert {"Analysis", "PYZ", "EXE", "COLLECT"} <= calls
    strings = spec_strings()
    assert "medviewer_launcher.py" in strings and "_internal" in strings
    launcher = (PACKAGING / "medviewer_launcher.py").read_text(encoding="utf-8")
    assert "from medviewer.cli import main" in launcher and "freeze_support()" in launcher
    compile(launcher, "medviewer_launcher.py", "exec")


def test_spec_names_the_resources_and_models_it_must_ship():
    strings = spec_strings()
    for sub in ("sample/cranium-ct", "sample/cranium-ct-lesions", "style", "label_sets"):
        assert sub in strings, sub
        assert (REPO / "resources" / sub).is_dir(), sub
    assert "*/*/manifest.json" in strings and "models" in strings
    assert list((REPO / "models").glob("*/*/manifest.json")), "no model package to bundle"
    for name in ("README.md", "COPYRIGHT.debian", "LICENSE-GPL-2.txt"):
        assert (REPO / "resources" / "sample" / name).is_file(), name


def test_spec_collects_the_decoders_and_the_ai_stack():
    strings = spec_strings()
    calls = spec_calls()
    assert {"copy_metadata", "collect_submodules", "collect_entry_point"} <= calls
    for name in (
        "pylibjpeg",
        "libjpeg",
        "openjpeg",
        "rle",
        "gdcm",
        "_gdcm",
        "pylibjpeg-libjpeg",
        "pylibjpeg-openjpeg",
        "pylibjpeg-rle",
        "python-gdcm",
        "pylibjpeg.pixel_data_decoders",
        "pydicom.pixels.decoders.",
        "pytorch_grad_cam",
        "SimpleITK",
        "torchvision",
        "safetensors",
        "medviewer",
    ):
        assert name in strings, name
    # Every pylibjpeg entry-point group installed here is one the spec collects.
    from importlib.metadata import distributions

    groups = {
        ep.group
        for dist in distributions()
        for ep in dist.entry_points
        if ep.group.startswith("pylibjpeg.")
    }
    assert groups and groups <= strings, groups - strings
    # Qt: only the modules the app uses; the rest of PySide6-Essentials stays out.
    assert {"QtCore", "QtGui", "QtWidgets"} <= strings
    assert {"QtQml", "QtQuick", "QtNetwork", "QtWebEngineCore"} <= strings
    assert "triton" in strings


def test_spec_marks_windows_and_macos_as_not_built_here():
    text = SPEC.read_text(encoding="utf-8")
    assert "NOT built" in text and "org.medviewer.Medviewer" in spec_strings()
    for folder in ("windows", "macos"):
        notes = (PACKAGING / folder / "README.md").read_text(encoding="utf-8")
        assert "NOT built" in notes.splitlines()[0]
    assert (PACKAGING / "macos" / "entitlements.plist").is_file()


# -- the frozen build finds its files --------------------------------------------------------------
def test_a_frozen_build_finds_resources_and_models_in_the_bundle(tmp_path, monkeypatch):
    from medviewer.ai.registry import bundled_models_dir
    from medviewer.resources import install_root, resources_dir, sample_study_dir

    assert install_root() == REPO  # a source checkout: the folder above the package
    monkeypatch.delenv("MEDVIEWER_RESOURCES", raising=False)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert install_root() == tmp_path
    assert resources_dir() == tmp_path / "resources"
    assert sample_study_dir() == tmp_path / "resources" / "sample" / "cranium-ct"
    assert bundled_models_dir() == tmp_path / "models"
    monkeypatch.setenv("MEDVIEWER_MODELS", str(tmp_path / "elsewhere"))  # overrides still win
    monkeypatch.setenv("MEDVIEWER_RESOURCES", str(tmp_path / "res"))
    assert bundled_models_dir() == tmp_path / "elsewhere"
    assert resources_dir() == tmp_path / "res"


# -- the per-user installer -----------------------------------------------------------------------
def installer_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MEDVIEWER_", "XDG_")) and k != "PYTHONPATH"
    }
    env.update(HOME=str(home), **extra)
    return env


def run_installer(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(INSTALLER), *args],
        env=installer_env(home, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home with space"  # paths with spaces must survive the quoting
    h.mkdir()
    return h


def test_install_linux_venv_mode_then_uninstall_removes_everything(home):
    out = run_installer(home, "--venv", sys.prefix)
    assert out.returncode == 0, out.stdout + out.stderr
    share = home / ".local" / "share"
    launcher = home / ".local" / "bin" / "medviewer"
    desktop = share / "applications" / f"{APP_ID}.desktop"
    installed = files_under(home)
    for rel in (
        ".local/bin/medviewer",
        f".local/share/applications/{APP_ID}.desktop",
        f".local/share/icons/hicolor/scalable/apps/{APP_ID}.svg",
        f".local/share/mime/packages/{APP_ID}.xml",
        f".local/share/metainfo/{APP_ID}.metainfo.xml",
        ".local/share/medviewer/app/install-linux.sh",
        *(f".local/share/icons/hicolor/{n}x{n}/apps/{APP_ID}.png" for n in ICON_SIZES),
    ):
        assert rel in installed, rel
    # The command works and runs medviewer from that environment.
    version = subprocess.run(
        [str(launcher), "--version"],
        env=installer_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.stdout.strip() == f"medviewer {medviewer.__version__}", version.stderr
    # The menu entry starts that command with the files it is given.
    text = desktop.read_text(encoding="utf-8")
    assert f'Exec="{launcher}" gui %F' in text and f"TryExec={launcher}\n" in text
    assert desktop_problems(text) == []
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True)
        assert check.returncode == 0, check.stdout
    if shutil.which("update-desktop-database"):
        cache = (share / "applications" / "mimeinfo.cache").read_text()
        assert f"application/dicom={APP_ID}.desktop;" in cache
    if shutil.which("update-mime-database"):
        assert "application/dicom:dicomdir" in (share / "mime" / "globs2").read_text()

    # The user's data (labels, imported models) survives an uninstall ...
    labels = share / "medviewer" / "labels.sqlite"
    labels.write_bytes(b"labels")
    out = run_installer(home, "--uninstall")
    assert out.returncode == 0, out.stdout + out.stderr
    assert files_under(home) == {".local/share/medviewer/labels.sqlite"}
    assert "kept your labels" in out.stdout
    # ... unless it is purged, which leaves nothing at all.
    (home / ".config" / "medviewer").mkdir(parents=True)
    (home / ".config" / "medviewer" / "settings.json").write_text("{}")
    (home / ".local" / "state" / "medviewer" / "log").mkdir(parents=True)
    (home / ".local" / "state" / "medviewer" / "log" / "medviewer.log").write_text("log")
    out = run_installer(home, "--uninstall", "--purge")
    assert out.returncode == 0, out.stdout + out.stderr
    assert files_under(home) == set()
    assert not (home / ".local").exists()
    # Uninstalling what is not installed is fine too.
    assert run_installer(home, "--uninstall").returncode == 0


def test_install_linux_copies_resources_for_an_environment_without_them(home):
    # An environment whose medviewer has no resources/ beside it (a plain, non-editable
    # install) gets a copy, and the launcher points medviewer at it.
    out = run_installer(home, "--venv", sys.prefix, MEDVIEWER_RESOURCES=str(home / "nowhere"))
    assert out.returncode == 0, out.stdout + out.stderr
    app = home / ".local" / "share" / "medviewer" / "app"
    assert (app / "resources" / "style" / "dark.qss").is_file()
    assert (app / "resources" / "sample" / "cranium-ct").is_dir()
    assert list((app / "models").glob("*/*/manifest.json"))
    launcher = (home / ".local" / "bin" / "medviewer").read_text()
    assert f'MEDVIEWER_RESOURCES="${{MEDVIEWER_RESOURCES:-{app}/resources}}"' in launcher
    assert f'MEDVIEWER_MODELS="${{MEDVIEWER_MODELS:-{app}/models}}"' in launcher
    assert run_installer(home, "--uninstall").returncode == 0
    assert files_under(home) == set()


def test_install_linux_leaves_what_it_did_not_make(home):
    foreign = home / ".local" / "share" / "medviewer" / "app"
    foreign.mkdir(parents=True)
    (foreign / "precious.txt").write_text("not ours")
    out = run_installer(home, "--venv", sys.prefix)
    assert out.returncode != 0 and "not made by this script" in out.stderr
    assert (foreign / "precious.txt").read_text() == "not ours"
    other = home / ".local" / "bin" / "medviewer"
    other.parent.mkdir(parents=True)
    other.write_text("#!/bin/sh\necho another medviewer\n")
    shutil.rmtree(foreign)
    assert run_installer(home, "--uninstall").returncode == 0
    assert other.read_text() == "#!/bin/sh\necho another medviewer\n"


def test_install_linux_rejects_bad_arguments(home):
    assert run_installer(home, "--bogus").returncode != 0
    assert run_installer(home, "--purge").returncode != 0  # only with --uninstall
    assert run_installer(home, "--bundle", str(home)).returncode != 0  # not a bundle
    assert "--uninstall" in run_installer(home, "--help").stdout
    assert files_under(home) == set()
