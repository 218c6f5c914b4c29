#!/usr/bin/env bash
# Container entry point: the same scripts/run as on bare metal, on the installed binaries and the
# state volume. Arguments are options for `fakecloud init` (e.g. --set tls.ips=192.168.1.10).
set -euo pipefail

case "${1:-}" in
  -h|--help)
    echo "usage: docker run ... fakecloud [INIT_OPTIONS...]   (options for 'fakecloud init', e.g. --set k=v)"
    exit 0 ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$here/../scripts/run" --no-build --bin /usr/local/bin --var /var/lib/fakecloud -- "$@"
