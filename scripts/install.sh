#!/bin/sh
# Installs clawlink: downloads this machine's binary and SHA256SUMS from a release, checks the
# binary's sha256, and puts it in ~/.local/bin (or $CLAWLINK_INSTALL_DIR). Nothing is installed
# unless the checksum matches.
#
#   curl -fsSL https://github.com/clawlink/clawlink/releases/latest/download/install.sh | sh
#
# CLAWLINK_VERSION       a release to install, e.g. 0.1.0 (default: the latest)
# CLAWLINK_DOWNLOAD_URL  the folder holding the binaries and SHA256SUMS (overrides CLAWLINK_VERSION)
# CLAWLINK_INSTALL_DIR   where to put the binary (default: ~/.local/bin)
set -eu

releases="https://github.com/clawlink/clawlink/releases"

say() {
  printf 'clawlink install: %s\n' "$1"
}

fail() {
  printf 'clawlink install: error: %s\n' "$1" >&2
  if [ -n "${2:-}" ]; then printf 'clawlink install: hint: %s\n' "$2" >&2; fi
  exit 1
}

if [ -n "${CLAWLINK_DOWNLOAD_URL:-}" ]; then
  base=${CLAWLINK_DOWNLOAD_URL%/}
elif [ -n "${CLAWLINK_VERSION:-}" ]; then
  base="$releases/download/v${CLAWLINK_VERSION#v}"
else
  base="$releases/latest/download"
fi
if [ -n "${CLAWLINK_INSTALL_DIR:-}" ]; then
  dir=$CLAWLINK_INSTALL_DIR
elif [ -n "${HOME:-}" ]; then
  dir="$HOME/.local/bin"
else
  fail "HOME is not set" "set CLAWLINK_INSTALL_DIR to the folder to install into"
fi

case $(uname -s) in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  MINGW* | MSYS* | CYGWIN*) os=windows ;;
  *) fail "there is no clawlink build for $(uname -s)" "the releases cover Linux, macOS and Windows: $releases" ;;
esac
case $(uname -m) in
  x86_64 | amd64) arch=x64 ;;
  arm64 | aarch64) arch=arm64 ;;
  *) fail "there is no clawlink build for the $(uname -m) processor" "the releases cover x64 and arm64: $releases" ;;
esac
# A shell running under Rosetta reports x86_64 on an Apple silicon Mac: take the native build.
if [ "$os" = darwin ] && [ "$arch" = x64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
  arch=arm64
fi
if [ "$os" = linux ] && ldd --version 2>&1 | grep -qi musl; then
  fail "the Linux builds need glibc, and this system uses musl (Alpine?)" "use a glibc-based system or image (Debian, Ubuntu), or build from source"
fi
name="clawlink-$os-$arch"
target="$dir/clawlink"
if [ "$os" = windows ]; then
  name="$name.exe"
  target="$dir/clawlink.exe"
fi

if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --retry 2 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -O "$2" "$1"; }
else
  fail "neither curl nor wget is installed" "install one of them, or download $name from $base by hand"
fi
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
elif command -v openssl >/dev/null 2>&1; then
  sha256() { openssl dgst -sha256 "$1" | sed 's/^.*= *//'; }
else
  fail "there is no sha256sum, shasum or openssl to check the download with" "install one of them; nothing was installed"
fi

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t clawlink)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fetch "$base/SHA256SUMS" "$tmp/SHA256SUMS" ||
  fail "could not download $base/SHA256SUMS" "check the address (CLAWLINK_DOWNLOAD_URL or CLAWLINK_VERSION) and the network; nothing was installed"
expected=$(awk -v f="$name" '$2 == f || $2 == "*" f { print $1; exit }' "$tmp/SHA256SUMS")
if [ -z "$expected" ]; then
  fail "$base/SHA256SUMS lists no $name" "this release has no build for $os $arch; nothing was installed"
fi

say "downloading $name from $base"
fetch "$base/$name" "$tmp/$name" ||
  fail "could not download $base/$name" "check the address (CLAWLINK_DOWNLOAD_URL or CLAWLINK_VERSION) and the network; nothing was installed"
actual=$(sha256 "$tmp/$name")
if [ "$actual" != "$expected" ]; then
  fail "the sha256 of the downloaded $name is $actual, but SHA256SUMS says $expected" "the download was corrupted or tampered with; nothing was installed. Try again, and report it if it keeps failing"
fi
chmod 755 "$tmp/$name"
"$tmp/$name" --version >/dev/null 2>&1 ||
  fail "the downloaded $name does not run on this machine" "nothing was installed; download it by hand from $base and run it to see why"

mkdir -p "$dir" || fail "cannot create $dir" "set CLAWLINK_INSTALL_DIR to a folder you can write"
# Copied beside the target, then renamed over it: a running clawlink is never left half-written.
cp "$tmp/$name" "$dir/.clawlink.$$" || fail "cannot write to $dir" "set CLAWLINK_INSTALL_DIR to a folder you can write"
if ! mv -f "$dir/.clawlink.$$" "$target"; then
  rm -f "$dir/.clawlink.$$"
  fail "cannot replace $target" "close any program using it, or set CLAWLINK_INSTALL_DIR to another folder"
fi

say "installed clawlink $("$target" --version) to $target (sha256 verified)"
case ":${PATH:-}:" in
  *":$dir:"*) ;;
  *) say "$dir is not on your PATH; add it in your shell's profile (~/.profile, ~/.bashrc or ~/.zshrc): export PATH=\"$dir:\$PATH\"" ;;
esac
say "next: clawlink relay (on one machine), then clawlink skill install --for openclaw|claude|codex"
