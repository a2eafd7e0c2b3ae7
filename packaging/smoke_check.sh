#!/bin/sh
# Smoke check of the one-folder build (run by `make package`; not part of `make test`).
#
#   packaging/smoke_check.sh [APP_FOLDER] [PYTHON]
#
# APP_FOLDER defaults to dist/faceedit. PYTHON (default .venv/bin/python) only makes the
# tiny random model the check edits with; the build itself runs with a bare environment:
# no PYTHONPATH, a temporary HOME, PATH without any Python, so it must stand on its own.
# It checks `faceedit --version`, a headless `faceedit edit` of the bundled sample photo,
# that the window comes up offscreen (its log says so, in the platform's log folder), and
# prints the build's size and start-up times.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
app=$(cd "${1:-$here/../dist/faceedit}" && pwd)
python=${2:-$here/../.venv/bin/python}
exe=$app/faceedit
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "smoke check FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# The frozen program with nothing from this machine's Python: only system folders on PATH.
bare() { env -i HOME="$work/home" PATH=/usr/bin:/bin LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen "$@"; }

[ -x "$exe" ] || fail "$exe not found; build it with 'make package'"
sample=$(find "$app" -path '*faceedit/resources/sample/sample.jpg' | head -n 1)
[ -n "$sample" ] || fail "the sample photo is not in the build"
for dat in shape_predictor_68_face_landmarks.dat dlib_face_recognition_resnet_model_v1.dat; do
    [ -n "$(find "$app" -name "$dat" | head -n 1)" ] || fail "dlib's $dat is not in the build"
done
mkdir -p "$work/home"

echo "== faceedit --version"
start=$(now)
version=$(bare "$exe" --version) || fail "--version exited with an error"
version_s=$(elapsed "$start" "$(now)")
echo "$version (${version_s} s, first run)"
start=$(now)
bare "$exe" --version >/dev/null
version_warm_s=$(elapsed "$start" "$(now)")
case $version in "faceedit "*) ;; *) fail "unexpected --version output: $version";; esac

echo "== faceedit edit (headless, tiny random model)"
"$python" - "$work/tiny.pt" <<'EOF'
import sys

import torch

from faceedit.core.models.file import Provenance, save_model
from faceedit.core.models.exprgan import ExprGANConfig, Generator

torch.manual_seed(0)
save_model(sys.argv[1], Generator(ExprGANConfig(image_size=64, width=0.25)),
           provenance=Provenance(data="random weights for the smoke check", steps=0))
EOF
start=$(now)
bare "$exe" edit "$sample" -o "$work/edited.jpg" --model "$work/tiny.pt" --happiness 1.0 \
    || fail "faceedit edit exited with an error"
edit_s=$(elapsed "$start" "$(now)")
[ -s "$work/edited.jpg" ] || fail "faceedit edit wrote no photo"
echo "edited the sample photo in ${edit_s} s"

echo "== faceedit gui (offscreen)"
log=$work/home/.local/state/faceedit/log/faceedit.log
start=$(now)
bare "$exe" gui "$sample" --model "$work/tiny.pt" > "$work/gui.out" 2>&1 &
gui=$!
shown=""
for _ in $(seq 1 600); do  # up to 60 s
    if grep -q "window shown" "$log" 2>/dev/null; then shown=$(now); break; fi
    kill -0 "$gui" 2>/dev/null || break
    sleep 0.1
done
kill "$gui" 2>/dev/null || true
wait "$gui" 2>/dev/null || true
if [ -z "$shown" ]; then
    cat "$work/gui.out" >&2
    [ -f "$log" ] && cat "$log" >&2
    fail "the window did not come up (no 'window shown' in $log)"
fi
window_s=$(elapsed "$start" "$shown")
echo "window shown ${window_s} s after launch; log in \$HOME/.local/state/faceedit/log as expected"

echo "== summary"
size=$(du -sh "$app" | cut -f1)
echo "build:            $app"
echo "size:             $size"
echo "--version:        ${version_s} s first run, ${version_warm_s} s second"
echo "headless edit:    ${edit_s} s (sample photo, tiny model, includes start-up)"
echo "window (offscreen): ${window_s} s to shown"
echo "smoke check passed"
