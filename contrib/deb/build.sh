#!/bin/sh
# Builds the textback .deb from the repository:
#
#	contrib/deb/build.sh 0.1.0 dist/
#
# VERSION defaults to the version `git describe` gives, the output
# directory to dist/, the architecture to GOARCH (amd64, arm64, armhf via
# GOARCH=arm GOARM=7). nfpm is pinned: go run fetches that version.
set -eu
cd "$(dirname "$0")/../.."
VERSION=${1:-$(git describe --tags --always 2>/dev/null | sed 's/^v//')}
OUT=${2:-dist}
GOARCH=${GOARCH:-$(go env GOARCH)}
case "$GOARCH" in
arm) ARCH=armhf ;;
*) ARCH=$GOARCH ;;
esac
mkdir -p "$OUT"
BIN="$OUT/textback-linux-$GOARCH"
CGO_ENABLED=0 GOOS=linux GOARCH=$GOARCH go build -trimpath \
	-ldflags "-s -w -X main.version=$VERSION" -o "$BIN" ./cmd/textback
# nfpm expands the environment in version and arch but not in a file's
# source, so the binary's path is put in a copy of the config.
CONF="$OUT/nfpm.yaml"
sed "s|@BIN@|$BIN|" contrib/deb/nfpm.yaml >"$CONF"
VERSION=$VERSION ARCH=$ARCH \
	go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2 package \
	--config "$CONF" --packager deb --target "$OUT/"
rm -f "$CONF"
