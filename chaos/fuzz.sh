#!/bin/sh
# Runs every `go test -fuzz` target in the module for FUZZTIME each
# (default 30s). Targets are discovered with `go test -list 'Fuzz.*'` per
# package, so new ones are picked up without editing this file. A crash
# leaves its input under the package's testdata/fuzz/<Target>/ (commit it:
# it becomes a regression test that plain `go test` runs) and makes the
# script exit non-zero after all targets ran.
#   FUZZTIME=10s PKGS=./pkg/events/... sh chaos/fuzz.sh
set -u
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
PKGS=${PKGS:-./...}
failed=""
count=0
for pkg in $($GO list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' $PKGS); do
	targets=$($GO test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
	for t in $targets; do
		count=$((count + 1))
		echo "== $pkg $t ($FUZZTIME)"
		if ! $GO test -run '^$' -fuzz "^${t}\$" -fuzztime "$FUZZTIME" "$pkg"; then
			failed="$failed $pkg.$t"
		fi
	done
done
echo "== $count fuzz targets run for $FUZZTIME each"
if [ -n "$failed" ]; then
	echo "FAILED:$failed"
	exit 1
fi
