package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
)

// outageEnv configures the DLI-outage cluster: jobwatch (5 s polls, the
// self-watch message after 8 s of failed polls in the short form, the 5 m
// default in the long form), obsimport and autoscale in apply mode for
// queue etl.
func outageEnv() []string {
	env := append([]string{}, autoscaleEnv...)
	if !full() {
		env = append(env, "JOBWATCH_SELFWATCH_AFTER=8s")
	}
	return env
}

// outageDuration is how long DLI is down: 20 s in the short form, the
// issue's 10 minutes in the long form.
func outageDuration() time.Duration { return sizes(20*time.Second, 10*time.Minute) }

// deadLetter is one message on DLIBOT_DLQ.
type deadLetter struct {
	Subject, Reason, Deliveries string
}

// deadLetters reads every dead letter of function.
func deadLetters(ctx context.Context, c *Cluster, function string) ([]deadLetter, error) {
	s, err := c.JS.Stream(ctx, events.StreamDLQ)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(events.DLQSubject(function)))
	if err != nil {
		return nil, err
	}
	want := info.State.Subjects[events.DLQSubject(function)]
	if want == 0 {
		return nil, nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.DLQSubject(function)}})
	if err != nil {
		return nil, err
	}
	var out []deadLetter
	for uint64(len(out)) < want {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			out = append(out, deadLetter{m.Headers().Get(events.HeaderDLQSubject), m.Headers().Get(events.HeaderDLQReason),
				m.Headers().Get(events.HeaderDLQDeliveries)})
		}
		if n == 0 {
			return out, fmt.Errorf("DLQ of %s: %d/%d read, then nothing", function, len(out), want)
		}
	}
	return out, nil
}

// summarizeDLQ describes dead letters as "n (reason ×k, …)".
func summarizeDLQ(dl []deadLetter) string {
	if len(dl) == 0 {
		return "0"
	}
	by := map[string]int{}
	for _, d := range dl {
		by[firstLine(d.Reason)+" (deliveries "+d.Deliveries+")"]++
	}
	var parts []string
	for r, n := range by {
		if len(r) > 120 {
			r = r[:120] + "…"
		}
		parts = append(parts, fmt.Sprintf("%q×%d", r, n))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d (%s)", len(dl), strings.Join(parts, ", "))
}

// selfWatch finds jobwatch's self-watch message ("jobwatch cannot see DLI
// since …"): the top-level posts, the thread replies to the first one
// and whether it was edited to resolved.
func selfWatch(c *Cluster) (posts int, replies int, resolved bool) {
	var ts string
	for _, call := range c.Slack.CallsTo("chat.postMessage") {
		if call.OK() && call.ThreadTS == "" && strings.Contains(call.Text, "cannot see DLI") {
			posts++
			if ts == "" {
				ts = call.TS
			}
		}
	}
	if ts == "" {
		return posts, 0, false
	}
	for _, call := range c.Slack.CallsTo("chat.postMessage") {
		if call.OK() && call.ThreadTS == ts {
			replies++
		}
	}
	for _, call := range c.Slack.CallsTo("chat.update") {
		if call.OK() && call.TS == ts && strings.Contains(call.Text, "Resolved") {
			resolved = true
		}
	}
	return posts, replies, resolved
}

// queueHistory returns the bucket start times (Unix seconds) in queue's
// history records in autoscale's KV bucket.
func queueHistory(ctx context.Context, c *Cluster, queue string) (map[int64]bool, error) {
	kv, err := c.JS.KeyValue(ctx, autoscaleBucket)
	if err != nil {
		return nil, err
	}
	lister, err := kv.ListKeysFiltered(ctx, "hist."+queue+".>")
	if err != nil {
		return nil, err
	}
	out := map[int64]bool{}
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		var rec weekRecord
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		for i := range rec.Buckets {
			out[rec.Start.Add(time.Duration(i)*5*time.Minute).Unix()] = true
		}
	}
	return out, nil
}

