package dlitest

import (
	"net/url"
	"testing"
)

// FuzzFlinkListQuery: any 9.7 query parses without panicking, and an
// accepted one is within the documented ranges.
func FuzzFlinkListQuery(f *testing.F) {
	for _, s := range []string{"", "limit=100&offset=5", "status=job_running&order=asc", "tags=a=b,c", "root_job_id=7&show_detail=true", "limit=0", "name=%ff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lq, err := parseFlinkListQuery(q)
		if err != nil {
			return
		}
		if lq.limit < 1 || lq.limit > 100 || lq.offset < 0 || lq.rootID < 0 {
			t.Fatalf("accepted out-of-range query %q: %+v", raw, lq)
		}
		if lq.status != "" && !validFlinkStatus(lq.status) || lq.jobType != "" && !validFlinkType(lq.jobType) {
			t.Fatalf("accepted invalid enum in %q", raw)
		}
	})
}
