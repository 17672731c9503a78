package jobwatch

import (
	"testing"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

// Every status of the reference (and the SDK's two arrears statuses) has a
// class; failures and billing are what the issue names.
func TestClassifyEveryStatus(t *testing.T) {
	all := map[string][]string{
		KindFlink: dlitest.FlinkJobStatuses,
		KindSpark: dlitest.BatchStates,
		KindSQL:   {dlitest.SQLLaunching, dlitest.SQLRunning, dlitest.SQLScaling, dlitest.SQLFinished, dlitest.SQLFailed, dlitest.SQLCancelled},
	}
	for kind, sts := range all {
		for _, s := range sts {
			if c := classify(kind, s).class; c == classUnknown {
				t.Errorf("%s %s is unknown", kind, s)
			}
		}
	}
	for _, tc := range []struct {
		kind, status string
		want         class
	}{
		{KindFlink, "job_submit_fail", classFailed}, {KindFlink, "job_running_exception", classFailed},
		{KindFlink, "job_cancel_fail", classFailed}, {KindFlink, "job_arrearage_stopped", classBilling},
		{KindFlink, "job_arrearage_recovering", classTransitional}, {KindFlink, "job_cancel_success", classFinished},
		{KindSpark, "dead", classFailed}, {KindSpark, "Success", classFinished}, {KindSpark, "DEAD", classFailed},
		{KindSQL, "FAILED", classFailed}, {KindSQL, "cancelled", classFinished}, {KindSQL, "LAUNCHING", classTransitional},
		{KindFlink, "job_teleporting", classUnknown}, {KindSpark, "", classUnknown},
	} {
		if got := classify(tc.kind, tc.status).class; got != tc.want {
			t.Errorf("%s %q: %v, want %v", tc.kind, tc.status, got, tc.want)
		}
	}
	for _, s := range transitionalStates() {
		if DefaultStuck[s] == 0 {
			t.Errorf("transitional %s has no default stuck threshold", s)
		}
	}
}

func TestP95AndFormatting(t *testing.T) {
	if got := p95([]int64{5, 1, 3, 2, 4}); got != 5 {
		t.Errorf("p95 = %d", got)
	}
	if got := fmtDur(3*3600e9 + 62e9); got != "3h 1m 2s" {
		t.Errorf("fmtDur = %q", got)
	}
	if got := redactLines([]string{"conf spark.password=abc token: xyz ok"})[0]; got != "conf spark.password=<redacted> token: <redacted> ok" {
		t.Errorf("redact = %q", got)
	}
	if got := keyToken("a b/c.d"); got != "a_b_c_d" {
		t.Errorf("keyToken = %q", got)
	}
}
