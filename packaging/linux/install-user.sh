#!/bin/sh
# Install the one-folder build of faceedit for the current user, without root.
#
#   packaging/linux/install-user.sh [APP_FOLDER]
#
# APP_FOLDER is the PyInstaller build (default: dist/faceedit of this source tree, or a
# faceedit/ folder beside this script, as in a release archive). It puts:
#   the program      $XDG_DATA_HOME/faceedit/app/           (~/.local/share/faceedit/app)
#   a command        ~/.local/bin/faceedit                   (a link to the program)
#   the menu entry   $XDG_DATA_HOME/applications/io.github.faceedit.Faceedit.desktop
#   the icons        $XDG_DATA_HOME/icons/hicolor/<size>/apps/io.github.faceedit.Faceedit.{png,svg}
#   the metadata     $XDG_DATA_HOME/metainfo/io.github.faceedit.Faceedit.metainfo.xml
# and lists every file and folder it made in $XDG_DATA_HOME/faceedit/install-manifest.txt,
# which uninstall-user.sh reads to remove exactly those. Running it again replaces an
# earlier installation.
set -eu

APP_ID=io.github.faceedit.Faceedit
here=$(cd "$(dirname "$0")" && pwd)
data_home=${XDG_DATA_HOME:-$HOME/.local/share}
bin_dir=$HOME/.local/bin
root=$data_home/faceedit
manifest=$root/install-manifest.txt

# Where the pieces are: beside this script (release archive) or in the source tree.
first_existing() { for candidate in "$@"; do [ -e "$candidate" ] && { echo "$candidate"; return 0; }; done; return 1; }
src_app=${1:-$(first_existing "$here/faceedit" "$here/../../dist/faceedit" || echo "$here/../../dist/faceedit")}
icons=$(first_existing "$here/icons" "$here/../../resources/icons") || { echo "error: no icons folder near $here" >&2; exit 1; }
desktop=$here/$APP_ID.desktop
metainfo=$here/$APP_ID.metainfo.xml

if [ ! -x "$src_app/faceedit" ]; then
    echo "error: $src_app/faceedit is not there; build it first with 'make package'" >&2
    exit 1
fi

if [ -f "$manifest" ]; then
    echo "replacing the earlier installation"
    "$here/uninstall-user.sh" --quiet
fi

# mkdir -p that notes each folder it creates, so uninstall removes only those.
made_dirs=""
make_dir() {
    missing=""
    dir=$1
    while [ ! -d "$dir" ]; do missing="$dir
$missing"; dir=$(dirname "$dir"); done
    mkdir -p "$1"
    made_dirs="$made_dirs$missing"
}
installed=""
put() {  # put SOURCE DEST [MODE]
    make_dir "$(dirname "$2")"
    cp "$1" "$2"
    chmod "${3:-644}" "$2"
    installed="$installed$2
"
}

make_dir "$root"
app=$root/app
rm -rf "$app"
cp -R "$src_app" "$app"

# The command: a link in ~/.local/bin, unless something else (a pip install --user of
# faceedit, say) is already there; that one is left alone.
if [ -e "$bin_dir/faceedit" ] || [ -L "$bin_dir/faceedit" ]; then
    echo "note: $bin_dir/faceedit exists and is not from this installer; left as it is"
else
    make_dir "$bin_dir"
    ln -s "$app/faceedit" "$bin_dir/faceedit"
    installed="$installed$bin_dir/faceedit
"
fi

# The menu entry runs the installed program by its full path: a desktop session's PATH
# often lacks ~/.local/bin.
tmp_desktop=$(mktemp)
sed -e "s|^Exec=faceedit |Exec=\"$app/faceedit\" |" -e "s|^TryExec=faceedit\$|TryExec=$app/faceedit|" "$desktop" > "$tmp_desktop"
put "$tmp_desktop" "$data_home/applications/$APP_ID.desktop"
rm -f "$tmp_desktop"
put "$metainfo" "$data_home/metainfo/$APP_ID.metainfo.xml"
for png in "$icons"/faceedit-*.png; do
    size=${png##*/faceedit-}
    size=${size%.png}
    put "$png" "$data_home/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
put "$icons/faceedit.svg" "$data_home/icons/hicolor/scalable/apps/$APP_ID.svg"

# The manifest: files first, then the folders made (deepest first), the app folder last.
{
    echo "# faceedit per-user installation; uninstall-user.sh removes what is listed here"
    printf '%s' "$installed" | sed 's/^/file /'
    printf '%s' "$made_dirs" | sed '/^$/d' | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2- | sed 's/^/dir /'
    echo "tree $app"
} > "$manifest"

# Refresh the menu's MIME cache, so "Open with faceedit" shows up at once. A cache this
# made (there was none) is noted, so that uninstalling can remove it once it lists nothing.
if command -v update-desktop-database >/dev/null 2>&1; then
    cache=$data_home/applications/mimeinfo.cache
    [ -e "$cache" ] || echo "cache $cache" >> "$manifest"
    update-desktop-database -q "$data_home/applications" || true
fi

echo "faceedit is installed for $(id -un 2>/dev/null || echo you):"
echo "  program:    $app"
echo "  command:    $bin_dir/faceedit"
echo "  menu entry: $data_home/applications/$APP_ID.desktop"
case ":$PATH:" in *":$bin_dir:"*) ;; *) echo "  (add $bin_dir to PATH to run 'faceedit' from a terminal)";; esac
echo "Remove it with: $here/uninstall-user.sh"
