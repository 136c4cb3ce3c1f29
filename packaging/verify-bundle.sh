#!/usr/bin/env bash
# Check a frozen bundle (default dist/medviewer) the way a reading-room machine would use it:
# the command line, the DICOM decoders, the bundled model (inference and Grad-CAM), the
# viewer on an offscreen and on a virtual X display, and `medviewer selftest` when the build
# has it. Runs with a throw-away HOME so nothing of the user's is read or written, and
# without network (nothing here needs it). `make package` runs it after building.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
B="$(cd "${1:-$here/../dist/medviewer}" && pwd)" || { echo "verify-bundle: no bundle" >&2; exit 1; }
EXE="$B/medviewer"
DATA="$B/_internal"
SAMPLE="$DATA/resources/sample/cranium-ct"
LESIONS="$DATA/resources/sample/cranium-ct-lesions"
PY="$(command -v python3 || true)"  # any Python 3, only to read JSON (never the bundle's)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share"
export XDG_CONFIG_HOME="$work/home/.config" XDG_CACHE_HOME="$work/home/.cache"
export MEDVIEWER_NO_WARMUP=1
unset MEDVIEWER_RESOURCES MEDVIEWER_MODELS MEDVIEWER_DATA_DIR MEDVIEWER_CONFIG_DIR
mkdir -p "$HOME"
failures=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
json_check() {  # json_check FILE PYTHON-EXPRESSION-ON-d: fails when false
  [ -n "$PY" ] || { echo "     (no python3 to read $1; only its exit status was checked)"; return 0; }
  "$PY" - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2], {"d": d})
sys.exit(0 if ok else 1)
EOF
}

[ -x "$EXE" ] || { echo "verify-bundle: $EXE is missing (make package)" >&2; exit 1; }
echo "verify-bundle: $B ($(du -sh "$B" | cut -f1))"

if "$EXE" --help >"$work/help" 2>&1 && grep -q "inspect" "$work/help"; then
  pass "medviewer --help"
else
  fail "medviewer --help"; cat "$work/help"
fi

for f in "$DATA/models/headct-lesions/1.0.0/manifest.json" "$DATA/resources/style/dark.qss" \
  "$DATA/resources/label_sets/headct-lesions.json" "$DATA/_gdcm/XML/Part3.xml" "$SAMPLE"; do
  [ -e "$f" ] || fail "missing in the bundle: ${f#"$B"/}"
done
for mod in _libjpeg _openjpeg rle/rle _gdcm/_gdcmswig; do  # the decoders' extension modules
  ls "$DATA/$mod"*.so >/dev/null 2>&1 || fail "decoder extension $mod not collected"
done
for dist in pylibjpeg_libjpeg pylibjpeg_openjpeg pylibjpeg_rle; do
  ls -d "$DATA/$dist"-*.dist-info >/dev/null 2>&1 \
    || fail "$dist metadata (entry points) not collected"
done

# JPEG 2000 lossless sample: inspect needs a decoder that says it is available; convert decodes
# every slice through pydicom -> pylibjpeg -> openjpeg (found through entry points).
if "$EXE" inspect "$SAMPLE" --json >"$work/inspect.json" 2>"$work/err" \
  && json_check "$work/inspect.json" \
    'len(d["studies"]) == 1 and not d["skipped"] and d["studies"][0]["series"][0]["shape"] == [108, 256, 256] and not d["studies"][0]["series"][0]["warnings"]'; then
  pass "medviewer inspect (108 JPEG 2000 slices, nothing skipped)"
else
  fail "medviewer inspect"; cat "$work/err"; head -c 2000 "$work/inspect.json"
fi
if "$EXE" convert "$SAMPLE" -o "$work/ct.npy" 2>"$work/err" && [ -s "$work/ct.npy" ]; then
  pass "medviewer convert (every slice decoded, $(stat -c %s "$work/ct.npy") bytes)"
else
  fail "medviewer convert"; cat "$work/err"
fi
if "$EXE" convert "$SAMPLE" -o "$work/ct.nii.gz" 2>"$work/err" && [ -s "$work/ct.nii.gz" ]; then
  pass "medviewer convert to NIfTI (SimpleITK)"
else
  fail "medviewer convert to NIfTI"; cat "$work/err"
fi

