#!/usr/bin/env bash
# The tests' PostgreSQL: the database relay_test on the local Debian cluster (scripts/postgres.sh).
# Prints the SQLAlchemy URL the tests use (RELAY_TEST_POSTGRES_URL), nothing if PostgreSQL is not
# available (the PostgreSQL variants of the tests are then skipped).
exec bash "$(dirname "$0")/postgres.sh" relay_test
