#!/usr/bin/env bash
# Start the Debian PostgreSQL cluster and make sure the `relay` role and the database named by
# the first argument (default relay_test) exist. Prints its SQLAlchemy URL on stdout; nothing
# if PostgreSQL is not available. Used by the tests (scripts/test-postgres.sh) and by the
# cluster (relay/cluster.py, database relay_cluster).
set -euo pipefail
database="${1:-relay_test}"
[[ "$database" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "bad database name: $database" >&2; exit 2; }
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || exit 0
[ "$(id -u)" = 0 ] || exit 0
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | grep -q "^$version main"; then
  pg_createcluster "$version" main >/dev/null
fi
pg_ctlcluster "$version" main start >/dev/null 2>&1 || true
for _ in $(seq 30); do
  su postgres -c "pg_isready -q" && break
  sleep 1
done
port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')
psql_q() { su postgres -c "psql -p $port -tAq -c \"$1\""; }
[ "$(psql_q "SELECT 1 FROM pg_roles WHERE rolname='relay'")" = 1 ] || psql_q "CREATE ROLE relay LOGIN PASSWORD 'relay' CREATEDB" >/dev/null
psql_q "ALTER ROLE relay CREATEDB" >/dev/null  # the end-to-end tests create a database per run
[ "$(psql_q "SELECT 1 FROM pg_database WHERE datname='$database'")" = 1 ] || psql_q "CREATE DATABASE $database OWNER relay" >/dev/null
echo "postgresql+psycopg://relay:relay@127.0.0.1:$port/$database"
