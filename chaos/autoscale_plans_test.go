package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
)

// foreignPlan is the plan somebody else made on queue etl: autoscale must
// count it against DLI's 12 and never touch it.
var foreignPlan = dli.PlanSpec{Name: "ops_sunday_backup", TargetCU: 64, StartHour: 3, StartMinute: 17,
	RepeatDays: []time.Weekday{time.Sunday}}

// weeklyDemand is the CU demand of queue etl at t: 128 CU on weekdays
// 08:00–18:00 UTC, 32 CU the other weekday hours, 16 CU at weekends.
func weeklyDemand(t time.Time) float64 {
	switch {
	case t.Weekday() == time.Saturday || t.Weekday() == time.Sunday:
		return 16
	case t.Hour() >= 8 && t.Hour() < 18:
		return 128
	default:
		return 32
	}
}

// historyEvents builds days of five-minute cu_demand samples of queue etl
// ending at end, one CloudEvent (a batch) per day.
func historyEvents(t *testing.T, end time.Time, days int) []Request {
	t.Helper()
	var reqs []Request
	start := end.Add(-time.Duration(days) * 24 * time.Hour)
	for d := range days {
		var batch []events.MetricSample
		for i := range 288 {
			at := start.Add(time.Duration(d*288+i+1) * 5 * time.Minute)
			batch = append(batch, events.MetricSample{Namespace: events.NamespaceDLI, MetricName: "cu_demand",
				Dimensions: []events.Dimension{{Name: "queue_name", Value: "etl"}}, Value: weeklyDemand(at), Timestamp: at})
		}
		id := fmt.Sprintf("chaos-history-%d", d)
		reqs = append(reqs, eventRequest(t, id, "/chaos/cloudeye/history", events.TypeMetricsSample, batch))
	}
	return reqs
}

// planDecision is the part of a dlibot.autoscale.decision the scenario
// reads.
type planDecision struct {
	Queue     string `json:"queue"`
	Kind      string `json:"kind"`
	Action    string `json:"action"`
	Reason    string `json:"reason"`
	Reconcile *struct {
		Created []string `json:"created"`
		Updated []string `json:"updated"`
		Deleted []string `json:"deleted"`
		Foreign int      `json:"foreign"`
	} `json:"reconcile"`
}

// decisionFor returns the plan decision of queue etl for the tick of
// period, if stored.
func decisionFor(ctx context.Context, c *Cluster, period time.Time) (*planDecision, error) {
	es, _, err := c.StreamEventList(ctx, events.StreamOut, "dlibot.out.autoscale.decision")
	if err != nil {
		return nil, err
	}
	id := "autoscale/etl/plan/" + period.UTC().Format(time.RFC3339)
	for _, e := range es {
		if e.ID() != id {
			continue
		}
		var d planDecision
		if err := json.Unmarshal(e.Data(), &d); err != nil {
			return nil, fmt.Errorf("decision %s: %w", id, err)
		}
		return &d, nil
	}
	return nil, nil
}

// planWrite is a request that changes queue etl's plans.
type planWrite struct {
	method, path, body string
}

// etlPlanWrites lists the plan-changing requests of queue etl in the
// emulator's log: creates (POST …/plans), updates (PUT …/plans/{id}),
// deletes (DELETE …/plans/{id}, POST …/plans/batch-delete).
func etlPlanWrites(c *Cluster) []planWrite {
	prefix := "/v1/" + PlantedProject + "/queues/etl/plans"
	var out []planWrite
	for _, r := range c.Emulator.Requests() {
		if r.Method != "GET" && strings.HasPrefix(r.Path, prefix) {
			out = append(out, planWrite{r.Method, r.Path, r.Body})
		}
	}
	return out
}

