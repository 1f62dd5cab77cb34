#!/usr/bin/env bash
# One-off measurement behind the package's runtime decision (docs/install.md,
# "The Debian package"): Debian 13's nodejs (Depends: nodejs) against a Node
# shipped inside the package (the official self-contained binary, here the
# host's /usr/bin/node when it is one). In a copy of the test root
# (test/release/rootfs.ts) with the .deb installed: package size, start-up of
# `pushgate --version` and of `pushgate serve` until it listens, and the RSS of
# the idle gateway. Needs root; run after `pnpm release` and one run of
# test/release/deb.test.ts (which fills the root cache).
#   bench/package-runtime.sh [official-node-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${PUSHGATE_TEST_ROOTFS:-$HOME/.cache/pushgate/test-rootfs}
OFFICIAL=${1:-/usr/bin/node}
DEB=$(ls release/pushgate_*_all.deb)
ROOT=$(mktemp -d /tmp/pushgate-bench-root.XXXXXX)
trap 'umount "$ROOT/proc" 2>/dev/null || true; rm -rf "$ROOT"' EXIT
cp -a --reflink=auto "$CACHE/." "$ROOT/"
mount -t proc proc "$ROOT/proc"
cp "$DEB" "$ROOT/tmp/p.deb"
chroot "$ROOT" apt-get install -y -qq /tmp/p.deb >/dev/null 2>&1
mkdir -p "$ROOT/opt/node/bin" && cp "$OFFICIAL" "$ROOT/opt/node/bin/node"
printf 'listen:\n  port: 0\n' > "$ROOT/tmp/c.yaml"

kib() { echo $(( ($1 + 1023) / 1024 )); }
echo "package: $(kib "$(stat -c %s "$DEB")") KiB .deb"
echo "official node binary: $(kib "$(stat -c %s "$OFFICIAL")") KiB, xz -9: $(kib "$(xz -9 -T2 -c "$OFFICIAL" | wc -c)") KiB"
debian=0
# nodejs's Depends and libnode's, one level (libc, libstdc++, zlib are in every Debian already).
for p in nodejs libnode115 libicu76 libuv1t64 libcares2 libbrotli1 libnghttp2-14 libssl3t64 node-acorn node-cjs-module-lexer node-minimatch node-undici node-corepack; do
  s=$(chroot "$ROOT" dpkg-query -W -f '${Installed-Size}' "$p" 2>/dev/null || true)
  [ -n "$s" ] && debian=$((debian + s)) && echo "  $p ${s} KiB"
done
echo "Debian nodejs and what it pulls in: ${debian} KiB installed"

measure() { # <node>
  local node=$1 t0 t1 i pid rss=() up=()
  t0=$(date +%s%N)
  for i in $(seq 20); do chroot "$ROOT" "$node" /usr/lib/pushgate/gateway/pushgate.mjs --version >/dev/null 2>&1; done
  t1=$(date +%s%N)
  echo "  pushgate --version: $(( (t1 - t0) / 20000000 )) ms per run (20 runs)"
  for i in $(seq 5); do
    t0=$(date +%s%N)
    chroot "$ROOT" "$node" /usr/lib/pushgate/gateway/pushgate.mjs serve --config /tmp/c.yaml >"$ROOT/tmp/out" 2>&1 &
    pid=$!
    until grep -q 'pushgate listening' "$ROOT/tmp/out"; do sleep 0.01; done
    t1=$(date +%s%N)
    up+=($(( (t1 - t0) / 1000000 )))
    sleep 2
    rss+=($(awk '/VmRSS/ {print $2}' /proc/$pid/status))
    kill -TERM $pid; wait $pid || true
  done
  echo "  serve until listening: ${up[*]} ms; idle RSS: ${rss[*]} KiB"
}
echo "Debian's node ($(chroot "$ROOT" /usr/bin/node --version)):"; measure /usr/bin/node
echo "official node ($(chroot "$ROOT" /opt/node/bin/node --version)):"; measure /opt/node/bin/node
