#!/usr/bin/env bash
# Install the Debian packages Qt 6 needs for a real or virtual (Xvfb) display, and the
# freedesktop validators the packaging tests use, and the PACS and DICOM validators the
# network tests use.
# Runs only as root on a Debian-like system and only installs what is missing; otherwise it
# prints what to install and exits 0 (a developer machine usually has them already).
set -euo pipefail

PACKAGES=(
  xvfb xauth               # virtual display for `make run` on a headless machine and screenshots
  libegl1 libgl1 libopengl0 # OpenGL / EGL that QtGui links against
  libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0
  libxcb1 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0
  libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1 libxcb-cursor0 libxcb-shm0
  libxcb-sync1 libxcb-render0 libx11-xcb1 libxrender1 libxi6
  # tests/test_packaging.py validates the desktop entry, AppStream metadata and MIME type with
  # the freedesktop tools when they are installed (and does its own checks when not)
  desktop-file-utils appstream shared-mime-info
  # the hospital-network tests (tests/net): a real PACS that the tests start on 127.0.0.1 with
  # free ports (its service is not used), dicom3tools' dciodvfy and dcmtk's dsrdump / getscu
  # to validate and read back the DICOM objects medviewer writes
  orthanc dicom3tools dcmtk
)

if ! command -v dpkg >/dev/null 2>&1; then
  echo "install-debian-deps: not a Debian system; make sure Qt 6's xcb libraries are installed"
  exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-debian-deps: missing ${missing[*]}; run 'sudo apt-get install -y ${missing[*]}'"
  exit 0
fi
echo "install-debian-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
