#!/usr/bin/env bash
# The training photos of models/train/footage.py (MODELS.md, "span-footage-x2"): nine
# photographs of KDE's wallpaper package (Debian bookworm, fetched with apt, pinned by
# sha256) and three texture photos of scikit-image that scripts/setup already fetched.
# None of them is used by quality-eval, footage_tune, the precision gate or parity.
#     models/train/prepare.sh DIR
set -euo pipefail
out=${1:?usage: models/train/prepare.sh DIR}
repo=$(cd "$(dirname "$0")/../.." && pwd)
deb_version=4:5.27.5-2
deb_sha256=32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt hands the download to its own user
(cd "$work" && apt-get download "plasma-workspace-wallpapers=$deb_version" >/dev/null)
deb=$(ls "$work"/plasma-workspace-wallpapers_*.deb)
echo "$deb_sha256  $deb" | sha256sum --check --quiet
dpkg-deb -x "$deb" "$work/x"
mkdir -p "$out"
for name in BytheWater ColdRipple ColorfulCups EveningGlow FallenLeaf Grey Kite OneStandsOut Path; do
    cp "$work/x/usr/share/wallpapers/$name/contents/images/2560x1600.jpg" "$out/$name.jpg"
done
for name in brick grass gravel; do
    cp "$repo/.deps/media/photos/$name.png" "$out/$name.png"
done
echo "12 training photos in $out"
