#!/bin/sh
# db-init: the cluster roles, their passwords and the database; the container counterpart of
# ensure_roles_and_database() in shared/src/majlis/db/setup.py. Migrations are NOT applied
# here: the `migrate` job applies them afterwards as the owner role.
#
# Runs psql as the PostgreSQL superuser. Connection: the standard libpq variables (PGHOST,
# PGPORT, PGUSER, PGPASSWORD). Inputs:
#   MAJLIS_OWNER_DB_PASSWORD, MAJLIS_APP_DB_PASSWORD,
#   MAJLIS_AUDIT_WRITER_DB_PASSWORD, MAJLIS_OUTBOX_RELAY_DB_PASSWORD   (required, >= 16 chars)
#   MAJLIS_DB_NAME     database to create (default: majlis)
#   MAJLIS_ROLES_SQL   path of deploy/sql/roles.sql (default: /majlis-init/roles.sql)
#
# Idempotent: re-running it re-applies the roles, resets the passwords to the given values
# and leaves an existing database (and its data) alone.
set -eu

ROLES_SQL="${MAJLIS_ROLES_SQL:-/majlis-init/roles.sql}"
DB_NAME="${MAJLIS_DB_NAME:-majlis}"

fail() {
  echo "db-init: $*" >&2
  exit 64
}

[ -r "$ROLES_SQL" ] || fail "cannot read the roles SQL at $ROLES_SQL"

case "$DB_NAME" in
  ''|*[!a-z0-9_]*) fail "MAJLIS_DB_NAME must be lower-case letters, digits and _" ;;
esac

for var in MAJLIS_OWNER_DB_PASSWORD MAJLIS_APP_DB_PASSWORD MAJLIS_AUDIT_WRITER_DB_PASSWORD \
  MAJLIS_OUTBOX_RELAY_DB_PASSWORD; do
  eval "value=\${$var:-}"
  # Never print the value, only the variable's name.
  [ -n "$value" ] || fail "$var is not set"
  [ "${#value}" -ge 16 ] || fail "$var is shorter than 16 characters"
  case "$value" in
    *CHANGE_ME*) fail "$var still holds the env.example placeholder" ;;
  esac
done
case "${PGPASSWORD:-}" in
  *CHANGE_ME*) fail "the superuser password still holds the env.example placeholder" ;;
esac
unset value

# Wait for the server (compose also waits for its health check; this covers other callers).
tries=0
until pg_isready -q -d postgres; do
  tries=$((tries + 1))
  [ "$tries" -lt 30 ] || fail "PostgreSQL at ${PGHOST:-local socket} is not ready"
  sleep 2
done

echo "db-init: applying roles from $ROLES_SQL"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" -f "$ROLES_SQL"

echo "db-init: setting role passwords and ensuring database $DB_NAME"
# Passwords go from the environment into psql variables with \getenv, so they never appear on
# a command line; :'var' quotes them as SQL literals. Terse errors keep statement text (and so
# a password) out of any error output.
psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=terse -v dbname="$DB_NAME" -d postgres <<'SQL'
\set VERBOSITY terse
\getenv owner_pw MAJLIS_OWNER_DB_PASSWORD
\getenv app_pw MAJLIS_APP_DB_PASSWORD
\getenv audit_pw MAJLIS_AUDIT_WRITER_DB_PASSWORD
\getenv relay_pw MAJLIS_OUTBOX_RELAY_DB_PASSWORD
SET password_encryption = 'scram-sha-256';
ALTER ROLE majlis_owner PASSWORD :'owner_pw';
ALTER ROLE majlis_app PASSWORD :'app_pw';
ALTER ROLE majlis_audit_writer PASSWORD :'audit_pw';
ALTER ROLE majlis_outbox_relay PASSWORD :'relay_pw';
\unset owner_pw
\unset app_pw
\unset audit_pw
\unset relay_pw

-- CREATE DATABASE cannot run in a transaction or a DO block: build it and \gexec it.
SELECT format('CREATE DATABASE %I OWNER majlis_owner', :'dbname')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'dbname') \gexec

-- Only the Majlis LOGIN roles may connect (the owner may, as the database's owner).
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'dbname') \gexec
SELECT format(
  'GRANT CONNECT ON DATABASE %I TO majlis_app, majlis_audit_writer, majlis_outbox_relay',
  :'dbname') \gexec
SQL

echo "db-init: done"
