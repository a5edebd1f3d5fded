#!/bin/sh
# build-image.sh: builds (once) and caches the Debian 12 VM image that `make e2e` boots.
#
#   tests/e2e/build-image.sh            prints the image directory (building it first if needed)
#   tests/e2e/build-image.sh --check    exit 0 if the tools and the archive are there, 77 (with a reason) if not
#
# The image lives OUTSIDE the repository, in $GUARDLET_E2E_CACHE (default /var/cache/guardlet-e2e), under a key
# hashed from this script, tests/e2e/packages.txt and e2e-boot.service, so a fresh clone on the same machine reuses it and any
# change to the recipe builds a new one. It is built under a temporary name and renamed when complete, so an
# interrupted build is never reused. Contents: vmlinuz, initrd.img (a small one: virtio + ext4 only),
# rootfs.img (ext4, 2 GiB sparse, booted with snapshot=on so every run starts clean).
#
# The VM has no network: everything the scenarios and guardlet's runtime need comes from packages.txt.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${GUARDLET_E2E_CACHE:-/var/cache/guardlet-e2e}
sources=${GUARDLET_E2E_SOURCES:-/etc/apt/sources.list.d/debian.sources}
[ -r "$sources" ] || sources=/etc/apt/sources.list

missing() {
	echo "e2e: SKIP: $*" >&2
	exit 77
}

check_tools() {
	for t in qemu-system-x86_64 mmdebstrap mkfs.ext4 sha256sum; do
		command -v "$t" >/dev/null 2>&1 || missing "$t not installed (apt-get install qemu-system-x86 mmdebstrap e2fsprogs)"
	done
	[ "$(id -u)" = 0 ] || missing "building the image and 9p sharing need root"
}

key() {
	cat "$here/build-image.sh" "$here/packages.txt" "$here/e2e-boot.service" | sha256sum | cut -c1-16
}

check_tools
dir="$cache/bookworm-$(key)"
if [ -f "$dir/rootfs.img" ] && [ -f "$dir/vmlinuz" ] && [ -f "$dir/initrd.img" ]; then
	[ "${1:-}" = --check ] && exit 0
	echo "$dir"
	exit 0
fi

# Only now is the archive needed.
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p; s/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' "$sources" | head -n1)
if command -v curl >/dev/null 2>&1; then
	curl -fsS -m 20 -o /dev/null "${mirror%/}/dists/bookworm/Release" ||
		missing "the Debian archive ($mirror) cannot be reached to build the VM image"
fi
[ "${1:-}" = --check ] && exit 0

mkdir -p "$cache"
tmp="$cache/.building-$(key)-$$"
rm -rf "$tmp"
mkdir -p "$tmp"
# --one-file-system: an interrupted mmdebstrap may leave /dev, /proc or /sys mounted in the chroot.
trap 'rm -rf --one-file-system "$tmp"' EXIT INT TERM

pkgs=$(grep -v '^#' "$here/packages.txt" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
log="$cache/build-$(key).log"
echo "e2e: building the VM image in $tmp (2-8 minutes, once; log: $log)" >&2

# Hooks run on the host with the chroot as $1.
# - A small initrd: the root disk is virtio-blk + ext4; nothing else is needed to mount it.
# - fstab: the root disk and the 9p share from the host (nofail: a boot without the share still finishes).
# - e2e-boot.service: runs /mnt/host/boot.sh when the share has one, then powers the VM off either way.
# - earlyoom and systemd-oomd are peers for the bench only: disabled, the bench starts them itself.
mmdebstrap --variant=minbase --include="$pkgs" \
	--essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d"; echo MODULES=list > "$1/etc/initramfs-tools/conf.d/e2e.conf"; mkdir -p "$1/etc/initramfs-tools"; printf "virtio_pci\nvirtio_blk\next4\n" > "$1/etc/initramfs-tools/modules"' \
	--customize-hook='echo e2e-node > "$1/etc/hostname"; printf "127.0.0.1 localhost e2e-node\n" > "$1/etc/hosts"' \
	--customize-hook='printf "/dev/vda / ext4 rw,errors=remount-ro 0 1\nhost0 /mnt/host 9p trans=virtio,version=9p2000.L,msize=262144,nofail,x-systemd.device-timeout=5s 0 0\n" > "$1/etc/fstab"; mkdir -p "$1/mnt/host"' \
	--customize-hook='printf "9p\n9pnet_virtio\n" > "$1/etc/modules-load.d/e2e.conf"' \
	--customize-hook='chroot "$1" passwd -d root >/dev/null' \
	--customize-hook='mkdir -p "$1/var/log/journal"' \
	--customize-hook='chroot "$1" systemctl disable earlyoom.service systemd-oomd.service systemd-oomd.socket 2>/dev/null || true' \
	--customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer 2>/dev/null || true' \
	--customize-hook="cp '$here/e2e-boot.service' \"\$1/etc/systemd/system/e2e-boot.service\"" \
	--customize-hook='chroot "$1" systemctl enable e2e-boot.service' \
	--customize-hook='chroot "$1" update-initramfs -u -k all' \
	--customize-hook='cp "$1"/boot/vmlinuz-* '"'$tmp'"'/vmlinuz; cp "$1"/boot/initrd.img-* '"'$tmp'"'/initrd.img' \
	--customize-hook='rm -rf "$1/var/cache/apt/archives"/*.deb "$1/var/lib/apt/lists"/*_Packages "$1/usr/share/doc" "$1/usr/share/man" "$1/usr/share/locale"' \
	bookworm "$tmp/rootfs" - <"$sources" >"$log" 2>&1 || {
	tail -n 40 "$log" >&2
	echo "e2e: mmdebstrap failed; the whole log is $log" >&2
	exit 1
}

mkfs.ext4 -q -L e2e-root -d "$tmp/rootfs" "$tmp/rootfs.img" 2G >&2
rm -rf "$tmp/rootfs"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT INT TERM
# Images of older recipes are never used again.
for old in "$cache"/bookworm-* "$cache"/build-*.log; do
	[ "$old" = "$dir" ] || [ "$old" = "$log" ] || rm -rf --one-file-system "$old"
done
echo "e2e: image ready: $dir ($(du -sh "$dir" | cut -f1) on disk)" >&2
echo "$dir"
