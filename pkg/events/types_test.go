package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeMetricSamples(t *testing.T) {
	ts := time.Date(2025, 11, 26, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		data    string
		queues  []string
		wantErr string
	}{
		{"one object, unix millis", `{"namespace":"SYS.DLI","metric_name":"queue_cu_num","dimensions":[{"name":"queue_name","value":"etl"}],"value":16,"unit":"Count","timestamp":1764151200000}`, []string{"etl"}, ""},
		{"array, RFC 3339", `[{"namespace":"SYS.DLI","metric_name":"m","dimensions":[{"name":"queue","value":"a"}],"value":1,"timestamp":"2025-11-26T10:00:00Z"},{"namespace":"SYS.DLI","metric_name":"m","dimensions":[{"name":"queue_id","value":"b"}],"value":0,"timestamp":"2025-11-26T11:00:00+01:00"}]`, []string{"a", "b"}, ""},
		{"empty", ``, nil, "empty metrics data"},
		{"empty array", `[]`, nil, "empty metrics batch"},
		{"no value", `{"metric_name":"m","dimensions":[{"name":"queue","value":"q"}],"timestamp":1}`, nil, "without value"},
		{"no queue", `{"metric_name":"m","dimensions":[{"name":"x","value":"q"}],"value":1,"timestamp":1}`, nil, "queue_name/queue/queue_id"},
		{"no timestamp", `{"metric_name":"m","dimensions":[{"name":"queue","value":"q"}],"value":1}`, nil, "without timestamp"},
		{"bad timestamp", `{"metric_name":"m","dimensions":[{"name":"queue","value":"q"}],"value":1,"timestamp":true}`, nil, "neither RFC 3339"},
		{"no metric name", `{"dimensions":[{"name":"queue","value":"q"}],"value":1,"timestamp":1}`, nil, "without metric_name"},
		{"string", `"x"`, nil, "metric sample"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss, err := DecodeMetricSamples([]byte(tt.data))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrBadData) {
					t.Fatalf("err = %v, want ErrBadData", err)
				}
				if !contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %q, want %q in it", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ss) != len(tt.queues) {
				t.Fatalf("got %d samples", len(ss))
			}
			for i, s := range ss {
				if s.Queue() != tt.queues[i] {
					t.Errorf("sample %d queue %q", i, s.Queue())
				}
				if !s.Timestamp.Equal(ts) {
					t.Errorf("sample %d timestamp %v, want %v", i, s.Timestamp, ts)
				}
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestMetricSampleRoundTrip(t *testing.T) {
	in := MetricSample{Namespace: NamespaceDLI, MetricName: "queue_cu_num", Dimensions: []Dimension{{"queue_name", "etl"}}, Value: 0, Timestamp: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"namespace":"SYS.DLI","metric_name":"queue_cu_num","dimensions":[{"name":"queue_name","value":"etl"}],"value":0,"timestamp":"2026-11-26T10:00:00Z"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	ss, err := DecodeMetricSamples(b)
	if err != nil || len(ss) != 1 || ss[0].Queue() != "etl" || ss[0].Value != 0 {
		t.Errorf("round trip: %+v %v", ss, err)
	}
}

func TestObjectCreatedValidate(t *testing.T) {
	for _, o := range []ObjectCreated{{Key: "k"}, {Bucket: "b"}, {Bucket: "b", Key: "k", Size: -1}} {
		if err := o.Validate(); !errors.Is(err, ErrBadData) {
			t.Errorf("%+v: %v", o, err)
		}
	}
	if err := (ObjectCreated{Bucket: "b", Key: "k"}).Validate(); err != nil {
		t.Error(err)
	}
}
