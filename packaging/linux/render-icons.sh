#!/usr/bin/env bash
# Render the PNG icons from the SVG (run after editing the SVG; the PNGs are committed, so
# building and installing never need a renderer). Needs rsvg-convert (Debian: librsvg2-bin).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
svg="$here/icons/hicolor/scalable/apps/org.medviewer.Medviewer.svg"
command -v rsvg-convert >/dev/null || { echo "render-icons: install librsvg2-bin" >&2; exit 1; }
for n in 16 32 48 64 128 256; do
  out="$here/icons/hicolor/${n}x${n}/apps/org.medviewer.Medviewer.png"
  mkdir -p "$(dirname "$out")"
  rsvg-convert --width "$n" --height "$n" --keep-aspect-ratio --format png -o "$out" "$svg"
  echo "render-icons: $out"
done
