#!/usr/bin/env bash
# Checks that the interpreter is Python 3.11+ with venv support; installs python3-venv when we are
# root on Debian and it is missing, otherwise says exactly what to install.
set -euo pipefail
py=${1:-python3}
if ! command -v "$py" >/dev/null; then
  echo "error: $py not found; install Python 3.11 or newer (Debian: apt-get install python3)" >&2
  exit 1
fi
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: $py is $("$py" -V 2>&1); tillfleet needs Python 3.11 or newer" >&2
  exit 1
fi
if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
  ver=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing python${ver}-venv with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${ver}-venv"
  else
    echo "error: $py cannot create virtualenvs; install it: sudo apt-get install python${ver}-venv" >&2
    exit 1
  fi
fi
