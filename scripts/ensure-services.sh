#!/usr/bin/env bash
# Makes sure the services the tests need are there.
#
# Mosquitto: tests start their own broker on a free loopback port, so only the binary is needed.
# PostgreSQL: tests create (and drop) their own databases on the server at 127.0.0.1:5432 as user
# postgres with trust authentication on loopback (TILLFLEET_TEST_POSTGRES overrides the URL). A
# machine that has such a server is used as it is. Otherwise, as root on Debian, we install
# PostgreSQL, start it, and allow the postgres user in from 127.0.0.1/::1 without a password (a
# test machine's loopback only). Anywhere else we stop and say what to install.
#
# `ensure-services.sh mosquitto` checks the broker only (what `make demo` needs).
set -euo pipefail
only="${1:-all}"

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
root_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

have mosquitto || missing+=(mosquitto)
pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1; }
pg_ready() {
  local bin
  bin="$(command -v pg_isready || echo "/usr/lib/postgresql/$(pg_version)/bin/pg_isready")"
  [ -x "$bin" ] && "$bin" -q -h 127.0.0.1 -p 5432 -U postgres
}
if [ "$only" = all ]; then
  pg_ready || { [ -n "$(pg_version)" ] || missing+=(postgresql); }
fi

if [ ${#missing[@]} -gt 0 ]; then
  if root_apt; then
    echo "installing ${missing[*]} with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "error: the tests need these packages, which are not installed: ${missing[*]}" >&2
    echo "       install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

if [ "$only" = all ] && ! pg_ready; then
  if ! root_apt; then
    echo "error: the tests need PostgreSQL at 127.0.0.1:5432 (user postgres, trust on loopback);" >&2
    echo "       start it, or set TILLFLEET_TEST_POSTGRES to a server's URL" >&2
    exit 1
  fi
  ver="$(pg_version)"
  hba="/etc/postgresql/$ver/main/pg_hba.conf"
  if [ -f "$hba" ] && ! grep -q "tillfleet-tests" "$hba"; then
    # First match wins in pg_hba.conf: put the loopback trust lines on top.
    { echo "host all postgres 127.0.0.1/32 trust  # tillfleet-tests"
      echo "host all postgres ::1/128 trust  # tillfleet-tests"
      cat "$hba"; } > "$hba.new" && mv "$hba.new" "$hba"
  fi
  echo "starting PostgreSQL $ver" >&2
  pg_ctlcluster "$ver" main start 2>/dev/null || service postgresql start
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  pg_ready || { echo "error: PostgreSQL $ver did not come up on 127.0.0.1:5432" >&2; exit 1; }
fi
