#!/usr/bin/env bash
# Runs the benchmarks (bench/, a module of its own; not part of hack/test.sh)
# and writes BENCHMARKS.md at the repository root and docs/bench/handover.png.
# Installs the real Python client (Debian's python3-kubernetes) and builds
# kube-apiserver and etcd when missing, like hack/test.sh.
#
#   hack/bench.sh            # the full run: about 22 minutes on 2 cores
#   hack/bench.sh -quick     # development and CI smoke: about 3 minutes
#
# Other flags go to bench/cmd/bench (-out, -png, -only, -contenders, -v).
# Run it on a quiet machine: the figures include CPU contention.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if ! /usr/bin/python3 -c 'import kubernetes.leaderelection' 2>/dev/null; then
  echo "bench: installing python3-kubernetes with apt-get" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-kubernetes >/dev/null
fi

export KUBE_BIN_DIR=${KUBE_BIN_DIR:-$root/.cache/kube/bin}
if [[ ! -x $KUBE_BIN_DIR/kube-apiserver || ! -x $KUBE_BIN_DIR/etcd ]]; then
  hack/kube/build.sh
fi

export BENCH_COMMAND="hack/bench.sh${*:+ $*}"
cd bench
exec go run ./cmd/bench "$@"