// connectedReplicas returns the replicas whose process holds an
// established TCP connection to the emulator (read from /proc): during a
// delayed plan create, the one reconciling.
func connectedReplicas(c *Cluster) []*Replica {
	u, err := url.Parse(c.EmulatorURL)
	if err != nil {
		return nil
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return nil
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "01" { // 01: ESTABLISHED
				continue
			}
			rem := fs[2]
			if i := strings.LastIndex(rem, ":"); i >= 0 {
				if p, err := strconv.ParseInt(rem[i+1:], 16, 32); err == nil && int(p) == port {
					inodes[fs[9]] = true
				}
			}
		}
	}
	var out []*Replica
	for _, r := range c.Replicas {
		r.mu.Lock()
		pid := 0
		if r.cmd != nil && r.cmd.Process != nil {
			pid = r.cmd.Process.Pid
		}
		r.mu.Unlock()
		if pid == 0 {
			continue
		}
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
		for _, fd := range fds {
			l, err := os.Readlink(fd)
			if err == nil && strings.HasPrefix(l, "socket:[") && inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// autoscalePlans: eight days of a weekly load shape are posted through
// /events; ticks (each published three times, as every replica's ticker
// does) make autoscale compile a weekly plan and reconcile DLI's plans in
// apply mode while the replica doing it is killed inside the reconcile.
func autoscalePlans(t *testing.T, c *Cluster) {
	scenario(t, "autoscale/plans", "8 days of weekly-shaped samples posted; ticks (each published 3× with its Nats-Msg-Id, the one after the kill once more without) reconcile etl's plans in apply mode next to a foreign plan; the reconciling replica is killed (kill -9) inside a delayed plan create and restarted; two more ticks", func(t *testing.T) string {
		ctx := t.Context()
		cl, err := dli.New(dli.Config{AK: PlantedAK, SK: PlantedSK, ProjectID: PlantedProject, SecurityToken: PlantedSecurityToken,
			Region: "cn-north-4", Endpoint: c.EmulatorURL})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.CreatePlan(ctx, "etl", foreignPlan); err != nil {
			t.Fatalf("creating the foreign plan: %v", err)
		}
		foreignBefore := findPlan(c.Emulator.Snapshot(), foreignPlan.Name)
		if foreignBefore == nil {
			t.Fatal("the foreign plan is not in the emulator")
		}
		c.Emulator.ClearRequests()

		end := time.Now().UTC().Truncate(5 * time.Minute)
		res := Send(ctx, c.Live, historyEvents(t, end, 8), LoadOptions{Concurrency: 3})
		if len(res.Failed) > 0 {
			t.Fatalf("%d history events never accepted", len(res.Failed))
		}

		// Ticks: period starts off the hour, so they never meet the
		// replicas' own hourly ticks.
		base := time.Now().UTC().Truncate(time.Hour)
		tickN := 0
		tick := func() time.Time {
			tickN++
			p := base.Add(time.Duration(tickN) * time.Second)
			for range 3 { // every replica's ticker publishes it; one is stored
				if _, err := events.PublishTick(ctx, c.JS, "autoscale", p); err != nil {
					t.Fatalf("publish tick: %v", err)
				}
			}
			return p
		}
		waitDecision := func(p time.Time, d time.Duration) *planDecision {
			var got *planDecision
			if err := Eventually(d, func() error {
				var err error
				if got, err = decisionFor(ctx, c, p); err != nil {
					return err
				}
				if got == nil {
					return fmt.Errorf("no decision for the tick of %s", p.Format(time.RFC3339))
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return got
		}
		createPath := "/v1/" + PlantedProject + "/queues/etl/plans"
		creates := func() []planWrite {
			var out []planWrite
			for _, w := range etlPlanWrites(c) {
				if w.method == "POST" && w.path == createPath {
					out = append(out, w)
				}
			}
			return out
		}

		// The first plan create is held 3 s: the kill lands inside it.
		if err := c.Emulator.AddFault(dlitest.Fault{Method: "POST", PathRegex: "^" + createPath + "$", LatencyMS: 3000, Count: 1}); err != nil {
			t.Fatal(err)
		}
		// Tick until one gets past the history check (the samples may
		// still be on their way into KV) and starts creating plans.
		var first []time.Time
		var killed []string
		if err := Eventually(30*time.Second, func() error {
			if len(creates()) > 0 {
				return nil
			}
			if n := len(first); n > 0 {
				d, err := decisionFor(ctx, c, first[n-1])
				if err != nil || d == nil {
					return fmt.Errorf("waiting for the decision of tick %d", n)
				}
				if d.Action != "insufficient_history" && d.Action != "stale" {
					return fmt.Errorf("tick %d decided %s without creating a plan: %s", n, d.Action, d.Reason)
				}
			}
			first = append(first, tick())
			return fmt.Errorf("no plan create yet")
		}); err != nil {
			t.Fatal(err)
		}
		victims := connectedReplicas(c)
		if len(victims) == 0 {
			victims = c.Replicas // cannot tell which: kill them all
		}
		for _, v := range victims {
			v.Kill()
			killed = append(killed, v.Name)
		}
		for _, v := range victims {
			if err := v.Start(); err != nil {
				t.Fatal(err)
			}
		}
		c.Emulator.ClearFaults()
		writesAtKill := len(etlPlanWrites(c))

		// The next tick (the killed one is redelivered only after
		// AckWait) resumes the reconcile on whichever replica takes it.
		p2 := tick()
		// And one more copy without Nats-Msg-Id (as if the broker's
		// duplicate window had passed): the consumer's dedup must stop it
		// while the first copy reconciles.
		dup, err := events.NewEvent(events.TickID("autoscale", p2), events.SourceTick, events.TypeTick,
			events.Tick{Function: "autoscale", PeriodStart: p2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := events.Publish(ctx, c.JS, events.TickSubject("autoscale"), dup); err != nil {
			t.Fatalf("publish the tick's copy: %v", err)
		}
		// The replica killed while reconciling held etl's apply lease
		// (apply.etl, 30 s): until it runs out the next tick is retried,
		// so either it or the killed tick (redelivered after AckWait)
		// resumes the reconcile — exactly one applies, the other finds DLI
		// holding the plan.
		d2 := waitDecision(p2, 90*time.Second)
		d1 := waitDecision(first[len(first)-1], 90*time.Second)
		applied := d2
		if d2.Action != "applied" {
			applied = d1
		}
		if d1.Action == d2.Action || applied.Action != "applied" || (d1.Action != "unchanged" && d2.Action != "unchanged") {
			t.Errorf("the killed tick decided %s (%s), the next tick %s (%s): want one applied and one unchanged", d1.Action, d1.Reason, d2.Action, d2.Reason)
		}
		if applied.Reconcile == nil || applied.Reconcile.Foreign != 1 || len(applied.Reconcile.Updated)+len(applied.Reconcile.Deleted) > 0 {
			t.Errorf("the reconcile after the kill reported %+v, want 1 foreign plan and nothing updated or deleted", applied.Reconcile)
		}
		writesApplied := len(etlPlanWrites(c))
		// Two more ticks: DLI holds the plan, nothing is written.
		var later []string
		for range 2 {
			d := waitDecision(tick(), 60*time.Second)
			later = append(later, d.Action)
			if d.Action != "unchanged" {
				t.Errorf("a tick after the plan was applied decided %s (%s), want unchanged", d.Action, d.Reason)
			}
		}
		redelivered := "; the killed tick, redelivered after AckWait: " + d1.Action + ", the next tick: " + d2.Action
		writes := etlPlanWrites(c)
		if len(writes) != writesApplied {
			t.Errorf("%d plan writes after the plan was applied, want none: %v", len(writes)-writesApplied, writes[writesApplied:])
		}

		// Side effects, from the request log and the final state.
		st := c.Emulator.Snapshot()
		postsByName := map[string]int{}
		for _, w := range writes {
			switch {
			case w.method == "POST" && w.path == createPath:
				var b struct {
					Name string `json:"plan_name"`
				}
				_ = json.Unmarshal([]byte(w.body), &b)
				postsByName[b.Name]++
			default:
				t.Errorf("plan %s %s %s: dlibot's plans were changed or deleted after being made, or the foreign plan was touched", w.method, w.path, w.body)
			}
		}
		held := map[string]int{}
		var own []dlitest.PlanState
		total := 0
		for _, p := range st.Plans {
			if p.QueueName != "etl" {
				continue
			}
			total++
			held[p.PlanName]++
			if strings.HasPrefix(p.PlanName, "dlibot_") {
				own = append(own, p)
			}
			if p.TargetCU%16 != 0 || p.TargetCU <= 0 {
				t.Errorf("plan %s targets %d CU: not a positive multiple of 16", p.PlanName, p.TargetCU)
			}
		}
		for n, k := range held {
			if k != 1 {
				t.Errorf("DLI holds plan %s %d times", n, k)
			}
		}
		if total > 12 {
			t.Errorf("queue etl has %d plans, DLI allows 12", total)
		}
		if len(own) == 0 {
			t.Errorf("no dlibot plan reached DLI")
		}
		// Every name POSTed was created once: DLI holds it exactly once
		// and nothing was deleted. A second POST of a name is only allowed
		// for the create the kill cut short (the emulator drops a request
		// whose client went away).
		retried := 0
		for n, k := range postsByName {
			if held[n] != 1 {
				t.Errorf("plan %s was POSTed %d times but DLI holds it %d times", n, k, held[n])
			}
			if k > 1 {
				retried++
			}
		}
		if retried > 1 {
			t.Errorf("%d plan names were POSTed more than once; only the create cut by the kill may be repeated: %v", retried, postsByName)
		}
		fa := findPlan(st, foreignPlan.Name)
		switch {
		case fa == nil:
			t.Errorf("the foreign plan %s was deleted", foreignPlan.Name)
		case fa.ID != foreignBefore.ID || fa.TargetCU != foreignBefore.TargetCU || fa.StartHour != foreignBefore.StartHour ||
			fa.StartMinute != foreignBefore.StartMinute || !slices.Equal(fa.RepeatDay, foreignBefore.RepeatDay) || fa.Activate != foreignBefore.Activate:
			t.Errorf("the foreign plan changed: %+v → %+v", *foreignBefore, *fa)
		}
		created := 0
		if applied.Reconcile != nil {
			created = len(applied.Reconcile.Created)
		}
		return fmt.Sprintf("%d ticks until a reconcile started; killed %v inside a delayed create (%d plan writes by then); after the apply lease ran out one tick resumed: %d created%s; then %v and 0 writes; DLI holds %d dlibot plans (each once, POSTs per name %v) + the foreign plan untouched, %d ≤ 12, all 16-CU multiples",
			len(first), killed, writesAtKill, created, redelivered, later, len(own), postsByName, total)
	})
}

func findPlan(st dlitest.State, name string) *dlitest.PlanState {
	for i := range st.Plans {
		if st.Plans[i].QueueName == "etl" && st.Plans[i].PlanName == name {
			return &st.Plans[i]
		}
	}
	return nil
}

// autoscaleConcurrentTicks (long form): two ticks of different periods
// reach two replicas at once — a tick redelivered after AckWait meeting
// the next period's, say — and both reconcile queue etl's plans; the
// first plan create is held 3 s so the two reconciles overlap.
func autoscaleConcurrentTicks(t *testing.T, c *Cluster) {
	scenario(t, "autoscale/plans-concurrent-ticks", "8 days of weekly-shaped samples posted; two ticks of different periods published at once, so two replicas reconcile etl's plans concurrently (apply mode; the first plan create held 3 s)", func(t *testing.T) string {
		ctx := t.Context()
		end := time.Now().UTC().Truncate(5 * time.Minute)
		res := Send(ctx, c.Live, historyEvents(t, end, 8), LoadOptions{Concurrency: 3})
		if len(res.Failed) > 0 {
			t.Fatalf("%d history events never accepted", len(res.Failed))
		}
		// Every sample merged into KV before the ticks.
		if err := Eventually(30*time.Second, func() error {
			cons, err := c.JS.Consumer(ctx, events.StreamIn, "dlibot_autoscale")
			if err != nil {
				return err
			}
			info, err := cons.Info(ctx)
			if err != nil {
				return err
			}
			if info.NumPending+uint64(info.NumAckPending) > 0 {
				return fmt.Errorf("autoscale consumer: %d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		createPath := "/v1/" + PlantedProject + "/queues/etl/plans"
		if err := c.Emulator.AddFault(dlitest.Fault{Method: "POST", PathRegex: "^" + createPath + "$", LatencyMS: 3000, Count: 1}); err != nil {
			t.Fatal(err)
		}
		base := time.Now().UTC().Truncate(time.Hour)
		ticks := []time.Time{base.Add(101 * time.Second), base.Add(102 * time.Second)}
		for _, p := range ticks {
			if _, err := events.PublishTick(ctx, c.JS, "autoscale", p); err != nil {
				t.Fatal(err)
			}
		}
		// Each tick ends in a decision or a dead letter.
		outcome := map[time.Time]string{}
		if err := Eventually(60*time.Second, func() error {
			dead, err := c.StreamEvents(ctx, events.StreamDLQ, "dlibot.dlq.autoscale")
			if err != nil {
				return err
			}
			for _, p := range ticks {
				if _, ok := outcome[p]; ok {
					continue
				}
				if dead[events.TickID("autoscale", p)] > 0 {
					outcome[p] = "dead-lettered"
					continue
				}
				if d, err := decisionFor(ctx, c, p); err == nil && d != nil {
					outcome[p] = d.Action
				}
			}
			if len(outcome) < len(ticks) {
				return fmt.Errorf("ticks settled: %v", outcome)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		posts, other := 0, 0
		for _, w := range etlPlanWrites(c) {
			if w.method == "POST" && w.path == createPath {
				posts++
			} else {
				other++
			}
		}
		held := map[string]int{}
		total := 0
		for _, p := range c.Emulator.Snapshot().Plans {
			if p.QueueName == "etl" {
				held[p.PlanName]++
				total++
			}
		}
		for n, k := range held {
			if k != 1 {
				t.Errorf("DLI holds plan %s %d times", n, k)
			}
		}
		if total > 12 {
			t.Errorf("queue etl has %d plans, DLI allows 12", total)
		}
		if other > 0 {
			t.Errorf("%d plan updates or deletes while two reconciles raced", other)
		}
		var outs []string
		dead := 0
		for _, p := range ticks {
			outs = append(outs, outcome[p])
			if outcome[p] == "dead-lettered" {
				dead++
			}
		}
		detail := fmt.Sprintf("tick outcomes %v; %d plan creates POSTed for %d plans DLI holds (each once), %d updates/deletes", outs, posts, total, other)
		// Before the apply lease (autoscale, apply.<queue>), both reconciles
		// passed the change budget and created plans; DLI refused the second
		// create of a name (400 DLI.0006), which was dead-lettered.
		if dead > 0 {
			t.Errorf("%s: a tick was dead-lettered", detail)
		}
		own := 0
		for n := range held {
			if strings.HasPrefix(n, "dlibot_") {
				own++
			}
		}
		if posts != own {
			t.Errorf("%s: %d creates POSTed for %d dlibot plans — the reconciles overlapped", detail, posts, own)
		}
		return detail
	})
}
