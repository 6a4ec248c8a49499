#!/usr/bin/env bash
# Makes docs/desktop-window.png: chatapp as a desktop shows it (window manager title bar and a taskbar,
# both showing the icon the app sets), on a virtual X screen. Also prints the window's WM_CLASS, which the
# menu entry's StartupWMClass must match. Needs (Debian): xvfb openbox tint2 xdotool imagemagick x11-utils
# and Qt's xcb libraries (docs: /work/shared/ENVIRONMENT.md lists them).
# Usage: tools/desktop_screenshot.sh [OUT.png]   (run from the checkout, after `make install`)
set -euo pipefail
out=${1:-docs/desktop-window.png}
n=90; while [ -e /tmp/.X11-unix/X$n ] || [ -e /tmp/.X$n-lock ]; do n=$((n + 1)); done; display=:$n   # a free one
work=$(mktemp -d)
Xvfb "$display" -screen 0 1280x820x24 -nolisten tcp & xvfb=$!
app= panel= wm=
# chatapp first (SIGTERM closes it like its window), then the desktop around it.
stop() { [ -n "$app" ] && kill "$app" 2>/dev/null && wait "$app" 2>/dev/null; kill $panel $wm $xvfb 2>/dev/null; rm -rf "$work"; }
trap 'stop || true' EXIT
export DISPLAY=$display
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.2; done
openbox & wm=$!
tint2 >/dev/null 2>&1 & panel=$!
HF_HUB_OFFLINE=1 .venv/bin/chatapp --data-dir "$work/data" & app=$!
window=$(xdotool search --sync --onlyvisible --pid "$app" | head -1)
xdotool windowsize "$window" 1180 720 windowmove "$window" 40 20
sleep 8   # the model loads after the first paint
xdotool windowactivate --sync "$window" type --delay 20 "/image a red circle on a blue background"
xdotool key Return
sleep 10
xdotool type --delay 20 "Say hello in five words."
xdotool key Return
sleep 10
echo "WM_CLASS of the window: $(xprop -id "$window" WM_CLASS | cut -d= -f2)"
import -window root "$out"
echo "wrote $out"
