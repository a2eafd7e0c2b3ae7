#!/bin/sh
# Pack the one-folder build with the per-user installer into a release archive:
#
#   packaging/linux/make-tarball.sh [APP_FOLDER] [OUT_FOLDER]
#
# faceedit-VERSION-linux-ARCH/ holds faceedit/ (the build), icons/, the .desktop and
# metainfo files, install-user.sh and uninstall-user.sh: unpack it anywhere and run
# ./install-user.sh (no root, no Python needed).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
app=$(cd "${1:-$here/../../dist/faceedit}" && pwd)
out=${2:-$here/../../dist}
version=$(env -i PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen "$app/faceedit" --version | cut -d' ' -f2)
name=faceedit-$version-linux-$(uname -m)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage/$name/icons"
cp -R "$app" "$stage/$name/faceedit"
cp "$here"/../../resources/icons/faceedit.svg "$here"/../../resources/icons/faceedit-*.png "$stage/$name/icons/"
cp "$here"/io.github.faceedit.Faceedit.desktop "$here"/io.github.faceedit.Faceedit.metainfo.xml \
   "$here"/install-user.sh "$here"/uninstall-user.sh "$stage/$name/"
mkdir -p "$out"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
echo "wrote $out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1))"
