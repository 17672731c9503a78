package dlitest

import (
	"encoding/json"
	"net/url"
	"testing"
)

// FuzzSparkCreate: any 10.1.1 body is accepted or rejected without
// panicking, and an accepted one names a valid queue and resource type.
func FuzzSparkCreate(f *testing.F) {
	for _, s := range []string{
		`{"file":"a.jar","class_name":"a.B","queue":"etl"}`,
		`{"file":"a.py","cluster_name":"q1","driverMemory":"2G","numExecutors":3}`,
		`{"file":"a.jar","className":"x","queue":"etl","sc_type":"b","conf":{"k":1},"max_retry_times":100}`,
		`{"file":1}`, `[]`, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var b sparkCreateBody
		if json.Unmarshal([]byte(raw), &b) != nil {
			return
		}
		sp, err := validateSparkCreate(&b)
		if err != nil {
			return
		}
		if !validQueueName(sp.queue) || sp.file == "" {
			t.Fatalf("accepted %q as %+v", raw, sp)
		}
		if _, ok := sparkScTypes[sp.scType]; !ok && sp.scType != "CUSTOMIZED" {
			t.Fatalf("accepted sc_type %q", sp.scType)
		}
		if sp.res.driverCores < 1 || sp.res.executorCores < 1 || sp.res.numExecutors < 1 || sp.maxRetries < 0 || sp.maxRetries > 100 {
			t.Fatalf("accepted resources %+v", sp.res)
		}
	})
}

// FuzzSparkListQuery: any 10.1.3 query parses without panicking.
func FuzzSparkListQuery(f *testing.F) {
	for _, s := range []string{"", "from=0&size=10", "state=dead&queue_name=etl", "job-id=ab-12&start=1&end=2", "order=DURATION_DESC"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lq, err := parseSparkListQuery(q)
		if err != nil {
			return
		}
		if lq.from < 0 || lq.size < 1 || lq.state != "" && !validBatchState(lq.state) {
			t.Fatalf("accepted %q as %+v", raw, lq)
		}
	})
}
