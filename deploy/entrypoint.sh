#!/bin/sh
# Container entrypoint: runs exactly one Majlis process, chosen by MAJLIS_SERVICE.
#
#   gateway | webhook_ingest | inbox | chatflow | broadcast | audit   ->  python -m <service>
#   migrate                                                           ->  apply pending SQL
#                                                                          migrations as the
#                                                                          owner role, then exit
#
# Anything else exits 64 (EX_USAGE). One-off tools (for example the re-encryption job) are run
# with `--entrypoint python`, not through this script.
set -eu

service="${MAJLIS_SERVICE:-}"

if [ "$#" -gt 0 ]; then
  echo "entrypoint: arguments are not accepted (got $#); choose the process with MAJLIS_SERVICE" >&2
  exit 64
fi

case "$service" in
  gateway|webhook_ingest|inbox|chatflow|broadcast|audit)
    exec python -m "$service"
    ;;
  migrate)
    exec python -m majlis.db.setup --migrate-only
    ;;
  *)
    echo "entrypoint: MAJLIS_SERVICE must be one of gateway, webhook_ingest, inbox, chatflow," \
      "broadcast, audit or migrate (got '${service}')" >&2
    exit 64
    ;;
esac
