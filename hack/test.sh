#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the real Python
# client (Debian's python3-kubernetes) when missing, builds kube-apiserver and
# etcd when missing (minutes on the first run, seconds after), then runs the
# unit, integration and interop tests with the race detector, and a short
# fuzz run of the record decoder.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if ! /usr/bin/python3 -c 'import kubernetes.leaderelection' 2>/dev/null; then
  echo "test: installing python3-kubernetes with apt-get" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-kubernetes >/dev/null
fi

export KUBE_BIN_DIR=${KUBE_BIN_DIR:-$root/.cache/kube/bin}
hack/kube/build.sh

echo "test: gofmt and go vet" >&2
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [[ -n "$unformatted" ]]; then
  echo "test: gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...

echo "test: go test -race ./..." >&2
go test -race -count=1 -timeout 30m "$@" ./...

# Modules of their own, so the library's go.mod stays lean.
for mod in prometheus examples/controllerruntime bench; do
  echo "test: go test -race ./... in $mod" >&2
  (cd "$mod" && go vet ./... && go test -race -count=1 -timeout 10m "$@" ./...)
done

echo "test: fuzzing the record decoder for 15s" >&2
go test -run='^$' -fuzz=FuzzDecode -fuzztime=15s ./record/
