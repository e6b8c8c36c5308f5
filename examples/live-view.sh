#!/usr/bin/env bash
# Plays a file with AI upscaling on the fly: playbin with `aiupscale` as its video filter.
#
#   examples/live-view.sh [INPUT] [SCALE] [MODEL]
#
#   INPUT  a file path or URI (default: .deps/media/video/carphone_distorted.mp4)
#   SCALE  1..16 (default: 2)
#   MODEL  catalog name or .onnx path (default: the catalog's video model for SCALE;
#          anime4k-x2-s-rl keeps up with real time on a CPU where the default may not:
#          late frames are dropped by QoS rather than slowing playback)
#
# VIDEO_SINK / AUDIO_SINK override the sinks (e.g. VIDEO_SINK=fakesink on a machine
# without a display).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
in=${1:-$ROOT/.deps/media/video/carphone_distorted.mp4}
scale=${2:-2}
model=${3:-}
case $in in
  *://*) uri=$in ;;
  *) [ -f "$in" ] || { echo "live-view.sh: $in not found" >&2; exit 1; }
     uri=file://$(realpath "$in") ;;
esac

if ! gst-inspect-1.0 aiupscale >/dev/null 2>&1; then
  for dir in "$ROOT/target/release" "$ROOT/target/debug"; do
    if [ -f "$dir/libgstaiupscale.so" ]; then export GST_PLUGIN_PATH=$dir${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}; break; fi
  done
fi

sinks=()
[ -n "${VIDEO_SINK:-}" ] && sinks+=("video-sink=$VIDEO_SINK")
[ -n "${AUDIO_SINK:-}" ] && sinks+=("audio-sink=$AUDIO_SINK")
exec gst-launch-1.0 playbin uri="$uri" video-filter="aiupscale scale=$scale${model:+ model=$model}" "${sinks[@]}"
