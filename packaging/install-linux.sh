#!/usr/bin/env bash
# Per-user install of medviewer on Linux, without root: the program, a `medviewer` command, a
# menu entry, icons and the DICOM file association. See packaging/README.md.
#
#   install-linux.sh                  # the bundle (dist/medviewer, or the one this script is in);
#                                     # without a bundle: a virtual environment (see --venv)
#   install-linux.sh --bundle DIR     # this PyInstaller one-folder bundle
#   install-linux.sh --venv DIR       # use this Python environment, where medviewer is installed
#   install-linux.sh --new-venv       # make ~/.local/share/medviewer/app/venv and pip-install
#                                     # this source tree into it (PyPI or $MEDVIEWER_PIP_ARGS)
#   install-linux.sh --uninstall      # remove all of the above; keeps your labels and models
#   install-linux.sh --uninstall --purge   # ... and your labels, models and settings too
#
# Where things go ($XDG_DATA_HOME defaults to ~/.local/share):
#   $XDG_DATA_HOME/medviewer/app/         the program (the bundle, or the venv-mode files)
#   ~/.local/bin/medviewer                the command (a small launcher script)
#   $XDG_DATA_HOME/applications/          org.medviewer.Medviewer.desktop
#   $XDG_DATA_HOME/icons/hicolor/         the icons (SVG and 16..256 px PNGs)
#   $XDG_DATA_HOME/mime/packages/         application/dicom (*.dcm, DICOMDIR)
#   $XDG_DATA_HOME/metainfo/              AppStream metadata
# medviewer keeps its user data (labels.sqlite, imported models, active_models.json) in
# $XDG_DATA_HOME/medviewer, its settings in ${XDG_CONFIG_HOME:-~/.config}/medviewer and its log
# in ${XDG_STATE_HOME:-~/.local/state}/medviewer/log: an uninstall leaves them unless --purge.
set -euo pipefail

APP_ID="org.medviewer.Medviewer"
MARKER="# medviewer launcher written by install-linux.sh"
ICON_SIZES=(16 32 48 64 128 256)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
say() { echo "install-linux: $*"; }
die() { echo "install-linux: $*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

mode="" bundle="" venv="" uninstall=0 purge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) [ $# -ge 2 ] || die "--bundle needs a folder"; mode=bundle; bundle="$2"; shift ;;
    --venv) [ $# -ge 2 ] || die "--venv needs a folder"; mode=venv; venv="$2"; shift ;;
    --new-venv) mode=new-venv ;;
    --uninstall) uninstall=1 ;;
    --purge) purge=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
[ "$purge" -eq 0 ] || [ "$uninstall" -eq 1 ] || die "--purge only goes with --uninstall"
[ -n "${HOME:-}" ] || die "HOME is not set"

DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
CONFIG_HOME="${XDG_CONFIG_HOME:-$HOME/.config}"
STATE_HOME="${XDG_STATE_HOME:-$HOME/.local/state}"
USER_DATA="$DATA_HOME/medviewer"
APP_DIR="$USER_DATA/app"
BIN_DIR="$HOME/.local/bin"
LAUNCHER="$BIN_DIR/medviewer"
DESKTOP_DIR="$DATA_HOME/applications"
ICON_DIR="$DATA_HOME/icons/hicolor"
MIME_DIR="$DATA_HOME/mime"
METAINFO_DIR="$DATA_HOME/metainfo"

# The desktop files: packaging/linux beside this script (in the source tree and in a bundle
# made by `make package`, which copies them next to the executable).
LINUX_FILES="$here/linux"

update_databases() {
  if command -v update-desktop-database >/dev/null 2>&1 && [ -d "$DESKTOP_DIR" ]; then
    update-desktop-database -q "$DESKTOP_DIR" || say "update-desktop-database failed (ignored)"
  fi
  if command -v update-mime-database >/dev/null 2>&1 && [ -d "$MIME_DIR/packages" ]; then
    update-mime-database "$MIME_DIR" >/dev/null 2>&1 || say "update-mime-database failed (ignored)"
  fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -d "$ICON_DIR" ]; then
    gtk-update-icon-cache -q -f -t "$ICON_DIR" >/dev/null 2>&1 || true
  fi
}

