#!/usr/bin/env bash
# bench/run.sh — the `make bench` harness (docs/benchmarks.md).
#
# Runs every Go benchmark of the packages in PKGS, each with the -benchtime it
# needs (table below; a benchmark the table does not name runs with
# DEFAULT_BENCHTIME, so new benchmarks are included without editing this file),
# then the figures that are not Go benchmarks (Lambda bootstrap size, the
# autoscale simulator on the presets). Raw output goes to OUT/<pkg>.txt
# (`go test` benchmark format, readable by benchstat); a summary is printed and
# written to OUT/summary.txt.
#
# Benchmarks are discovered per package with the test binary's -test.list
# (what `go test -list` prints); each test binary is built once with
# `go test -c` and run in its package directory.
#
# Environment (all optional):
#   PKGS               package patterns (default ./...)
#   BENCH              extended regex; only benchmarks whose name matches run
#                      (default: all)
#   BENCHTIME          if set, overrides every benchtime below (e.g. 1x for a
#                      smoke run)
#   DEFAULT_BENCHTIME  benchtime of benchmarks the table does not name (1s)
#   COUNT              -count for every benchmark (1)
#   EXTRAS             1 (default) also measures the non-Go figures; 0 skips them
#   OUT                output directory (bin/bench)
#   GO                 go command (go)
#   TIMEOUT            -test.timeout per test binary run (20m; chaos's ServeJobwatch25k
#                      takes 4–5 min per count)
set -u

GO=${GO:-go}
PKGS=${PKGS:-./...}
BENCH=${BENCH:-}
BENCHTIME=${BENCHTIME:-}
DEFAULT_BENCHTIME=${DEFAULT_BENCHTIME:-1s}
COUNT=${COUNT:-1}
EXTRAS=${EXTRAS:-1}
OUT=${OUT:-bin/bench}
TIMEOUT=${TIMEOUT:-20m}

# The benchtime each benchmark needs, from the engineers' recorded runs
# (docs/benchmarks.md). Columns: package import path relative to the module,
# an extended regex on the benchmark's name (anchored), benchtime. The first
# row whose package and regex match wins.
TABLE='
pkg/dli                    .*                         2s
pkg/dli/dlitest            .*                         1s
pkg/events                 Pipeline                   10000x
pkg/events                 Decode.*|Marshal           1s
pkg/host                   HTTPPipeline               5000x
pkg/host                   IngestGuard                20000x
pkg/host                   EMFFlush                   3000x
pkg/notify                 .*                         500ms
functions/jobwatch         Poll25k                    10x
functions/obsimport        Intake                     10000x
functions/obsimport        SubmitLatency              300x
functions/obsimport        Burst|Redelivery           1x
functions/chatops          VerifyParsePolicy          20000x
functions/chatops          AckReadCommand200RPS       2000x
functions/chatops          DeferStore                 2000x
functions/autoscale        .*                         1s
functions/autoscale/sim    .*                         1x
functions/autoscale/plan   .*                         1s
e2e                        Lambda.*                   10x
chaos                      ServeIngest                5000x
chaos                      ChatopsReadCommand         2000x
chaos                      ServeAutoscaleNet          30x
chaos                      ServeAutoscale             3000x
chaos                      ServeJobwatch25k           1x
'

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
MODULE=$($GO list -m) || exit 1
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
SUMMARY=$OUT/summary.txt
START=$(date +%s)

header() {
	echo "# date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "# load: $(uptime | sed 's/.*load average/load average/')"
	echo "# cpus: $(nproc)  $($GO version)"
	echo "# commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' (work tree has uncommitted changes)')"
}

