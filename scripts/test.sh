#!/usr/bin/env bash
# The whole test suite: what the README's test command and .ci/run run.
set -euo pipefail
cd "$(dirname "$0")/.."
# Reference tools and QEMU for oracle comparisons and real-kernel scenarios (no-op when present).
bash scripts/install-test-deps.sh || echo "warning: could not install test dependencies; tests that need them will be skipped" >&2
# The fixture kernel's vmlinux (Debian -dbg package, cached): crash reads our saved dumps with it.
bash bench/setup.sh --no-drgn >/dev/null || echo "warning: could not fetch the fixture's vmlinux; the crash-with-vmlinux tests will be skipped" >&2
echo "== typecheck"
npx tsc -p tsconfig.json
echo "== build"
node scripts/build.mjs
echo "== tests"
# As root (CI), real-kernel scenarios must run: a missing capability fails instead of skipping.
if [ "$(id -u)" = 0 ]; then export E2E_REQUIRE="${E2E_REQUIRE:-1}"; fi
node scripts/run-tests.mjs
