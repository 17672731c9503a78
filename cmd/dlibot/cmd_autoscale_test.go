package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const asTestdata = "../../functions/autoscale/testdata"

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestAutoscaleSimulateGolden(t *testing.T) {
	out, errs, code := runCmd(t, "autoscale", "simulate", "--trace", filepath.Join(asTestdata, "small.csv"), "--format", "json", "--seed", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden := filepath.Join(asTestdata, "simulate_small.golden.json")
	if updateGolden() {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Fatalf("simulate output differs from %s (run with -update to accept):\n%s", golden, out)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("%d rows, want one per policy", len(rows))
	}
	for _, r := range rows {
		for _, k := range []string{"policy", "cu_hours", "wait_p50_s", "wait_p95_s", "wait_p99_s", "changes_per_week", "violations"} {
			if _, ok := r[k]; !ok {
				t.Errorf("row %v lacks %q", r["policy"], k)
			}
		}
	}
	// --limits adds the two oracle rows after the policies.
	out, errs, code = runCmd(t, "autoscale", "simulate", "--trace", filepath.Join(asTestdata, "small.csv"), "--format", "json", "--limits")
	if code != 0 {
		t.Fatalf("--limits: exit %d\n%s", code, errs)
	}
	rows = nil
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("--limits: %v\n%s", err, out)
	}
	if n := len(rows); n != 8 || rows[6]["policy"] != "dlibot@best-knob" || rows[7]["policy"] != "seasonal-naive@hindsight-p95" {
		t.Errorf("--limits: %d rows, last two %v and %v", n, rows[n-2]["policy"], rows[n-1]["policy"])
	}
	if _, errs, code = runCmd(t, "autoscale", "simulate", "--trace", filepath.Join(asTestdata, "small.csv"), "--policies", "dlibot", "--limits"); code == 0 || !strings.Contains(errs, "hindsight") {
		t.Errorf("--limits without hindsight: exit %d, %s", code, errs)
	}
	// The table form and a policy subset.
	out, errs, code = runCmd(t, "autoscale", "simulate", "--trace", filepath.Join(asTestdata, "small.csv"), "--policies", "static-peak,dlibot")
	if code != 0 || !strings.Contains(out, "dlibot") || strings.Contains(out, "hindsight") {
		t.Fatalf("table: exit %d\n%s%s", code, out, errs)
	}
}

func TestAutoscaleErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte("submit_time,duration_s,cu\n2026-01-05T00:00:00Z,10,16\n2026-01-05T00:01:00Z,ten,16\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"autoscale"}, "missing sub-command"},
		{[]string{"autoscale", "frobnicate"}, "unknown sub-command"},
		{[]string{"autoscale", "simulate"}, "--trace FILE is required"},
		{[]string{"autoscale", "simulate", "--trace", bad}, "line 3: duration_s"},
		{[]string{"autoscale", "simulate", "--trace", bad, "--format", "xml"}, "--format"},
		{[]string{"autoscale", "simulate", "--trace", filepath.Join(asTestdata, "small.csv"), "--policies", "magic"}, "unknown policy"},
		{[]string{"autoscale", "simulate", "--bogus"}, "bogus"},
		{[]string{"autoscale", "gen-trace"}, "--preset is required"},
		{[]string{"autoscale", "gen-trace", "--preset", "nope"}, "unknown preset"},
		{[]string{"autoscale", "plan", "--metrics", "x"}, "--queue is required"},
		{[]string{"autoscale", "plan", "--queue", "q", "--metrics", filepath.Join(asTestdata, "metrics.csv"), "--quantile", "2"}, "--quantile"},
		{[]string{"autoscale", "plan", "--queue", "q", "--metrics", filepath.Join(asTestdata, "metrics.csv"), "--min-cu", "10"}, "min CU"},
	} {
		_, errs, code := runCmd(t, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want it to mention %q", tc.args, code, errs, tc.want)
		}
	}
}

func TestAutoscaleHelp(t *testing.T) {
	for _, sub := range []string{"simulate", "gen-trace", "plan"} {
		out, errs, code := runCmd(t, "autoscale", sub, "--help")
		if code != 0 || !strings.Contains(out, "Usage: dlibot autoscale "+sub) || !strings.Contains(out, "-") {
			t.Errorf("%s --help: exit %d\n%s%s", sub, code, out, errs)
		}
	}
	if out, _, code := runCmd(t, "autoscale", "--help"); code != 0 || !strings.Contains(out, "gen-trace") {
		t.Errorf("autoscale --help: exit %d\n%s", code, out)
	}
}

func TestAutoscaleGenTrace(t *testing.T) {
	a, _, code := runCmd(t, "autoscale", "gen-trace", "--preset", "bursty", "--weeks", "1", "--seed", "4", "--scale", "0.1")
	if code != 0 || !strings.HasPrefix(a, "submit_time,duration_s,cu\n") {
		t.Fatalf("exit %d: %.200s", code, a)
	}
	b, _, _ := runCmd(t, "autoscale", "gen-trace", "--preset", "bursty", "--weeks", "1", "--seed", "4", "--scale", "0.1")
	if a != b {
		t.Fatal("same seed, different traces")
	}
	path := filepath.Join(t.TempDir(), "t.csv")
	if _, errs, code := runCmd(t, "autoscale", "gen-trace", "--preset", "etl-nightly", "--weeks", "2", "--out", path); code != 0 || !strings.Contains(errs, "etl-nightly:") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if st, err := os.Stat(path); err != nil || st.Size() < 1000 {
		t.Fatalf("trace file: %v %v", st, err)
	}
}

