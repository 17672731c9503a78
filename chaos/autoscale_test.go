package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/events"
)

// autoscaleEnv puts queue etl in apply mode so the reactive net really
// scales (the cluster's emulator has etl at 16 CU).
var autoscaleEnv = []string{"AUTOSCALE_MODE=apply", "AUTOSCALE_QUEUES=etl"}

// backlogPoint is one sampling instant of queue etl: 16 CU, all used, 4
// jobs waiting to launch.
func backlogPoint(at time.Time) []events.MetricSample {
	s := func(metric string, v float64) events.MetricSample {
		return events.MetricSample{Namespace: events.NamespaceDLI, MetricName: metric,
			Dimensions: []events.Dimension{{Name: "queue_name", Value: "etl"}}, Value: v, Unit: "Count", Timestamp: at}
	}
	return []events.MetricSample{s("queue_cu_num", 16), s("queue_alloc_cu_num", 16), s("queue_job_running_num", 1), s("queue_job_launching_num", 4)}
}

func etlScaleOuts(c *Cluster) (n int, bodies []string) {
	for _, r := range c.Emulator.Requests() {
		if r.Method == "PUT" && strings.HasSuffix(r.Path, "/queues/etl/action") {
			n++
			bodies = append(bodies, r.Body)
		}
	}
	return n, bodies
}

// autoscaleScenarios: the reactive net sees a backlog in samples that
// arrive twice (two producers, different event ids) spread over the
// replicas while one is killed; the queue is scaled out once.
func autoscaleScenarios(t *testing.T, c *Cluster) {
	scenario(t, "autoscale/net-scale-out", "backlog samples for queue etl sent twice under different event ids to every replica while one is killed (kill -9) and restarted; apply mode", func(t *testing.T) string {
		now := time.Now().UTC().Truncate(time.Minute)
		var reqs []Request
		for copyN := range 2 {
			for i := range 4 {
				at := now.Add(time.Duration(i-3) * 5 * time.Minute)
				id := fmt.Sprintf("chaos-net-%d-%d", copyN, i)
				reqs = append(reqs, eventRequest(t, id, fmt.Sprintf("/chaos/cloudeye/%d", copyN), events.TypeMetricsSample, backlogPoint(at)))
			}
		}
		observe, attacked := strike(3, func() error {
			c.Replicas[1].Kill()
			return c.Replicas[1].Start()
		})
		res := Send(t.Context(), c.Live, reqs, LoadOptions{Concurrency: 3, Observe: observe, Pace: 200 * time.Millisecond})
		if err := attacked(); err != nil {
			t.Error(err)
		}
		if len(res.Failed) > 0 {
			t.Errorf("%d sample events never accepted", len(res.Failed))
		}
		if err := Eventually(60*time.Second, func() error {
			if n, _ := etlScaleOuts(c); n < 1 {
				return fmt.Errorf("no scale-out of etl reached DLI")
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		time.Sleep(5 * time.Second) // window in which a second scale-out would arrive
		n, bodies := etlScaleOuts(c)
		if n != 1 {
			t.Errorf("queue etl scaled %d times, want once: %q", n, bodies)
		}
		return fmt.Sprintf("%d sample events (2 copies × 4 buckets) → %d scale-out call(s) %q", len(reqs), n, bodies)
	})
}