benchtime_for() { # pkg name
	local pkg=$1 name=${2#Benchmark} p re t
	if [ -n "$BENCHTIME" ]; then echo "$BENCHTIME"; return; fi
	while read -r p re t; do
		[ -z "$p" ] && continue
		if [ "$p" = "$pkg" ] && echo "$name" | grep -Eqx "$re"; then
			echo "$t"
			return
		fi
	done <<EOF
$TABLE
EOF
	echo "$DEFAULT_BENCHTIME"
}

{ header; echo "# PKGS=$PKGS BENCH=${BENCH:-(all)} BENCHTIME=${BENCHTIME:-(per benchmark)} COUNT=$COUNT"; } >"$SUMMARY"
cat "$SUMMARY"

# Packages with a benchmark in their test files (cheap pre-filter, so only
# those test binaries are built).
pkgs=$($GO list -f '{{.ImportPath}}|{{.Dir}}|{{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' $PKGS) || exit 1
failed=""
while IFS='|' read -r ipath dir files; do
	[ -z "$files" ] || [ "$files" = " " ] && continue
	(cd "$dir" && grep -lq '^func Benchmark' $files 2>/dev/null) || continue
	rel=${ipath#"$MODULE"}
	rel=${rel#/}
	[ -z "$rel" ] && rel=.
	slug=$(echo "$rel" | tr '/' '_')
	bin=$OUT/$slug.test
	raw=$OUT/$slug.txt
	echo "== $rel: building test binary"
	if ! $GO test -c -o "$bin" "$ipath" >"$OUT/$slug.build.log" 2>&1; then
		echo "!! $rel: build failed (see $OUT/$slug.build.log)"
		failed="$failed $rel(build)"
		continue
	fi
	rm -f "$OUT/$slug.build.log"
	[ -x "$bin" ] || continue
	names=$(cd "$dir" && "$bin" -test.list '^Benchmark' 2>/dev/null | grep '^Benchmark')
	if [ -n "$BENCH" ]; then
		names=$(echo "$names" | grep -E -- "$BENCH")
	fi
	[ -z "$names" ] && { rm -f "$bin"; continue; }
	# Group the benchmarks by benchtime: one run of the binary per group.
	groups=$(for n in $names; do echo "$(benchtime_for "$rel" "$n") $n"; done | sort -k1,1 -s)
	header >"$raw"
	for t in $(echo "$groups" | awk '{print $1}' | uniq); do
		sel=$(echo "$groups" | awk -v t="$t" '$1 == t {print $2}' | paste -sd'|' -)
		echo "== $rel: -bench '^($sel)\$' -benchtime $t -count $COUNT"
		echo "# go test -run '^\$' -bench '^($sel)\$' -benchmem -benchtime $t -count $COUNT ./$rel" >>"$raw"
		s=$(date +%s)
		(cd "$dir" && "$bin" -test.run '^$' -test.bench "^($sel)\$" -test.benchmem \
			-test.benchtime "$t" -test.count "$COUNT" -test.timeout "$TIMEOUT") >>"$raw" 2>&1
		rc=$?
		echo "# exit $rc after $(($(date +%s) - s))s" >>"$raw"
		[ $rc -ne 0 ] && { echo "!! $rel: exit $rc (see $raw)"; failed="$failed $rel"; }
	done
	rm -f "$bin"
	{
		echo
		echo "## $rel  ($raw)"
		grep -E '^Benchmark|^--- (FAIL|SKIP)|^\s+\S+_test.go:[0-9]+: (skip|SKIP)' "$raw" | sed -E 's/[[:space:]]+/ /g'
	} >>"$SUMMARY"
done <<EOF
$pkgs
EOF

# --- figures that are not Go benchmarks -------------------------------------
if [ "$EXTRAS" = 1 ] && { [ -z "$BENCH" ] || echo bootstrap | grep -Eq -- "$BENCH"; } && [ "$PKGS" = ./... ]; then
	raw=$OUT/bootstrap.txt
	echo "== Lambda bootstrap size: make bootstrap ARTIFACTS_DIR=$OUT/lambda"
	{
		header
		echo "# make bootstrap ARTIFACTS_DIR=$OUT/lambda"
		if make -s bootstrap ARTIFACTS_DIR="$OUT/lambda" GO="$GO" >/dev/null; then
			b=$(wc -c <"$OUT/lambda/bootstrap")
			g=$(gzip -9 -c "$OUT/lambda/bootstrap" | wc -c)
			echo "bootstrap (linux/arm64, -s -w) $b bytes = $(awk -v b="$b" 'BEGIN{printf "%.1f MB", b/1e6}')"
			echo "bootstrap gzip -9 $g bytes = $(awk -v b="$g" 'BEGIN{printf "%.1f MB", b/1e6}')"
		else
			echo "make bootstrap failed"
		fi
	} >"$raw" 2>&1
	{ echo; echo "## Lambda bootstrap ($raw)"; grep -v '^#' "$raw"; } >>"$SUMMARY"
fi

if [ "$EXTRAS" = 1 ] && { [ -z "$BENCH" ] || echo simulate | grep -Eq -- "$BENCH"; } && [ "$PKGS" = ./... ]; then
	raw=$OUT/autoscale-simulate.txt
	dl=$OUT/dlibot
	echo "== autoscale simulate on the presets (4 weeks, seed 1, 2 training weeks, --equal-wait)"
	header >"$raw"
	if $GO build -o "$dl" ./cmd/dlibot >>"$raw" 2>&1; then
		for p in business-hours etl-nightly bursty; do
			{
				echo
				echo "# dlibot autoscale gen-trace --preset $p --weeks 4 --seed 1 --out $OUT/trace-$p.csv"
				echo "# dlibot autoscale simulate --trace $OUT/trace-$p.csv --train-weeks 2 --equal-wait --format table"
			} >>"$raw"
			s=$(date +%s.%N)
			"$dl" autoscale gen-trace --preset "$p" --weeks 4 --seed 1 --out "$OUT/trace-$p.csv" >>"$raw" 2>&1 &&
				"$dl" autoscale simulate --trace "$OUT/trace-$p.csv" --train-weeks 2 --equal-wait --format table >>"$raw" 2>&1
			echo "# exit $? after $(awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')s wall" >>"$raw"
		done
		{
			echo
			echo "# 100k jobs: dlibot autoscale gen-trace --preset business-hours --weeks 4 --seed 1 --scale 7"
			echo "#            dlibot autoscale simulate --trace … --max-cu 4096 --format table"
		} >>"$raw"
		"$dl" autoscale gen-trace --preset business-hours --weeks 4 --seed 1 --scale 7 --out "$OUT/trace-100k.csv" >>"$raw" 2>&1
		echo "# jobs in trace: $(($(wc -l <"$OUT/trace-100k.csv") - 1))" >>"$raw"
		s=$(date +%s.%N)
		"$dl" autoscale simulate --trace "$OUT/trace-100k.csv" --max-cu 4096 --format table >>"$raw" 2>&1
		echo "# exit $? after $(awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')s wall (target < 10 s)" >>"$raw"
		rm -f "$dl" "$OUT"/trace-*.csv
	else
		echo "!! go build ./cmd/dlibot failed (see $raw)"
		failed="$failed simulate(build)"
	fi
	{ echo; echo "## autoscale simulate ($raw)"; grep -Ev '^# (date|load|cpus|commit)|^$' "$raw"; } >>"$SUMMARY"
fi

{
	echo
	echo "# total $(($(date +%s) - START))s; load at the end: $(uptime | sed 's/.*load average/load average/')"
	[ -n "$failed" ] && echo "# FAILED:$failed"
} >>"$SUMMARY"
echo
cat "$SUMMARY"
[ -z "$failed" ]
