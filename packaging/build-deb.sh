#!/bin/bash
# build-deb.sh BUILDDIR [DEB_VERSION]: builds the guardlet .deb from the working tree.
#
# Copies the tree's files (tracked, and untracked unless ignored: the tree may hold uncommitted
# work) into BUILDDIR/deb/src/guardlet-VERSION/ with packaging/debian as debian/, runs
# dpkg-buildpackage there and leaves guardlet_VERSION_ARCH.deb (with .changes and .buildinfo)
# in BUILDDIR/deb/. VERSION is include/guardlet/version.h's; a DEB_VERSION that differs (tests
# build 0.1.0+test1 for upgrades) gets its own changelog entry in the copy only.
set -euo pipefail

builddir=$1
top=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^#define GL_VERSION "\(.*\)"$/\1/p' "$top/include/guardlet/version.h")
deb_version=${2:-$version}
arch=$(dpkg --print-architecture)
mkdir -p "$builddir/deb"
out=$(cd "$builddir/deb" && pwd)
src="$out/src/guardlet-$deb_version"

[ -n "$version" ] || { echo "build-deb: no GL_VERSION in include/guardlet/version.h" >&2; exit 1; }

rm -rf "$src"
mkdir -p "$src"
cd "$top"
# -c also lists tracked files deleted in the working tree: copy only what exists.
git ls-files -co --exclude-standard -z |
    while IFS= read -r -d '' f; do
        if [[ -e $f || -L $f ]]; then printf '%s\0' "$f"; fi
    done |
    tar --null --no-recursion --files-from=- -cf - | tar -xf - -C "$src"
rm -rf "$src/debian"
cp -a packaging/debian "$src/debian"

if [ "$deb_version" != "$version" ]; then
    entry=$(mktemp)
    {
        printf 'guardlet (%s) unstable; urgency=medium\n\n' "$deb_version"
        printf '  * Build of %s for tests.\n\n' "$deb_version"
        maint=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$src/debian/changelog" | head -n 1)
        printf ' -- %s  %s\n\n' "$maint" "$(date -R)"
        cat "$src/debian/changelog"
    } >"$entry"
    mv "$entry" "$src/debian/changelog"
fi

rm -f "$out"/guardlet_"$deb_version"_* "$out"/guardlet-dbgsym_"$deb_version"_*
cd "$src"
DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=2}" dpkg-buildpackage -us -uc -b
for f in "$out/src"/guardlet_"$deb_version"_* "$out/src"/guardlet-dbgsym_"$deb_version"_*; do
    mv "$f" "$out/"
done
echo "build-deb: $out/guardlet_${deb_version}_${arch}.deb"
