#!/usr/bin/env bash
# Make sure the local PostgreSQL answers at the URI given (default the local
# cluster on 127.0.0.1:5432 with trust authentication); start it if needed.
set -euo pipefail
uri=${1:-postgresql://postgres@127.0.0.1:5432/}
if ! pg_isready -q -d "${uri}postgres" 2>/dev/null; then
    if ! command -v pg_ctlcluster >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    version=$(ls /etc/postgresql | sort -n | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 30); do pg_isready -q -d "${uri}postgres" && break; sleep 1; done
fi
psql "${uri}postgres" -tAc 'SELECT 1' >/dev/null
echo "PostgreSQL ready at ${uri}"
