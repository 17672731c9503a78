package demand

import (
	"strings"
	"testing"
	"time"
)

var mon = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday

func TestSlotOf(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want int
	}{
		{mon, 0},
		{mon.Add(25*time.Hour + 59*time.Minute), 25},
		{mon.Add(7*24*time.Hour - time.Second), 167},
		{mon.Add(7 * 24 * time.Hour), 0},
	} {
		if got := SlotOf(tc.t, time.UTC); got != tc.want {
			t.Errorf("SlotOf(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

func TestBuildQuantilesDecayExclude(t *testing.T) {
	end := mon.AddDate(0, 0, 21) // 3 weeks of data
	var ss []Sample
	for w := 0; w < 3; w++ {
		// Monday 10:00 each week: demand 10·(w+1) for the whole hour.
		for m := 0; m < 60; m++ {
			ss = append(ss, Sample{mon.AddDate(0, 0, 7*w).Add(10*time.Hour + time.Duration(m)*time.Minute), float64(10 * (w + 1))})
		}
	}
	ss = append(ss, Sample{end.Add(time.Hour), 999}, Sample{mon.Add(-time.Hour), 999}) // outside the window
	p, err := Build(ss, end, Config{Weeks: 3, HalfLifeWeeks: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p.Used != 180 || p.Dropped != 2 {
		t.Fatalf("used %d dropped %d", p.Used, p.Dropped)
	}
	// Weights: newest week (30) 1, then 0.5 (20), 0.25 (10): total 1.75 per minute-sample.
	// p50 → cumulative 0.875 of 1.75: 10 has 0.25/1.75, 20 reaches 0.75/1.75 < 0.5? no: 0.75/1.75=0.43 → 30.
	if got := p.Quantile(10, 0.5); got != 30 {
		t.Errorf("p50 = %v, want 30 (decay favours the newest week)", got)
	}
	if got := p.Quantile(10, 0.1); got != 10 {
		t.Errorf("p10 = %v, want 10", got)
	}
	if got := p.Quantile(10, 1); got != 30 {
		t.Errorf("max = %v", got)
	}
	if got := p.Quantile(11, 0.9); got != 0 || p.Count(11) != 0 {
		t.Errorf("empty slot: %v", got)
	}
	// Equal weights: p50 is 20.
	p2, _ := Build(ss, end, Config{Weeks: 3, HalfLifeWeeks: 1e9})
	if got := p2.Quantile(10, 0.5); got != 20 {
		t.Errorf("equal weights p50 = %v, want 20", got)
	}
	// Excluding the newest Monday drops the 30s.
	p3, _ := Build(ss, end, Config{Weeks: 3, Exclude: []time.Time{mon.AddDate(0, 0, 14).Add(3 * time.Hour)}})
	if got := p3.Quantile(10, 1); got != 20 {
		t.Errorf("with the last Monday excluded, max = %v, want 20", got)
	}
	if r := p.Requirement(1); r[10] != 30 || len(r) != Slots {
		t.Errorf("requirement %v", r[10])
	}
	if _, err := Build(nil, end, Config{}); err == nil {
		t.Error("no samples: want an error")
	}
}

func TestParseMetricsCSV(t *testing.T) {
	ss, err := ParseMetrics(strings.NewReader("time,cu_demand\n1767603600,40\n2026-01-05T00:00:00Z,12.5\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].CU != 12.5 || !ss[0].Time.Equal(mon) || ss[1].CU != 40 {
		t.Fatalf("%+v", ss)
	}
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"t,cu\n1,2\n", "want columns time,cu_demand"},
		{"time,cu_demand\n1767603600,-1\n", "line 2: cu_demand"},
		{"time,cu_demand\n1767603600,1\nnow,1\n", "line 3: time"},
		{"time,cu_demand\n", "no samples"},
	} {
		if _, err := ParseMetrics(strings.NewReader(tc.in), ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestParseMetricsCloudEye(t *testing.T) {
	in := `[
 {"namespace":"SYS.DLI","metric_name":"queue_alloc_cu_num","dimensions":[{"name":"queue_name","value":"etl"}],"value":64,"timestamp":1767571200000},
 {"namespace":"SYS.DLI","metric_name":"queue_job_running_num","dimensions":[{"name":"queue_name","value":"etl"}],"value":2,"timestamp":1767571200000},
 {"namespace":"SYS.DLI","metric_name":"queue_job_launching_num","dimensions":[{"name":"queue_name","value":"etl"}],"value":1,"timestamp":1767571200000},
 {"namespace":"SYS.DLI","metric_name":"queue_alloc_cu_num","dimensions":[{"name":"queue_name","value":"other"}],"value":512,"timestamp":1767571200000},
 {"namespace":"SYS.DLI","metric_name":"cu_demand","dimensions":[{"name":"queue","value":"etl"}],"value":7,"timestamp":"2026-01-05T00:05:00Z"}
]`
	ss, err := ParseMetrics(strings.NewReader(in), "etl")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].CU != 64+32 || ss[1].CU != 7 {
		t.Fatalf("%+v", ss)
	}
	// One object per line, and the {"samples": [...]} wrapper.
	nd := `{"metric_name":"cu_demand","dimensions":[{"name":"queue_id","value":"q"}],"value":3,"timestamp":1767571200000}
{"metric_name":"cu_demand","dimensions":[{"name":"queue_id","value":"q"}],"value":4,"timestamp":1767571500000}`
	if ss, err := ParseMetrics(strings.NewReader(nd), "q"); err != nil || len(ss) != 2 {
		t.Fatalf("ndjson: %+v %v", ss, err)
	}
	if ss, err := ParseMetrics(strings.NewReader(`{"samples":[{"metric_name":"cu_demand","value":3,"timestamp":1767571200000}]}`), ""); err != nil || len(ss) != 1 {
		t.Fatalf("wrapper: %+v %v", ss, err)
	}
	for _, tc := range []struct{ in, want string }{
		{`[{"metric_name":"cu_demand","timestamp":1}]`, "missing or negative value"},
		{`[{"metric_name":"cu_demand","value":1,"timestamp":"yesterday"}]`, "timestamp"},
		{`[{"metric_name":"queue_cpu_usage","value":1,"timestamp":1}]`, "no cu_demand"},
		{`{"metric_name":`, "line 1"},
	} {
		if _, err := ParseMetrics(strings.NewReader(tc.in), ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add("time,cu_demand\n1767603600,40\n")
	f.Add(`[{"metric_name":"cu_demand","value":3,"timestamp":1767571200000}]`)
	f.Fuzz(func(t *testing.T, in string) {
		ss, err := ParseMetrics(strings.NewReader(in), "")
		if err != nil {
			return
		}
		for i, s := range ss {
			if s.CU < 0 || (i > 0 && s.Time.Before(ss[i-1].Time)) {
				t.Fatalf("bad sample %d: %+v", i, s)
			}
		}
	})
}

func TestDipDays(t *testing.T) {
	var ss []Sample
	for w := 0; w < 3; w++ {
		for d := 0; d < 7; d++ {
			day := mon.AddDate(0, 0, 7*w+d)
			cu := 100.0
			if d >= 5 {
				cu = 10 // weekends are quiet every week: not dips
			}
			if w == 1 && d == 2 {
				cu = 12 // a holiday Wednesday
			}
			for h := 0; h < 24; h++ {
				ss = append(ss, Sample{day.Add(time.Duration(h) * time.Hour), cu})
			}
		}
	}
	got := DipDays(ss, time.UTC, 0.5)
	if len(got) != 1 || !got[0].Equal(mon.AddDate(0, 0, 9)) {
		t.Fatalf("dip days %v, want only Wednesday of week 2", got)
	}
	if got := DipDays(ss[:24*7], nil, 0.5); len(got) != 0 {
		t.Fatalf("one week has no peers: %v", got)
	}
}
