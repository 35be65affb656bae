#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy into $KUBE_BIN_DIR
# (default: .cache/kube/bin at the repository root, git-ignored).
# Cold: several minutes and ~3 GB of Go build cache; warm: about a second.
# Progress goes to stderr so a first run is never a silent wait.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${KUBE_BIN_DIR:-$root/.cache/kube/bin}
mkdir -p "$out"
cd "$here"

version=v1.37.0
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
pkgs=(k8s.io/kubernetes/cmd/kube-apiserver go.etcd.io/etcd/server/v3)

export CGO_ENABLED=0
echo "kube: downloading modules for kube-apiserver $version and etcd v3.7.0" >&2
go mod download
total=$(go list -deps "${pkgs[@]}" | wc -l)
echo "kube: compiling $total packages (cached ones are skipped)" >&2
start=$SECONDS
n=0
# go build -v names each package as it compiles it: count them for progress.
go build -v -trimpath -ldflags "$ldflags" -o "$out/" "${pkgs[@]}" 2>&1 |
  while IFS= read -r line; do
    case "$line" in
      *" "*|*:*) echo "$line" >&2 ;;   # compiler errors, not package names
      *) n=$((n + 1))
         if (( n % 100 == 0 )); then
           echo "kube: compiled $n/$total packages ($((SECONDS - start))s)" >&2
         fi ;;
    esac
  done
status=${PIPESTATUS[0]}
if (( status != 0 )); then
  echo "kube: build failed" >&2
  exit "$status"
fi
# go build names the etcd binary after its package directory, "server".
mv -f "$out/server" "$out/etcd"
echo "kube: kube-apiserver and etcd ready in $out ($((SECONDS - start))s)" >&2
