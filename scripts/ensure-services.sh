#!/usr/bin/env bash
# Makes sure the programs the tests start for themselves are installed. Tests never use a broker or
# database that happens to be running: they start their own on free loopback ports. So all this
# needs is the binaries. As root on Debian we install what is missing; otherwise we stop and say
# which package to install.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

have mosquitto || missing+=(mosquitto)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  exit 0
fi
echo "error: the tests need these packages, which are not installed: ${missing[*]}" >&2
echo "       install them with: sudo apt-get install ${missing[*]}" >&2
exit 1
