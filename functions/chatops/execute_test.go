package chatops

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/dlibot/dlibot/pkg/dli"
)

// TestExecuteEachChange confirms every kind of change against the emulator
// and checks DLI's state afterwards.
func TestExecuteEachChange(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	d := e.svc.dli
	plans, _ := d.ListPlans(ctx, "etl")
	batches, _ := d.ListBatches(ctx, dli.BatchQuery{Size: 100})
	var running string
	for _, b := range batches.Batches {
		if b.Name == "hourly_rollup" {
			running = b.ID
		}
	}
	sqls, _ := d.ListSQLJobs(ctx, dli.SQLJobQuery{PageSize: 100, Status: dli.SQLRunning})
	if len(plans) == 0 || running == "" || len(sqls.Jobs) == 0 {
		t.Fatal("demo data missing")
	}
	sqlRunning := sqls.Jobs[0].ID
	cases := []struct {
		text  string
		check func() string // "" when DLI shows the change
	}{
		{"plan add etl lunch 96 12:00 weekdays", func() string {
			ps, _ := d.ListPlans(ctx, "etl")
			for _, p := range ps {
				if p.Name == "lunch" && p.TargetCU == 96 && p.StartHour == 12 && len(p.RepeatDays) == 5 {
					return ""
				}
			}
			return "plan lunch not created"
		}},
		{"plan rm etl " + strconv.FormatInt(plans[0].ID, 10), func() string {
			ps, _ := d.ListPlans(ctx, "etl")
			for _, p := range ps {
				if p.ID == plans[0].ID {
					return "plan still there"
				}
			}
			return ""
		}},
		{"flink stop 13 --savepoint", func() string {
			j, _ := e.emu.FlinkJob(13)
			if j.Status == "job_running" {
				return "still running: " + j.Status
			}
			return ""
		}},
		{"flink start 17 --resume", func() string {
			j, _ := e.emu.FlinkJob(17)
			if j.Status == "job_cancel_success" {
				return "not started: " + j.Status
			}
			return ""
		}},
		{"spark cancel " + running, func() string {
			b, _ := e.emu.Batch(running)
			if b.State != "dead" {
				return "state " + b.State
			}
			return ""
		}},
		{"sql cancel " + sqlRunning, func() string {
			j, _ := e.emu.SQLJob(sqlRunning)
			if j.Status != "CANCELLED" {
				return "status " + j.Status
			}
			return ""
		}},
		{"sql INSERT INTO demo.t SELECT 1", func() string {
			for _, r := range e.emu.Requests() {
				if strings.HasSuffix(r.Path, "/jobs/submit-job") && strings.Contains(r.Body, "INSERT INTO demo.t") {
					return ""
				}
			}
			return "not submitted"
		}},
	}
	for i, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			_, a := e.run(t, uAdmin, c.text)
			name := "x" + strconv.Itoa(i)
			e.click(t, uAdmin, actionConfirm, confirmationID(t, a.Blocks, actionConfirm), name)
			r := lastResponse(t, e.slack, name, 1)
			if strings.Contains(r.Text, "⚠️") {
				t.Fatalf("answer %q", r.Text)
			}
			if msg := c.check(); msg != "" {
				t.Errorf("%s (answer %q)", msg, r.Text)
			}
			if last := e.aud.last(t); last.Decision != DecisionConfirmed || last.Outcome != OutcomeOK {
				t.Errorf("audit %+v", last)
			}
		})
	}
}
