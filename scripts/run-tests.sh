#!/bin/sh
# Run the suite inside a private network namespace that has only loopback (root or user
# namespaces), so nothing, not even Chromium, can reach another host. Falls back to the host
# network when namespaces are unavailable (tests still only use 127.0.0.1).
set -e
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# the offline-install test installs from a bundle; making one needs the registries, so here
[ -f .bundle/.complete ] || make -s bundle >/dev/null || echo "run-tests: make bundle failed; the offline-install test will fail" >&2
if unshare --net true 2>/dev/null; then
  exec unshare --net sh -c "ip link set lo up && DEWAN_NETNS=1 exec $PY -m pytest -q -p no:cacheprovider $*"
elif unshare --map-root-user --net true 2>/dev/null; then
  exec unshare --map-root-user --net sh -c "ip link set lo up && DEWAN_NETNS=1 exec $PY -m pytest -q -p no:cacheprovider $*"
fi
echo "run-tests: no network namespace available; running on the host network (loopback only)" >&2
exec $PY -m pytest -q -p no:cacheprovider "$@"
