package trace

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseCSV(t *testing.T) {
	in := "submit_time,duration_s,cu\n" +
		"2026-01-05T08:00:00Z,60,16\n" +
		"1767600000,90.5,32\n" +
		"\n" +
		"2026-01-05T07:00:00+01:00,0,64\n"
	jobs, err := ParseCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Job{
		{time.Date(2026, 1, 5, 6, 0, 0, 0, time.UTC), 0, 64},
		{time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC), time.Minute, 16},
		{time.Unix(1767600000, 0).UTC(), 90500 * time.Millisecond, 32},
	}
	if !reflect.DeepEqual(jobs, want) {
		t.Fatalf("got %+v\nwant %+v", jobs, want)
	}
	// Column order is free; extra columns are ignored.
	jobs, err = ParseCSV(strings.NewReader("cu,queue,duration_s,submit_time\n16,a,5,1767600000\n"))
	if err != nil || len(jobs) != 1 || jobs[0].CU != 16 || jobs[0].Duration != 5*time.Second {
		t.Fatalf("reordered columns: %+v %v", jobs, err)
	}
}

func TestParseCSVErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty file"},
		{"time,duration_s,cu\n", `lacks column "submit_time"`},
		{"submit_time,duration_s,cu\n2026-01-05T08:00:00Z,60,16\nyesterday,60,16\n", "line 3: submit_time"},
		{"submit_time,duration_s,cu\n2026-01-05T08:00:00Z,-1,16\n", "line 2: duration_s"},
		{"submit_time,duration_s,cu\n2026-01-05T08:00:00Z,NaN,16\n", "line 2: duration_s"},
		{"submit_time,duration_s,cu\n2026-01-05T08:00:00Z,60,0\n", "line 2: cu"},
		{"submit_time,duration_s,cu\n2026-01-05T08:00:00Z,60,1.5\n", "line 2: cu"},
		{"submit_time,duration_s,cu\n\n\n2026-01-05T08:00:00Z,60\n", "line 4: 2 fields"},
		{"submit_time,duration_s,cu\n-5,60,16\n", "line 2: submit_time"},
		{"submit_time,duration_s,cu\n\"2026,60,16\n", "trace:"},
	} {
		_, err := ParseCSV(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func TestWriteParseRoundTrip(t *testing.T) {
	g, err := Generate(presets["bursty"], GenOptions{Weeks: 1, Seed: 3, Scale: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, g.Jobs); err != nil {
		t.Fatal(err)
	}
	back, err := ParseCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, g.Jobs) {
		t.Fatal("round trip changed the jobs")
	}
}

func TestGenerateDeterministicAndShaped(t *testing.T) {
	for _, name := range Presets() {
		p, _ := LookupPreset(name)
		a, err := Generate(p, GenOptions{Weeks: 2, Seed: 42})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Generate(p, GenOptions{Weeks: 2, Seed: 42})
		c, _ := Generate(p, GenOptions{Weeks: 2, Seed: 43})
		if !reflect.DeepEqual(a.Jobs, b.Jobs) {
			t.Fatalf("%s: same seed, different traces", name)
		}
		if reflect.DeepEqual(a.Jobs, c.Jobs) {
			t.Fatalf("%s: different seeds, same trace", name)
		}
		if len(a.Jobs) < 1000 {
			t.Fatalf("%s: only %d jobs in 2 weeks", name, len(a.Jobs))
		}
		for _, j := range a.Jobs {
			if j.Submit.Before(a.Start) || !j.Submit.Before(a.Start.AddDate(0, 0, 14)) || j.CU < 1 || j.Duration <= 0 {
				t.Fatalf("%s: bad job %+v", name, j)
			}
		}
	}
	// Business hours: weekday 10:00 is much busier than 03:00.
	p, _ := LookupPreset("business-hours")
	g, _ := Generate(p, GenOptions{Weeks: 1, Seed: 1})
	var day, night int
	for _, j := range g.Jobs {
		if j.Submit.Weekday() >= time.Monday && j.Submit.Weekday() <= time.Friday {
			switch j.Submit.Hour() {
			case 10:
				day++
			case 3:
				night++
			}
		}
	}
	if day < 10*night {
		t.Fatalf("weekday 10:00 has %d jobs, 03:00 %d: no business-hours shape", day, night)
	}
	if _, err := LookupPreset("nope"); err == nil {
		t.Fatal("unknown preset: want an error")
	}
	if _, err := Generate(p, GenOptions{Weeks: 0}); err == nil {
		t.Fatal("0 weeks: want an error")
	}
}

func TestDemand(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	jobs := []Job{
		{t0.Add(30 * time.Second), 90 * time.Second, 16}, // 0:30–2:00
		{t0.Add(60 * time.Second), 30 * time.Second, 32}, // 1:00–1:30
		{t0.Add(120 * time.Second), time.Minute, 64},     // 2:00–3:00
	}
	got := Demand(jobs, t0, t0.Add(4*time.Minute))
	want := []int{16, 48, 64, 0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("demand %v, want %v", got, want)
	}
}

func TestMondayOnOrBefore(t *testing.T) {
	got := MondayOnOrBefore(time.Date(2026, 1, 11, 23, 0, 0, 0, time.UTC)) // Sunday
	if want := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("%v, want %v", got, want)
	}
}

func FuzzParseCSV(f *testing.F) {
	f.Add("submit_time,duration_s,cu\n2026-01-05T08:00:00Z,60,16\n")
	f.Add("submit_time,duration_s,cu\n1767600000.5,1e3,32\n")
	f.Add("cu,submit_time,duration_s\n1,0,0\n")
	f.Add("submit_time,duration_s,cu\n\"x\ny\",1,1\n")
	f.Fuzz(func(t *testing.T, in string) {
		jobs, err := ParseCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, jobs); err != nil {
			t.Fatal(err)
		}
		back, err := ParseCSV(&buf)
		if err != nil {
			t.Fatalf("re-parse of written trace: %v", err)
		}
		if len(back) != len(jobs) {
			t.Fatalf("%d jobs became %d", len(jobs), len(back))
		}
		for i := range jobs {
			if !back[i].Submit.Equal(jobs[i].Submit) || back[i].CU != jobs[i].CU {
				t.Fatalf("job %d changed: %+v → %+v", i, jobs[i], back[i])
			}
		}
	})
}
