#!/usr/bin/env bash
# Sets up what this machine lacks, builds the app, and runs tokenbridge.
# With no TOKENBRIDGE_CLIENT_ID (in the environment or .env) it runs the sandbox.
# Arguments go to tokenbridge: scripts/run.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

echo "==> building the app (trunk build --release)" >&2
trunk build --release
echo "==> building tokenbridge (release, with profile-guided optimisation: scripts/pgo.sh)" >&2
binary=$(scripts/pgo.sh)
echo "==> starting $binary" >&2
exec "$binary" "$@"
