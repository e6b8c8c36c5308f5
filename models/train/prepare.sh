#!/usr/bin/env bash
# The training photos of models/train/footage.py (MODELS.md, "span-footage-x2"): photographs
# of four Debian bookworm wallpaper packages (fetched with apt, pinned by version and
# sha256) and three texture photos of scikit-image that scripts/setup already fetched.
# None of them is used by quality-eval, footage_tune, the precision gate or parity.
#     models/train/prepare.sh DIR
set -euo pipefail
out=${1:?usage: models/train/prepare.sh DIR}
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt hands the download to its own user
mkdir -p "$out"

# fetch PACKAGE VERSION SHA256: unpacks the package under $work/x.
fetch() {
    (cd "$work" && apt-get download "$1=$2" >/dev/null)
    local deb
    deb=$(ls "$work"/"$1"_*.deb)
    echo "$3  $deb" | sha256sum --check --quiet
    dpkg-deb -x "$deb" "$work/x"
    rm "$deb"
}

# KDE's wallpapers (LGPL-3 per their metadata, GPL-2+ per the package).
fetch plasma-workspace-wallpapers 4:5.27.5-2 32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b
for name in BytheWater ColdRipple ColorfulCups EveningGlow FallenLeaf Grey Kite OneStandsOut Path; do
    cp "$work/x/usr/share/wallpapers/$name/contents/images/2560x1600.jpg" "$out/$name.jpg"
done
# Lomiri's (Ubuntu Touch 16.04 and 20.04 sets; CC-BY-4.0 / CC-BY-SA-4.0) and MATE's
# nature photos (GPL-2+).
fetch lomiri-wallpapers-16.04 20.04.0-2 a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab
fetch lomiri-wallpapers-20.04 20.04.0-2 d44e89b8473aafe64a5b678f014862dc31335aaaf18665c544d985d854f1a709
for name in Bridge_by_Sander_Klootwijk Dragonfly_by_Bolly Picture_0B_by_freespace Picture_1A_by_freespace \
    Wine_by_Jakkub_Mede aitzgorri_by_Aitzol_Berasategi friends_by_Aitzol_Berasategi life_by_Aitzol_Berasategi \
    picosdeeuropa_by_Aitzol_Berasategi seeding_by_Clements_Engelhardt sunset_by_Aitzol_Berasategi \
    Kleiber_by_Lukas_Baubkus; do
    cp "$work/x/usr/share/backgrounds/$name.jpg" "$out/$name.jpg"
done
fetch mate-backgrounds 1.26.0-1 7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04
for name in Aqua Blinds Dune FreshFlower Garden GreenMeadow LadyBird RainDrops Storm TwoWings Wood YellowFlower; do
    cp "$work/x/usr/share/backgrounds/mate/nature/$name.jpg" "$out/$name.jpg"
done
for name in brick grass gravel; do
    cp "$repo/.deps/media/photos/$name.png" "$out/$name.png"
done
echo "$(ls "$out" | wc -l) training photos in $out"
