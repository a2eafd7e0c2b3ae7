#!/bin/sh
# Remove the per-user installation made by install-user.sh: exactly the files and folders
# listed in its manifest, nothing else. Your own files stay: settings, the model cache,
# logs, and any photos or models you made; the script ends by saying where they are.
#
#   packaging/linux/uninstall-user.sh [--quiet]
set -eu

APP_ID=io.github.faceedit.Faceedit
data_home=${XDG_DATA_HOME:-$HOME/.local/share}
root=$data_home/faceedit
manifest=$root/install-manifest.txt
quiet=no
[ "${1:-}" = "--quiet" ] && quiet=yes

if [ ! -f "$manifest" ]; then
    echo "faceedit is not installed for this user (no $manifest)" >&2
    exit 1
fi

# Anything outside these folders in a manifest is a damaged or foreign manifest: refuse.
inside_ours() {
    case $1 in
        "$root"/*|"$data_home"/applications/*|"$data_home"/icons/*|"$data_home"/metainfo/*|"$HOME"/.local/bin/*) return 0;;
        "$root"|"$data_home"/applications|"$data_home"/icons|"$data_home"/metainfo|"$HOME"/.local/bin) return 0;;
        "$data_home"|"$HOME"/.local) return 0;;
        *) return 1;;
    esac
}

caches=""
while IFS= read -r line; do
    kind=${line%% *}
    path=${line#* }
    case $kind in
        file|tree|cache) inside_ours "$path" || { echo "error: $manifest lists $path, outside faceedit's folders; stopping" >&2; exit 1; };;
    esac
    case $kind in
        file) rm -f "$path";;
        tree) [ "$path" = "$root/app" ] && rm -rf "$path";;
        cache) caches="$caches$path
";;
    esac
done < "$manifest"

# The MIME cache: one the installer brought into being goes (the folder is back as it
# was before); one that was there already is refreshed, without faceedit's entry.
printf '%s' "$caches" | while IFS= read -r cache; do
    [ -n "$cache" ] && rm -f "$cache"
done
if [ -z "$caches" ] && command -v update-desktop-database >/dev/null 2>&1 && [ -d "$data_home/applications" ]; then
    update-desktop-database -q "$data_home/applications" || true
fi

# Folders the installer made, deepest first, where they are empty now.
dirs=$(mktemp)  # outside $root, which must end up empty
grep '^dir ' "$manifest" | cut -d' ' -f2- > "$dirs" || true
rm -f "$manifest"
while IFS= read -r dir; do
    inside_ours "$dir" && rmdir "$dir" 2>/dev/null || true
done < "$dirs"
rm -f "$dirs"

[ "$quiet" = yes ] && exit 0
echo "faceedit is uninstalled. Your own files are still there; delete them by hand if you wish:"
echo "  settings:    ${XDG_CONFIG_HOME:-$HOME/.config}/faceedit/"
echo "  model cache: ${XDG_CACHE_HOME:-$HOME/.cache}/faceedit/"
echo "  logs:        ${XDG_STATE_HOME:-$HOME/.local/state}/faceedit/log/"
[ -d "$root" ] && echo "  other files: $root/ (models or runs you saved there)"
exit 0