// TestAutoscalePlanProjectsGrowth: like the service, `plan` estimates a
// growing queue's weekly growth (4 or more weeks) and plans for it;
// --no-trend plans on the history as it was.
func TestAutoscalePlanProjectsGrowth(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("time,cu_demand\n")
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday
	for w := range 5 {
		for h := range 7 * 24 {
			cu := 64.0
			if h%24 >= 8 && h%24 < 18 {
				cu = 256
			}
			cu *= math.Pow(1.05, float64(w)) // +5 % a week
			for m := 0; m < 60; m += 15 {
				fmt.Fprintf(&sb, "%d,%.1f\n", start.Add(time.Duration(w*7*24+h)*time.Hour+time.Duration(m)*time.Minute).Unix(), cu)
			}
		}
	}
	metrics := filepath.Join(t.TempDir(), "growing.csv")
	if err := os.WriteFile(metrics, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(extra ...string) (growth, cuHours float64) {
		t.Helper()
		out, errs, code := runCmd(t, append([]string{"autoscale", "plan", "--queue", "etl", "--metrics", metrics, "--format", "json"}, extra...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var got struct {
			Growth  float64 `json:"growth_per_week"`
			CUHours float64 `json:"expected_cu_hours_per_week"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		return got.Growth, got.CUHours
	}
	g, withTrend := run()
	if g < 0.04 || g > 0.06 {
		t.Errorf("growth_per_week = %v, want ≈ 0.05", g)
	}
	g, without := run("--no-trend")
	if g != 0 || without >= withTrend {
		t.Errorf("--no-trend: growth %v, %.0f CU-hours/week; with the trend %.0f", g, without, withTrend)
	}
	if out, _, _ := runCmd(t, "autoscale", "plan", "--queue", "etl", "--metrics", metrics); !strings.Contains(out, "weekly growth +5.0 %") {
		t.Errorf("table output does not say the growth:\n%s", out)
	}
}

func TestAutoscalePlan(t *testing.T) {
	png := filepath.Join(t.TempDir(), "plan.png")
	out, errs, code := runCmd(t, "autoscale", "plan", "--queue", "etl", "--metrics", filepath.Join(asTestdata, "metrics.csv"),
		"--chart", png, "--format", "json", "--min-cu", "64", "--valid-from", "2026-02-02")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Changes []struct {
			Minute int `json:"minute_of_week"`
			Target int `json:"target_cu"`
		} `json:"changes"`
		Plans []struct {
			Name   string   `json:"plan_name"`
			Target int      `json:"target_cu"`
			Hour   int      `json:"start_hour"`
			Minute int      `json:"start_minute"`
			Days   []string `json:"repeat_day"`
			Begin  int64    `json:"valid_date_begin"`
		} `json:"plans"`
		CUHours float64 `json:"expected_cu_hours_per_week"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Plans) == 0 || len(got.Plans) > 12 || got.CUHours <= 0 {
		t.Fatalf("plan: %+v", got)
	}
	firings := 0
	for _, p := range got.Plans {
		if !strings.HasPrefix(p.Name, "dlibot_") || p.Target%16 != 0 || p.Target < 64 || len(p.Days) == 0 || p.Begin != 1769990400000 {
			t.Fatalf("plan %+v", p)
		}
		firings += len(p.Days)
	}
	if firings != len(got.Changes) {
		t.Fatalf("%d plan firings for %d changes", firings, len(got.Changes))
	}
	assertPNG(t, png)
	// Table output.
	out, _, code = runCmd(t, "autoscale", "plan", "--queue", "etl", "--metrics", filepath.Join(asTestdata, "metrics.csv"))
	if code != 0 || !strings.Contains(out, "plan_name") || !strings.Contains(out, "dlibot_") {
		t.Fatalf("table: %s", out)
	}
	// Another time zone moves the plans; a bad one is an error.
	sh, errs, code := runCmd(t, "autoscale", "plan", "--queue", "etl", "--metrics", filepath.Join(asTestdata, "metrics.csv"), "--tz", "Asia/Shanghai")
	if code != 0 || sh == out {
		t.Fatalf("--tz Asia/Shanghai: exit %d, same plans as UTC: %v\n%s", code, sh == out, errs)
	}
	if _, errs, code := runCmd(t, "autoscale", "plan", "--queue", "etl", "--metrics", filepath.Join(asTestdata, "metrics.csv"), "--tz", "Mars/Olympus"); code == 0 || !strings.Contains(errs, "--tz") {
		t.Fatalf("bad --tz: exit %d %s", code, errs)
	}
	// Cloud Eye JSON input.
	out, errs, code = runCmd(t, "autoscale", "plan", "--queue", "etl", "--metrics", filepath.Join(asTestdata, "cloudeye.json"), "--format", "json")
	if code != 0 || !strings.Contains(out, `"plans"`) {
		t.Fatalf("cloud eye: exit %d %s %s", code, out, errs)
	}
}

func assertPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("chart is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 520 {
		t.Fatalf("chart size %v", b)
	}
}
