#!/usr/bin/env bash
# Camcorder footage -> deinterlaced, AI-upscaled H.264 (+ AAC audio when the input has
# any) in an MP4, with the GStreamer element `aiupscale`.
#
#   examples/camcorder.sh [INPUT] [OUTPUT] [SCALE] [MODEL]
#
#   INPUT   any file decodebin can read   (default: .deps/media/video/carphone_distorted.mp4,
#           a real degraded camcorder-class recording)
#   OUTPUT  MP4 to write                  (default: out/<input name>_x<SCALE>.mp4)
#   SCALE   1..16, any factor             (default: 2)
#   MODEL   catalog name or .onnx path    (default: the catalog's video model for SCALE,
#           realesr-animevideov3-x2 for 2; anime4k-x2-s-rl is much faster)
#   DENOISE=0.5 TEMPORAL=0.8 (environment): the element's denoise and temporal
#           stabilisation; tape noise flickers less and is not sharpened into "detail".
#
# `deinterlace` only touches interlaced input (DV/HDV camcorders); progressive video
# passes through it unchanged. Needs the element installed (scripts/install-gst-plugin)
# or a build in target/ (then GST_PLUGIN_PATH is set here), and the model fetched
# (`aiupscale models fetch NAME`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
in=${1:-$ROOT/.deps/media/video/carphone_distorted.mp4}
scale=${3:-2}
model=${4:-}
denoise=${DENOISE:-0.5}
temporal=${TEMPORAL:-0.8}
base=$(basename "${in%.*}")
out=${2:-$ROOT/out/${base}_x${scale}.mp4}
[ -f "$in" ] || { echo "camcorder.sh: $in not found (scripts/setup fetches the sample media)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"

# Use this checkout's build when the element is not installed.
if ! gst-inspect-1.0 aiupscale >/dev/null 2>&1; then
  for dir in "$ROOT/target/release" "$ROOT/target/debug"; do
    if [ -f "$dir/libgstaiupscale.so" ]; then export GST_PLUGIN_PATH=$dir${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}; break; fi
  done
fi

has_audio=0
if command -v ffprobe >/dev/null; then
  ffprobe -v error -select_streams a -show_entries stream=index -of csv=p=0 "$in" | grep -q . && has_audio=1
elif command -v gst-discoverer-1.0 >/dev/null; then
  gst-discoverer-1.0 "$in" | grep -qi "audio:" && has_audio=1
fi

video="d. ! video/x-raw ! queue ! videoconvert ! deinterlace \
  ! aiupscale scale=$scale denoise=$denoise temporal=$temporal ${model:+model=$model} ! videoconvert \
  ! x264enc speed-preset=medium ! h264parse ! queue ! mux."
audio=""
if ((has_audio)); then
  audio="d. ! audio/x-raw ! queue ! audioconvert ! audioresample ! avenc_aac ! aacparse ! queue ! mux."
fi

echo "camcorder.sh: $in -> $out (x$scale${model:+, model $model}, audio: $([ $has_audio = 1 ] && echo yes || echo none))"
start=$(date +%s%N)
# shellcheck disable=SC2086 # the branches are pipeline fragments
gst-launch-1.0 -e filesrc location="$in" ! decodebin name=d \
  mp4mux name=mux ! filesink location="$out" \
  $video $audio
ms=$((($(date +%s%N) - start) / 1000000))
echo "camcorder.sh: wrote $out in $((ms / 1000)).$(printf %03d $((ms % 1000))) s"
if command -v ffprobe >/dev/null; then
  ffprobe -v error -show_entries stream=codec_type,codec_name,width,height,nb_frames,duration -of compact "$out"
fi
