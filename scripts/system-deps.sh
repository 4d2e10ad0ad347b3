#!/usr/bin/env bash
# Debian packages the test suite needs: Chromium for the browser tests, PostgreSQL for the
# CRM's database tests, Redis and HAProxy for the cluster (relay/cluster.py and its test).
# Installs only what is missing; needs root (CI and these machines are). The services
# themselves are started by what uses them (scripts/postgres.sh, relay.run --replicas).
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "relay: missing Debian packages: ${missing[*]} — install them (sudo apt-get install ${missing[*]}); the tests that need them will be skipped" >&2
  exit 0
fi
echo "==> installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
