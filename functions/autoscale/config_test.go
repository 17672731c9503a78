package autoscale

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

func TestConfigDefaults(t *testing.T) {
	c := DefaultConfig()
	if c.Interval != time.Hour || c.Mode != ModeRecommend || c.MaxChanges != 12 || c.MinSpacing != 2*time.Hour ||
		c.LeadTime != 20*time.Minute || c.TargetP95Wait != 5*time.Minute || c.NetCooldown != 15*time.Minute || c.Weeks != 4 {
		t.Errorf("defaults: %+v", c)
	}
	if q := c.Queue("etl"); q.Mode != ModeRecommend || q.MinCU != 16 || q.MaxCU != 512 {
		t.Errorf("queue defaults: %+v", q)
	}
	if !slices.Equal(c.NetCooldowns, []time.Duration{5 * time.Minute, 15 * time.Minute}) {
		t.Errorf("net cooldowns tuned: %v, want [5m 15m]", c.NetCooldowns)
	}
	c, err := LoadConfig(context.Background(), envconfig.MapLookuper(map[string]string{"AUTOSCALE_NET_COOLDOWNS": "10m"}))
	if err != nil || !slices.Equal(c.NetCooldowns, []time.Duration{10 * time.Minute}) {
		t.Errorf("AUTOSCALE_NET_COOLDOWNS=10m: %v %v", c.NetCooldowns, err)
	}
}

func TestConfigQueuesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queues.yaml")
	if err := os.WriteFile(path, []byte("queues:\n  - {name: etl, mode: apply, min_cu: 32, max_cu: 256}\n  - name: adhoc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(context.Background(), envconfig.MapLookuper(map[string]string{
		"AUTOSCALE_QUEUES_FILE": path, "AUTOSCALE_QUEUES": "bi", "AUTOSCALE_MODE": "recommend"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.QueueNames(), ","); got != "adhoc,bi,etl" {
		t.Errorf("queues = %s", got)
	}
	if q := c.Queue("etl"); q.Mode != ModeApply || q.MinCU != 32 || q.MaxCU != 256 {
		t.Errorf("etl = %+v", q)
	}
	if q := c.Queue("adhoc"); q.Mode != ModeRecommend || q.MaxCU != 512 {
		t.Errorf("adhoc = %+v", q)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		file string
		want []string
	}{
		{"mode", map[string]string{"AUTOSCALE_MODE": "yolo"}, "", []string{"AUTOSCALE_MODE", `"yolo"`}},
		{"min cu", map[string]string{"AUTOSCALE_MIN_CU": "20"}, "", []string{"AUTOSCALE_MIN_CU: 20"}},
		{"duration", map[string]string{"AUTOSCALE_INTERVAL": "soon"}, "", []string{"AUTOSCALE_INTERVAL"}},
		{"cooldown", map[string]string{"AUTOSCALE_NET_COOLDOWN": "10s"}, "", []string{"AUTOSCALE_NET_COOLDOWN"}},
		{"net cooldowns", map[string]string{"AUTOSCALE_NET_COOLDOWNS": "5m,90s"}, "", []string{"AUTOSCALE_NET_COOLDOWNS", "1m30s"}},
		{"wait cost without a price", map[string]string{"AUTOSCALE_WAIT_COST_PER_JOB_MINUTE": "0.02"}, "", []string{"AUTOSCALE_WAIT_COST_PER_JOB_MINUTE", "AUTOSCALE_PRICE_PER_CU_HOUR"}},
		{"negative wait cost", map[string]string{"AUTOSCALE_WAIT_COST_PER_JOB_MINUTE": "-1", "AUTOSCALE_PRICE_PER_CU_HOUR": "0.3"}, "", []string{"AUTOSCALE_WAIT_COST_PER_JOB_MINUTE", "negative"}},
		{"zone", map[string]string{"AUTOSCALE_TIME_ZONE": "Mars/Olympus"}, "", []string{"AUTOSCALE_TIME_ZONE"}},
		{"exclude", map[string]string{"AUTOSCALE_EXCLUDE": "2026-13-01"}, "", []string{"AUTOSCALE_EXCLUDE"}},
		{"file mode", nil, "queues:\n  - name: etl\n    mode: auto\n", []string{"queues.yaml:2: queues[0].mode", `"auto"`}},
		{"file cu", nil, "queues:\n  - name: etl\n  - name: bi\n    max_cu: 100\n", []string{"queues.yaml:3: queues[1].max_cu: 100"}},
		{"file dup", nil, "queues:\n  - name: etl\n  - name: etl\n", []string{"queues.yaml:3: queues[1].name", "twice"}},
		{"file unknown field", nil, "queues:\n  - name: etl\n    maxcu: 64\n", []string{"queues.yaml:3:", "maxcu"}},
		{"file empty", nil, "queues: []\n", []string{"queues.yaml: no queues"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tc.env {
				env[k] = v
			}
			if tc.file != "" {
				p := filepath.Join(t.TempDir(), "queues.yaml")
				if err := os.WriteFile(p, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
				env["AUTOSCALE_QUEUES_FILE"] = p
			}
			_, err := LoadConfig(context.Background(), envconfig.MapLookuper(env))
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func FuzzParseQueues(f *testing.F) {
	f.Add([]byte("queues:\n  - {name: etl, mode: apply, min_cu: 32, max_cu: 256}\n"))
	f.Add([]byte("queues:\n  - name: etl\n    mode: auto\n"))
	f.Add([]byte("queues: [{name: a}, {name: a}]"))
	f.Add([]byte("::"))
	f.Fuzz(func(t *testing.T, data []byte) {
		qs, err := ParseQueues("q.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "q.yaml") {
				t.Fatalf("error %v does not wrap ErrInvalidConfig or name the file", err)
			}
			return
		}
		for _, q := range qs {
			if q.Name == "" || q.MinCU%16 != 0 || q.MaxCU%16 != 0 {
				t.Fatalf("accepted invalid queue %+v", q)
			}
		}
	})
}