# rmdir each folder (deepest first) if it is empty; never fails.
prune_empty() {
  local d
  for d in "$@"; do
    [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
  done
}

remove_installed() {
  # The launcher only if it is ours (a medviewer command of another origin stays).
  if [ -f "$LAUNCHER" ] && grep -qF "$MARKER" "$LAUNCHER"; then
    rm -f "$LAUNCHER"
  elif [ -e "$LAUNCHER" ]; then
    say "left $LAUNCHER alone: it was not written by this script"
  fi
  rm -f "$DESKTOP_DIR/$APP_ID.desktop" "$MIME_DIR/packages/$APP_ID.xml" \
    "$METAINFO_DIR/$APP_ID.metainfo.xml" "$ICON_DIR/scalable/apps/$APP_ID.svg"
  local n
  for n in "${ICON_SIZES[@]}"; do
    rm -f "$ICON_DIR/${n}x${n}/apps/$APP_ID.png"
  done
  if [ -d "$APP_DIR" ]; then
    [ -f "$APP_DIR/.installed-by-install-linux" ] \
      || die "$APP_DIR exists but was not made by this script; remove it by hand"
    rm -rf "$APP_DIR"
  fi
}

# What the databases derive from our files goes too when nothing else is left to describe.
clean_derived() {
  if [ -d "$MIME_DIR" ] && [ -z "$(ls -A "$MIME_DIR/packages" 2>/dev/null)" ]; then
    rm -rf "$MIME_DIR"  # only generated files remain (they describe packages/, now empty)
  fi
  if [ -d "$DESKTOP_DIR" ] && ! ls "$DESKTOP_DIR"/*.desktop >/dev/null 2>&1; then
    rm -f "$DESKTOP_DIR/mimeinfo.cache"
  fi
  if [ -d "$ICON_DIR" ] && [ -z "$(find "$ICON_DIR" -type f ! -name icon-theme.cache)" ]; then
    rm -f "$ICON_DIR/icon-theme.cache"
  fi
  local dirs=() n
  for n in "${ICON_SIZES[@]}"; do
    dirs+=("$ICON_DIR/${n}x${n}/apps" "$ICON_DIR/${n}x${n}")
  done
  prune_empty "${dirs[@]}" "$ICON_DIR/scalable/apps" "$ICON_DIR/scalable" "$ICON_DIR" \
    "$DATA_HOME/icons" "$DESKTOP_DIR" "$METAINFO_DIR" "$USER_DATA" "$BIN_DIR" \
    "$DATA_HOME" "$STATE_HOME" "$HOME/.local"
}

if [ "$uninstall" -eq 1 ]; then
  remove_installed
  update_databases
  if [ "$purge" -eq 1 ]; then
    rm -rf "$USER_DATA" "$CONFIG_HOME/medviewer" "$STATE_HOME/medviewer"
    say "removed your labels, imported models, settings and logs ($USER_DATA," \
      "$CONFIG_HOME/medviewer, $STATE_HOME/medviewer)"
  elif [ -n "$(ls -A "$USER_DATA" 2>/dev/null)" ]; then
    say "kept your labels and imported models in $USER_DATA (--uninstall --purge removes them)"
  fi
  clean_derived
  say "medviewer removed"
  exit 0
fi

[ -f "$LINUX_FILES/$APP_ID.desktop" ] || die "missing $LINUX_FILES/$APP_ID.desktop"

# -- which program to install -------------------------------------------------------------------
is_bundle() { [ -x "$1/medviewer" ] && [ -d "$1/_internal" ]; }
if [ -z "$mode" ]; then
  if is_bundle "$here"; then
    mode=bundle bundle="$here"
  elif is_bundle "$here/../dist/medviewer"; then
    mode=bundle bundle="$here/../dist/medviewer"
  elif [ -x "$here/../.venv/bin/python" ]; then
    mode=venv venv="$(cd "$here/../.venv" && pwd)"
    say "no bundle (make package builds one): using the environment $venv"
  else
    mode=new-venv
  fi
fi

python_finds() {  # python_finds PYTHON EXPR: prints EXPR evaluated in medviewer's environment
  "$1" -c "import medviewer.resources as r; print($2)" 2>/dev/null
}

# Check what is to be installed before anything is changed.
case "$mode" in
  bundle)
    [ -d "$bundle" ] && bundle="$(cd "$bundle" && pwd)"
    is_bundle "$bundle" || die "$bundle is not a medviewer bundle (no medviewer + _internal)"
    ;;
  venv)
    [ -x "$venv/bin/python" ] || die "$venv has no bin/python"
    venv="$(cd "$venv" && pwd)"
    "$venv/bin/python" -c "import medviewer" 2>/dev/null || die "medviewer is not installed in $venv"
    ;;
  new-venv)
    [ -f "$here/../pyproject.toml" ] || die "no bundle and no source tree to install from"
    command -v python3 >/dev/null || die "python3 (3.11 or 3.12) is needed to make a venv"
    ;;
esac
if [ "$here" -ef "$APP_DIR" ] || { [ "$mode" = bundle ] && [ "$bundle" -ef "$APP_DIR" ]; }; then
  die "this is the installed copy: install from the bundle or source tree you unpacked"
fi
remove_installed  # a previous install of any kind
mkdir -p "$APP_DIR" "$BIN_DIR"
: >"$APP_DIR/.installed-by-install-linux"
# A copy of this installer, so that `$APP_DIR/install-linux.sh --uninstall` always works.
cp "${BASH_SOURCE[0]}" "$APP_DIR/install-linux.sh"
cp -r "$LINUX_FILES" "$APP_DIR/linux"
rm -f "$APP_DIR/linux/render-icons.sh"
env_lines=""
case "$mode" in
  bundle)
    say "copying the bundle $bundle ($(du -sh "$bundle" | cut -f1)) to $APP_DIR"
    cp -a "$bundle/medviewer" "$bundle/_internal" "$APP_DIR/"
    target="$APP_DIR/medviewer"
    "$target" --version >/dev/null || die "the copied bundle does not start: $target --version"
    ;;
  venv|new-venv)
    if [ "$mode" = new-venv ]; then
      venv="$APP_DIR/venv"
      say "making $venv and installing medviewer into it (PyTorch alone is ~5 GB)"
      python3 -m venv "$venv"
      # shellcheck disable=SC2086  # extra pip options, e.g. --no-index --find-links /wheels
      "$venv/bin/python" -m pip install --quiet ${MEDVIEWER_PIP_ARGS:-} "$here/.."
    fi
    py="$venv/bin/python"
    "$py" -c "import medviewer" 2>/dev/null || die "medviewer did not install into $venv"
    # An editable install finds resources/ and models/ in its source tree; a plain one has
    # no copy of them: give it this tree's, and point the launcher at them.
    if [ "$(python_finds "$py" "r.resources_dir().joinpath('style').is_dir()")" != True ]; then
      [ -d "$here/../resources" ] || die "no resources/ to copy for $venv"
      say "copying resources/ and the model packages to $APP_DIR"
      mkdir -p "$APP_DIR/resources" "$APP_DIR/models"
      cp -a "$here/../resources/sample" "$here/../resources/style" \
        "$here/../resources/label_sets" "$APP_DIR/resources/"
      for manifest in "$here"/../models/*/*/manifest.json; do
        pkg="$(dirname "$manifest")"
        mkdir -p "$APP_DIR/models/$(basename "$(dirname "$pkg")")"
        cp -a "$pkg" "$APP_DIR/models/$(basename "$(dirname "$pkg")")/"
      done
      env_lines="export MEDVIEWER_RESOURCES=\"\${MEDVIEWER_RESOURCES:-$APP_DIR/resources}\"
export MEDVIEWER_MODELS=\"\${MEDVIEWER_MODELS:-$APP_DIR/models}\""
    fi
    target="$py"
    ;;
esac

# -- the command ---------------------------------------------------------------------------------
{
  echo "#!/bin/sh"
  echo "$MARKER ($mode mode); remove with install-linux.sh --uninstall"
  [ -z "$env_lines" ] || echo "$env_lines"
  if [ "$mode" = bundle ]; then
    echo "exec \"$target\" \"\$@\""
  else
    echo "exec \"$target\" -m medviewer \"\$@\""
  fi
} >"$LAUNCHER"
chmod 755 "$LAUNCHER"

# -- menu entry, icons, file types ---------------------------------------------------------------
mkdir -p "$DESKTOP_DIR" "$MIME_DIR/packages" "$METAINFO_DIR" "$ICON_DIR/scalable/apps"
# Exec/TryExec: the launcher's absolute path. In Exec it is quoted as the Desktop Entry spec
# asks (inside double quotes, \ " ` $ get a backslash), then, like every string value, each
# backslash is doubled; sed_text makes either safe as a sed replacement.
sed_text() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
exec_arg="\"$(printf '%s' "$LAUNCHER" | sed -e 's/[\\"`$]/\\&/g' -e 's/\\/\\\\/g')\""
try_exec="$(printf '%s' "$LAUNCHER" | sed -e 's/\\/\\\\/g')"
sed -e "s|^TryExec=.*|TryExec=$(sed_text "$try_exec")|" \
  -e "s|^Exec=medviewer |Exec=$(sed_text "$exec_arg") |" \
  -e '/^# install-linux.sh rewrites/d' \
  "$LINUX_FILES/$APP_ID.desktop" >"$DESKTOP_DIR/$APP_ID.desktop"
cp "$LINUX_FILES/icons/hicolor/scalable/apps/$APP_ID.svg" "$ICON_DIR/scalable/apps/"
for n in "${ICON_SIZES[@]}"; do
  mkdir -p "$ICON_DIR/${n}x${n}/apps"
  cp "$LINUX_FILES/icons/hicolor/${n}x${n}/apps/$APP_ID.png" "$ICON_DIR/${n}x${n}/apps/"
done
cp "$LINUX_FILES/$APP_ID.mime.xml" "$MIME_DIR/packages/$APP_ID.xml"
cp "$LINUX_FILES/$APP_ID.metainfo.xml" "$METAINFO_DIR/"
update_databases

say "installed medviewer ($mode mode): $LAUNCHER"
case ":${PATH:-}:" in
  *":$BIN_DIR:"*) ;;
  *) say "note: $BIN_DIR is not on your PATH; the menu entry works regardless" ;;
esac
