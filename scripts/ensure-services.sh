#!/usr/bin/env bash
# Make sure the servers the tests need are up on this machine; install them with apt-get if absent.
# A test never skips because a server is missing: this script fails loudly instead.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

apt_install() {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# PostgreSQL at 127.0.0.1:5432 with trust auth and a database `test`.
if ! command -v pg_isready >/dev/null 2>&1; then
  echo "ensure-services: installing postgresql"
  apt_install postgresql
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "ensure-services: starting postgresql"
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 >/dev/null || { echo "ensure-services: PostgreSQL is not reachable at 127.0.0.1:5432" >&2; exit 1; }
if ! psql -h 127.0.0.1 -U postgres -d test -c "select 1" >/dev/null 2>&1; then
  # a fresh install: trust local TCP connections and create the `test` database
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf | sort -V | tail -n 1)
  if ! grep -q "driftd-tests" "$hba"; then
    printf '# driftd-tests\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' | $SUDO tee -a "$hba" >/dev/null
    $SUDO sed -i '0,/^host/{/# driftd-tests/!{/^host/s/^/#/}}' "$hba" 2>/dev/null || true
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
  su postgres -c "createdb test" 2>/dev/null || true
fi
psql -h 127.0.0.1 -U postgres -d test -c "select 1" >/dev/null
echo "ensure-services: postgresql ok"

# Prometheus and promtool (Debian package `prometheus`) for tests/dashboards. The tests start their
# own server on a free port, so the package's service is kept from starting (policy-rc.d) and, under
# systemd, disabled: nothing is left listening on 9090.
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  echo "ensure-services: installing prometheus"
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod 755 "$policy" && made_policy=1
  fi
  status=0
  apt_install --no-install-recommends prometheus || status=$?
  if [ -n "$made_policy" ]; then $SUDO rm -f "$policy"; fi
  [ "$status" = 0 ] || { echo "ensure-services: apt-get install prometheus failed" >&2; exit "$status"; }
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
promtool --version >/dev/null && prometheus --version >/dev/null 2>&1 \
  || { echo "ensure-services: prometheus/promtool do not run" >&2; exit 1; }
echo "ensure-services: prometheus $(prometheus --version 2>&1 | awk 'NR==1 {print $3}') ok"
