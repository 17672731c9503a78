// Package trace reads, writes and generates job traces for the autoscale
// simulator: CSV with the header `submit_time,duration_s,cu` (contract),
// submit time as RFC 3339 or Unix seconds, duration in seconds, and the
// job's CU demand.
package trace

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Job is one job of a trace.
type Job struct {
	// Submit is when the job was submitted to the queue.
	Submit time.Time
	// Duration is how long the job runs once started.
	Duration time.Duration
	// CU is how many CUs the job holds while it runs (≥ 1).
	CU int
}

// End is the job's end if it started at submission (no wait).
func (j Job) End() time.Time { return j.Submit.Add(j.Duration) }

// Header is the CSV header of a trace.
var Header = []string{"submit_time", "duration_s", "cu"}

// MaxLineBytes bounds one CSV record; longer records are an error.
const MaxLineBytes = 4096

// ParseCSV reads a trace. The header must name the columns submit_time,
// duration_s and cu (in any order; other columns are ignored). Errors name
// the line. Jobs are returned sorted by submit time (stable).
func ParseCSV(r io.Reader) ([]Job, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("trace: empty file: want the header submit_time,duration_s,cu")
	}
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		col[strings.ToLower(h)] = i
	}
	for _, h := range Header {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("trace: line 1: header %q lacks column %q (want submit_time,duration_s,cu)", strings.Join(head, ","), h)
		}
	}
	iS, iD, iC := col["submit_time"], col["duration_s"], col["cu"]
	need := max(iS, iD, iC) + 1
	var jobs []Job
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("trace: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) < need {
			return nil, fmt.Errorf("trace: line %d: %d fields, want at least %d", line, len(rec), need)
		}
		var n int
		for _, f := range rec {
			n += len(f)
		}
		if n > MaxLineBytes {
			return nil, fmt.Errorf("trace: line %d: record longer than %d bytes", line, MaxLineBytes)
		}
		sub, err := ParseTime(rec[iS])
		if err != nil {
			return nil, fmt.Errorf("trace: line %d: submit_time: %w", line, err)
		}
		ds := strings.TrimSpace(rec[iD])
		d, err := strconv.ParseFloat(ds, 64)
		if err != nil || math.IsNaN(d) || d < 0 || d > 366*24*3600 {
			return nil, fmt.Errorf("trace: line %d: duration_s %q: want seconds in [0, 31622400]", line, ds)
		}
		cs := strings.TrimSpace(rec[iC])
		cu, err := strconv.Atoi(cs)
		if err != nil || cu < 1 || cu > 1<<20 {
			return nil, fmt.Errorf("trace: line %d: cu %q: want a whole number of CUs ≥ 1", line, cs)
		}
		jobs = append(jobs, Job{Submit: sub, Duration: time.Duration(d * float64(time.Second)), CU: cu})
	}
	sort.SliceStable(jobs, func(i, j int) bool { return jobs[i].Submit.Before(jobs[j].Submit) })
	return jobs, nil
}

// ParseTime accepts RFC 3339 (with or without fractional seconds) or Unix
// seconds (integer or decimal). The result is in UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor Unix seconds", s)
	}
	if f < 0 || f > 1e11 {
		return time.Time{}, fmt.Errorf("%q: Unix seconds out of range", s)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// WriteCSV writes jobs as a trace: RFC 3339 submit times in UTC, durations
// in seconds.
func WriteCSV(w io.Writer, jobs []Job) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	for _, j := range jobs {
		rec := []string{
			j.Submit.UTC().Format(time.RFC3339Nano),
			strconv.FormatFloat(j.Duration.Seconds(), 'f', -1, 64),
			strconv.Itoa(j.CU),
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Demand returns the unconstrained CU demand per minute over [from, to):
// element i is the largest Σ CU of jobs that would be running at any instant
// of minute i if every job started at submission. It is the "running +
// waiting CU" signal a queue with unbounded capacity would show.
func Demand(jobs []Job, from, to time.Time) []int {
	n := int(to.Sub(from) / time.Minute)
	if n <= 0 {
		return nil
	}
	type ev struct {
		t  int64 // seconds since from
		cu int
	}
	evs := make([]ev, 0, 2*len(jobs))
	lo, hi := int64(0), int64(n)*60
	for _, j := range jobs {
		s := int64(j.Submit.Sub(from) / time.Second)
		e := int64(j.End().Sub(from)+time.Second-1) / int64(time.Second)
		if e <= lo || s >= hi || e <= s {
			continue
		}
		evs = append(evs, ev{max(s, lo), j.CU}, ev{min(e, hi), -j.CU})
	}
	sort.Slice(evs, func(a, b int) bool {
		if evs[a].t != evs[b].t {
			return evs[a].t < evs[b].t
		}
		return evs[a].cu < evs[b].cu // ends before starts at the same second
	})
	out := make([]int, n)
	cur := 0
	i := 0
	for m := 0; m < n; m++ {
		start, end := int64(m)*60, int64(m+1)*60
		for i < len(evs) && evs[i].t <= start {
			cur += evs[i].cu
			i++
		}
		peak := cur
		for i < len(evs) && evs[i].t < end {
			cur += evs[i].cu
			i++
			peak = max(peak, cur)
		}
		out[m] = peak
	}
	return out
}
