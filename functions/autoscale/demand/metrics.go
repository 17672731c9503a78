package demand

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Cloud Eye metric names (namespace SYS.DLI) that ParseMetrics understands.
const (
	MetricAllocCU   = "queue_alloc_cu_num"
	MetricCU        = "queue_cu_num"
	MetricRunning   = "queue_job_running_num"
	MetricLaunching = "queue_job_launching_num"
	// MetricCUDemand is dlibot's own metric: the queue's CU demand
	// (running + waiting CUs) when the sender knows it.
	MetricCUDemand = "cu_demand"
)

// MaxMetricsBytes bounds a metrics file.
const MaxMetricsBytes = 256 << 20

// ParseMetrics reads demand samples for queue from a metrics file in one of
// two forms, told apart by the first non-blank byte:
//
//   - CSV with the header `time,cu_demand` (time as RFC 3339 or Unix
//     seconds); queue is ignored.
//   - JSON Cloud Eye style samples: an array, an object {"samples": [...]},
//     or one object per line. Each sample has namespace ("SYS.DLI"),
//     metric_name, dimensions [{"name": "queue_name"|"queue"|"queue_id",
//     "value": Q}], value and timestamp (RFC 3339 or Unix milliseconds).
//     Samples of other queues (when queue is set) and namespaces are skipped.
//     Per timestamp, demand = cu_demand if present, else allocated CUs
//     (queue_alloc_cu_num, or queue_cu_num) plus the launching jobs times the
//     mean CUs of a running job (at least 16): the waiting work estimated from
//     the job counts.
//
// Samples are returned sorted by time.
func ParseMetrics(r io.Reader, queue string) ([]Sample, error) {
	br := bufio.NewReader(io.LimitReader(r, MaxMetricsBytes+1))
	for {
		b, err := br.Peek(1)
		if err != nil {
			return nil, errors.New("demand: empty metrics file")
		}
		if b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t' {
			_, _ = br.ReadByte()
			continue
		}
		if b[0] == '[' || b[0] == '{' {
			return parseCloudEye(br, queue)
		}
		return parseDemandCSV(br)
	}
}

func parseDemandCSV(r io.Reader) ([]Sample, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("demand: metrics CSV: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	it, ok1 := col["time"]
	ic, ok2 := col["cu_demand"]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("demand: metrics CSV line 1: header %q: want columns time,cu_demand", strings.Join(head, ","))
	}
	var out []Sample
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("demand: metrics CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) <= max(it, ic) {
			return nil, fmt.Errorf("demand: metrics CSV line %d: %d fields", line, len(rec))
		}
		t, err := parseTime(rec[it])
		if err != nil {
			return nil, fmt.Errorf("demand: metrics CSV line %d: time: %w", line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[ic]), 64)
		if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("demand: metrics CSV line %d: cu_demand %q: want a number ≥ 0", line, rec[ic])
		}
		out = append(out, Sample{Time: t, CU: v})
	}
	if len(out) == 0 {
		return nil, errors.New("demand: metrics CSV has no samples")
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Time.Before(out[b].Time) })
	return out, nil
}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor Unix seconds", s)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

type ceSample struct {
	Namespace  string `json:"namespace"`
	MetricName string `json:"metric_name"`
	Dimensions []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"dimensions"`
	Value     *float64        `json:"value"`
	Timestamp json.RawMessage `json:"timestamp"`
}

func (s ceSample) queue() string {
	for _, pref := range []string{"queue_name", "queue", "queue_id"} {
		for _, d := range s.Dimensions {
			if d.Name == pref {
				return d.Value
			}
		}
	}
	return ""
}

func parseCloudEye(r io.Reader, queue string) ([]Sample, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("demand: %w", err)
	}
	if len(data) > MaxMetricsBytes {
		return nil, fmt.Errorf("demand: metrics file larger than %d bytes", MaxMetricsBytes)
	}
	var raw []ceSample
	trim := bytes.TrimSpace(data)
	switch {
	case trim[0] == '[':
		if err := json.Unmarshal(trim, &raw); err != nil {
			return nil, fmt.Errorf("demand: metrics JSON: %w", err)
		}
	default:
		var wrap struct {
			Samples []ceSample `json:"samples"`
		}
		if err := json.Unmarshal(trim, &wrap); err == nil && wrap.Samples != nil {
			raw = wrap.Samples
			break
		}
		for i, line := range bytes.Split(trim, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			var s ceSample
			if err := json.Unmarshal(line, &s); err != nil {
				return nil, fmt.Errorf("demand: metrics JSON line %d: %w", i+1, err)
			}
			raw = append(raw, s)
		}
	}
	type agg struct {
		alloc, cu, running, launching, demand float64
		has                                   [5]bool
	}
	byTime := map[time.Time]*agg{}
	for i, s := range raw {
		if s.Namespace != "" && s.Namespace != "SYS.DLI" {
			continue
		}
		if queue != "" && s.queue() != queue {
			continue
		}
		if s.Value == nil || math.IsNaN(*s.Value) || *s.Value < 0 {
			return nil, fmt.Errorf("demand: metrics sample %d (%s): missing or negative value", i+1, s.MetricName)
		}
		t, err := ceTime(s.Timestamp)
		if err != nil {
			return nil, fmt.Errorf("demand: metrics sample %d (%s): %w", i+1, s.MetricName, err)
		}
		a := byTime[t]
		if a == nil {
			a = &agg{}
			byTime[t] = a
		}
		v := *s.Value
		switch s.MetricName {
		case MetricAllocCU:
			a.alloc, a.has[0] = v, true
		case MetricCU:
			a.cu, a.has[1] = v, true
		case MetricRunning:
			a.running, a.has[2] = v, true
		case MetricLaunching:
			a.launching, a.has[3] = v, true
		case MetricCUDemand:
			a.demand, a.has[4] = v, true
		}
	}
	var out []Sample
	for t, a := range byTime {
		switch {
		case a.has[4]:
			out = append(out, Sample{t, a.demand})
		case a.has[0] || a.has[1]:
			alloc := a.alloc
			if !a.has[0] {
				alloc = a.cu
			}
			perJob := 16.0
			if a.running > 0 {
				perJob = math.Max(16, alloc/a.running)
			}
			out = append(out, Sample{t, alloc + a.launching*perJob})
		}
	}
	if len(out) == 0 {
		q := ""
		if queue != "" {
			q = " for queue " + strconv.Quote(queue)
		}
		return nil, fmt.Errorf("demand: no %s, %s or %s samples%s", MetricCUDemand, MetricAllocCU, MetricCU, q)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Time.Before(out[b].Time) })
	return out, nil
}

func ceTime(raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, errors.New("no timestamp")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("timestamp %q: want RFC 3339 or Unix milliseconds", s)
		}
		return t.UTC(), nil
	}
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %s: want RFC 3339 or Unix milliseconds", raw)
	}
	return time.UnixMilli(ms).UTC(), nil
}