# Every compressed transfer syntax medviewer lists, decoded by the bundle exactly as by the
# source tree's environment (its pydicom-data test files), when that environment is here.
ref="$here/../.venv/bin/medviewer"
REF_PY="$here/../.venv/bin/python"
if [ -x "$ref" ] && "$REF_PY" -c "import pydicom.data" 2>/dev/null; then
  for name in JPEG-LL.dcm JPGExtended.dcm SC_rgb_jpeg_dcmtk.dcm MR_small_jpeg_ls_lossless.dcm \
    MR_small_RLE.dcm emri_small_RLE.dcm emri_small_jpeg_2k_lossless.dcm JPEG2000.dcm; do
    src="$("$REF_PY" -c "from pydicom.data import get_testdata_file as g; print(g('$name') or '')")"
    [ -n "$src" ] || { echo "SKIP $name: not in pydicom-data"; continue; }
    ts="$("$REF_PY" -c "import pydicom; print(pydicom.dcmread('$src', stop_before_pixels=True).file_meta.TransferSyntaxUID.name)")"
    if "$EXE" convert "$src" -o "$work/frozen.npy" >/dev/null 2>"$work/err" \
      && "$ref" convert "$src" -o "$work/ref.npy" >/dev/null 2>&1 \
      && cmp -s "$work/frozen.npy" "$work/ref.npy"; then
      pass "decode $ts ($name): same voxels as the .venv"
    else
      fail "decode $ts ($name)"; cat "$work/err"
    fi
  done
fi

# The bundled model on the lesion study, on the CPU (this machine has no GPU; "auto" falls back).
if "$EXE" infer "$LESIONS" --json >"$work/infer.json" 2>"$work/err" \
  && json_check "$work/infer.json" \
    'd["model"]["name"] == "headct-lesions" and len(d["slices"]) == 44 and all(abs(sum(s["probabilities"].values()) - 1) < 1e-4 for s in d["slices"]) and d["series"]["probabilities"]'; then
  pass "medviewer infer --json (device $(grep -o '"device": "[a-z]*"' "$work/infer.json"))"
else
  fail "medviewer infer"; cat "$work/err"; head -c 2000 "$work/infer.json"
fi
# The same numbers as the source tree's environment, when there is one beside the bundle.
if [ -x "$ref" ] && [ -n "$PY" ] && "$ref" infer "$LESIONS" --json --device cpu >"$work/ref.json" 2>/dev/null; then
  if "$PY" - "$work/infer.json" "$work/ref.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
diff = max(abs(pa[c] - pb[c]) for sa, sb in zip(a["slices"], b["slices"])
           for pa, pb in [(sa["probabilities"], sb["probabilities"])] for c in pa)
print(f"     largest probability difference frozen vs .venv: {diff:.2e}")
sys.exit(0 if diff < 1e-4 and len(a["slices"]) == len(b["slices"]) else 1)
EOF
  then pass "frozen inference matches the .venv's"; else fail "frozen inference differs from the .venv's"; fi
fi
if "$EXE" explain "$LESIONS" --slice 8 --method gradcam -o "$work/cam.npy" >"$work/out" 2>"$work/err" \
  && [ "$(stat -c %s "$work/cam.npy")" -ge $((256 * 256 * 4)) ]; then
  pass "medviewer explain --method gradcam (pytorch-grad-cam)"
else
  fail "medviewer explain"; cat "$work/out" "$work/err"
fi

# The viewer: offscreen, then on a virtual X display (the xcb plug-in and its libraries). It
# must still be running after 20 s (timeout's exit 124) and print no traceback. --foreground:
# timeout signals only the viewer, never its own process group (which, run from make, could
# take timeout itself down with exit 143 instead of 124).
gui_check() {  # gui_check LABEL COMMAND...
  local label="$1"; shift
  "$@" >"$work/gui" 2>&1; local rc=$?
  if [ "$rc" -eq 124 ] && ! grep -qiE "traceback|could not load the qt platform|error" "$work/gui"; then
    pass "$label"
  else
    fail "$label (exit $rc)"; tail -n 30 "$work/gui"
  fi
}
gui_check "medviewer gui, offscreen, 20 s" \
  env QT_QPA_PLATFORM=offscreen timeout --foreground 20 "$EXE" gui "$SAMPLE"
if command -v xvfb-run >/dev/null 2>&1; then
  gui_check "medviewer gui on Xvfb (xcb), 20 s" env -u QT_QPA_PLATFORM \
    xvfb-run -a -s "-screen 0 1280x900x24" timeout --foreground 20 "$EXE" gui "$SAMPLE"
fi

if grep -q "selftest" "$work/help"; then
  if QT_QPA_PLATFORM=offscreen timeout 600 "$EXE" selftest >"$work/selftest" 2>&1; then
    pass "medviewer selftest"; tail -n 40 "$work/selftest"
  else
    fail "medviewer selftest (exit $?)"; tail -n 60 "$work/selftest"
  fi
else
  echo "SKIP medviewer selftest: this build has no selftest command"
fi

if [ "$failures" -eq 0 ]; then
  echo "verify-bundle: all checks passed"
else
  echo "verify-bundle: $failures check(s) failed"
  exit 1
fi