// dliOutage: DLI answers 503 to every call for 20 s (long form: the
// issue's 10 minutes) while Flink jobs fail, objects land in OBS and queue
// etl shows a backlog; after DLI returns, nothing is lost or done twice
// and the outage was visible.
func dliOutage(t *testing.T, c *Cluster) {
	d := outageDuration()
	attack := fmt.Sprintf("DLI answers 503 to every call for %s (long form: 10 minutes) while 4 Flink jobs fail (2 at the start, 2 halfway), %d object events arrive over the outage and Cloud Eye reports a backlog on queue etl (apply mode; two five-minute buckets at the start, long form one more every 5 minutes, and one after); then DLI recovers", d, sizes(20, 100))
	scenario(t, "dli-outage/jobwatch+obsimport+autoscale", attack, func(t *testing.T) string {
		ctx := t.Context()
		ids, names := addRunningFlinkJobs(t, c, "chaos-out", 4)
		waitPolls(t, c, 2, 60*time.Second) // the running jobs are known
		failedBefore := sumMetric(t, c, "dlibot_dli_calls_total", `!outcome="ok"`)
		failedByOp := func() map[string]float64 {
			out := map[string]float64{}
			for _, u := range c.Live() {
				m, err := MetricByLabel(u, "dlibot_dli_calls_total", "operation", `!outcome="ok"`)
				if err != nil {
					t.Logf("scraping %s: %v", u, err)
				}
				for k, v := range m {
					out[k] += v
				}
			}
			return out
		}
		opsBefore := failedByOp()
		bucket := "chaos-imports"
		reqs, keys := obsimportRequests(t, bucket, "outage", sizes(20, 100))
		importsBefore, _ := importsByPath(c)

		if err := c.Emulator.AddFault(dlitest.Fault{Status: 503, ErrorCode: "DLI.0999", ErrorMsg: "chaos outage"}); err != nil {
			t.Fatal(err)
		}
		outageStart := time.Now()
		defer c.Emulator.ClearFaults()
		fail := func(ids []int64) {
			for _, id := range ids {
				if err := c.Emulator.SetFlinkJobStatus(id, "job_running_exception", "chaos: failed during the DLI outage"); err != nil {
					t.Error(err)
				}
			}
		}
		fail(ids[:2])

		// Traffic through the outage: object events paced over 80 % of it,
		// backlog samples for etl every few seconds (long form: minutes).
		var wg sync.WaitGroup
		var res *LoadResult
		wg.Add(1)
		go func() {
			defer wg.Done()
			const senders = 2
			pace := d * 8 / 10 / time.Duration(len(reqs)/senders)
			res = Send(ctx, c.Live, reqs, LoadOptions{Concurrency: senders, Pace: pace, Deadline: d + 2*time.Minute})
		}()
		var smu sync.Mutex
		samples := map[int64]bool{} // buckets of the samples sent (Unix seconds)
		sent := 0
		var sampleFailed []string
		sendSample := func(tag string, at time.Time) {
			r := sampleEvent(t, fmt.Sprintf("chaos-outage-%s-%d", tag, at.Unix()), "etl", backlogPoint(at))
			res := Send(ctx, c.Live, []Request{r}, LoadOptions{Concurrency: 1})
			smu.Lock()
			defer smu.Unlock()
			if len(res.Failed) > 0 {
				sampleFailed = append(sampleFailed, r.Key)
				return
			}
			samples[at.Truncate(5*time.Minute).Unix()] = true
			sent++
		}
		// Cloud Eye samples every 5 minutes; the net needs two consecutive
		// five-minute buckets with a backlog. At the outage start the two
		// latest buckets arrive (late, as after an exporter hiccup); the long
		// form adds one every 5 minutes of the outage.
		now := time.Now().UTC().Truncate(time.Second)
		sendSample("during", now.Add(-10*time.Minute))
		sendSample("during", now.Add(-5*time.Minute))
		halfway := time.NewTimer(d / 2)
		end := time.NewTimer(d)
		tick := time.NewTicker(5 * time.Minute)
	outage:
		for {
			select {
			case <-halfway.C:
				fail(ids[2:])
			case at := <-tick.C:
				sendSample("during", at.UTC().Truncate(time.Second))
			case <-end.C:
				break outage
			}
		}
		tick.Stop()
		// During the outage: it is visible.
		failedDuring := sumMetric(t, c, "dlibot_dli_calls_total", `!outcome="ok"`) - failedBefore
		pollFailed := 0
		for _, r := range c.Replicas {
			pollFailed += strings.Count(r.Output(), "jobwatch poll failed")
		}
		scaleOutsDuring, _ := etlScaleOuts(c)
		var byOp []string
		for op, n := range failedByOp() {
			if d := n - opsBefore[op]; d > 0 {
				byOp = append(byOp, fmt.Sprintf("%s %.0f", op, d))
			}
		}
		sort.Strings(byOp)
		c.Emulator.ClearFaults()
		recoveredAt := time.Now()
		t.Logf("DLI down for %s; %d failed DLI calls counted, %d \"jobwatch poll failed\" lines", recoveredAt.Sub(outageStart).Round(time.Second), int(failedDuring), pollFailed)
		if failedDuring < 1 || pollFailed < 1 {
			t.Errorf("the outage was not visible: dlibot_dli_calls_total{outcome!=\"ok\"} +%.0f, %d \"jobwatch poll failed\" log lines", failedDuring, pollFailed)
		}
		if scaleOutsDuring != 0 {
			t.Errorf("%d scale-outs reached the emulator while it answered 503 to everything", scaleOutsDuring)
		}
		// Cloud Eye keeps sampling after the outage: one more backlog sample.
		sendSample("after", time.Now().UTC().Truncate(time.Second))
		wg.Wait()

		// jobwatch: every failed job alerted once; one self-watch message,
		// resolved once.
		// (checkOneAlertEach times from its call: here, from DLI's recovery.)
		alerts := strings.Replace(checkOneAlertEach(t, c, names, 120*time.Second), "after the failure", "after DLI recovered", 1)
		var posts, replies int
		var resolved bool
		if err := Eventually(60*time.Second, func() error {
			posts, replies, resolved = selfWatch(c)
			if posts < 1 || replies < 1 || !resolved {
				return fmt.Errorf("self-watch: %d messages, %d thread replies, resolved %v; want 1, 1, true", posts, replies, resolved)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		if posts != 1 || replies != 1 {
			t.Errorf("self-watch: %d \"cannot see DLI\" messages and %d replies, want exactly one of each", posts, replies)
		}

		// obsimport: every accepted object event stored once, imported once,
		// one import.succeeded event per object.
		if len(res.Failed) > 0 {
			t.Errorf("%d object events never accepted during the outage (statuses %v)", len(res.Failed), res.Statuses)
		}
		stored, err := c.StreamEvents(ctx, events.StreamIn, events.ObsSubject(bucket))
		if err != nil {
			t.Fatalf("reading DLIBOT_IN: %v", err)
		}
		if err := CheckExactlyOnce(res.Accepted, stored); err != nil {
			t.Errorf("object events on DLIBOT_IN: %v", err)
		}
		imported, doubled := importedOnce(t, c, bucket, keys, importsBefore, 180*time.Second)
		for _, d := range doubled {
			t.Errorf("%s, want once", d)
		}
		var succeeded map[string]int
		if err := Eventually(60*time.Second, func() error {
			out, _, err := c.StreamEventList(ctx, events.StreamOut, "dlibot.out.obsimport.>")
			if err != nil {
				return err
			}
			succeeded = map[string]int{}
			for _, e := range out {
				if e.Type() != "dlibot.obsimport.import.succeeded" {
					continue
				}
				var d struct {
					Bucket string `json:"bucket"`
					Key    string `json:"key"`
				}
				if err := json.Unmarshal(e.Data(), &d); err != nil {
					return fmt.Errorf("import event %s: %w", e.ID(), err)
				}
				if d.Bucket == bucket {
					succeeded[d.Key]++
				}
			}
			if len(succeeded) < len(keys) {
				return fmt.Errorf("import.succeeded events for %d/%d objects", len(succeeded), len(keys))
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		for k, n := range succeeded {
			if n != 1 {
				t.Errorf("%s: %d import.succeeded events, want 1", k, n)
			}
		}

		// autoscale: every sample kept in the history; the backlog scaled
		// etl out exactly once, after the outage.
		if len(sampleFailed) > 0 {
			t.Errorf("%d backlog sample events never accepted: %v", len(sampleFailed), sampleFailed)
		}
		if err := Eventually(90*time.Second, func() error {
			if n, _ := etlScaleOuts(c); n < 1 {
				return errors.New("no scale-out of etl reached DLI after the outage")
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		var missingSamples int
		if err := Eventually(30*time.Second, func() error {
			h, err := queueHistory(ctx, c, "etl")
			if err != nil {
				return err
			}
			missingSamples = 0
			for s := range samples {
				if !h[s] {
					missingSamples++
				}
			}
			if missingSamples > 0 {
				return fmt.Errorf("%d of %d backlog sample buckets missing from etl's history in KV", missingSamples, len(samples))
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		waitPolls(t, c, 1, 60*time.Second) // window in which a second scale-out would arrive
		scaleOuts, bodies := etlScaleOuts(c)
		if scaleOuts != 1 {
			t.Errorf("queue etl scaled %d times, want once: %q", scaleOuts, bodies)
		}

		// What the outage left in the DLQ, by function.
		var dlq []string
		for _, fn := range []string{"jobwatch", "obsimport", "autoscale"} {
			dl, err := deadLetters(ctx, c, fn)
			if err != nil {
				t.Errorf("reading the DLQ of %s: %v", fn, err)
			}
			for _, d := range dl {
				if strings.TrimSpace(d.Reason) == "" {
					t.Errorf("a dead letter of %s has no reason", fn)
				}
			}
			dlq = append(dlq, fn+" "+summarizeDLQ(dl))
		}
		return fmt.Sprintf("DLI down %s. Visible: failed DLI calls +%.0f (%s), %d \"jobwatch poll failed\" log lines, self-watch message %d, resolved %v with %d reply. jobwatch: %s. obsimport: %d/%d events accepted, stored once; %s; one import.succeeded each. autoscale: %d backlog sample events, their %d buckets all in KV, 0 scale-outs during the outage, %d after %q. Dead letters: %s",
			recoveredAt.Sub(outageStart).Round(time.Second), failedDuring, strings.Join(byOp, ", "), pollFailed, posts, resolved, replies, alerts,
			len(res.Accepted), len(reqs), imported, sent, len(samples)-missingSamples, scaleOuts, bodies, strings.Join(dlq, "; "))
	})
}
