#!/bin/sh
# Boot a router image interactively, console on this terminal (Ctrl-A X quits).
#   images/run-qemu.sh mipsel-malta|aarch64-virt [extra kernel args...]
# Builds the image first if the cache does not have it. Every `routerlab` run also leaves
# the exact command line it used as <run-dir>/<vm>.qemu.sh.
set -eu
target=${1:?usage: images/run-qemu.sh mipsel-malta|aarch64-virt [kernel args...]}
shift
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${ROUTERLAB:-$here/target/release/routerlab}
[ -x "$bin" ] || (cd "$here" && cargo build --release --quiet)
dir=$("$bin" image build --images "$here/images" "$target" | awk '{print $2}')
case "$target" in
    mipsel-malta) set -- qemu-system-mipsel -M malta -vga none -append "console=ttyS0 panic=-1 $*" ;;
    aarch64-virt) set -- qemu-system-aarch64 -M virt -cpu cortex-a53 -append "console=ttyAMA0 panic=-1 $*" ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
esac
exec "$@" -m 256 -nodefaults -no-reboot -display none -serial mon:stdio \
    -kernel "$dir/kernel" -initrd "$dir/initrd.gz" \
    -netdev user,id=mgmt -device virtio-net-pci,netdev=mgmt,romfile=
