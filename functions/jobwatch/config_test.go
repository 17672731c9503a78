package jobwatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

func TestConfigDefaults(t *testing.T) {
	c := DefaultConfig()
	if c.Interval != 30*time.Second || c.Reminder != 4*time.Hour || !c.QuietStart || c.FlapCount != 3 || c.FlapWindow != 10*time.Minute {
		t.Errorf("defaults %+v", c)
	}
	if len(c.Kinds) != 3 {
		t.Errorf("kinds %v", c.Kinds)
	}
	if c.stuckThreshold("job_submitting") != 10*time.Minute || c.stuckThreshold("LAUNCHING") != 10*time.Minute {
		t.Error("stuck defaults")
	}
	if c.DigestMin != 4 || c.DigestMax != 20 {
		t.Errorf("digest defaults: min %d, max %d; want 4, 20", c.DigestMin, c.DigestMax)
	}
}

func TestConfigFromEnv(t *testing.T) {
	l := envconfig.MapLookuper(map[string]string{
		"JOBWATCH_INTERVAL": "1m", "JOBWATCH_QUEUES": "etl,prod", "JOBWATCH_REMINDER": "0",
		"JOBWATCH_STUCK": "LAUNCHING:20m,job_savepointing:0", "JOBWATCH_ROUTES": "queue=prod channel=#prod",
		"JOBWATCH_ROUTES_FILE": filepath.Join("testdata", "routes.yaml"), "JOBWATCH_CHANNEL": "",
	})
	c, err := LoadConfig(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	if c.Interval != time.Minute || len(c.Queues) != 2 || c.Reminder != 0 {
		t.Errorf("config %+v", c)
	}
	if c.stuckThreshold("LAUNCHING") != 20*time.Minute || c.stuckThreshold("job_savepointing") != 0 {
		t.Error("stuck overrides")
	}
	r := c.rules
	if got := r.Channel(KindFlink, IncidentFailed, "a", "prod"); got != "#prod" {
		t.Errorf("inline route first: %q", got)
	}
	if got := r.Channel(KindSpark, IncidentFailed, "a", "etl_daily"); got != "#etl-alerts" {
		t.Errorf("glob route: %q", got)
	}
	if got := r.Channel(KindSQL, IncidentFailed, "a", "default"); got != "C0SQL" {
		t.Errorf("kind route: %q", got)
	}
	if !r.Muted(KindFlink, IncidentFailed, "tmp_x", "q") || !r.Muted(KindSpark, IncidentStuck, "x", "sandbox") || r.Muted(KindSpark, IncidentFailed, "x", "sandbox") {
		t.Error("mutes")
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"JOBWATCH_INTERVAL": "1s"}, "JOBWATCH_INTERVAL"},
		{map[string]string{"JOBWATCH_INTERVAL": "soon"}, "INTERVAL"},
		{map[string]string{"JOBWATCH_KINDS": "flink,hive"}, `unknown kind "hive"`},
		{map[string]string{"JOBWATCH_STUCK": "job_running:5m"}, `"job_running" is not a transitional state`},
		{map[string]string{"JOBWATCH_FLAP_COUNT": "1"}, "JOBWATCH_FLAP_COUNT"},
		{map[string]string{"JOBWATCH_SLOW_FACTOR": "0.5"}, "JOBWATCH_SLOW_FACTOR"},
		{map[string]string{"JOBWATCH_ROUTES": "queue=etl"}, "needs channel="},
		{map[string]string{"JOBWATCH_ROUTES": "mute"}, "muting everything"},
		{map[string]string{"JOBWATCH_ROUTES": "queue=[ channel=x"}, "bad glob"},
		{map[string]string{"JOBWATCH_ROUTES": "colour=red channel=x"}, `unknown key "colour"`},
		{map[string]string{"JOBWATCH_ROUTES_FILE": "testdata/nope.yaml"}, "JOBWATCH_ROUTES_FILE"},
		{map[string]string{"JOBWATCH_DIGEST_MIN": "1"}, "JOBWATCH_DIGEST_MIN: must be 0 (off) or at least 2"},
		{map[string]string{"JOBWATCH_DIGEST_MIN": "-3"}, "JOBWATCH_DIGEST_MIN"},
		{map[string]string{"JOBWATCH_DIGEST_MIN": "some"}, "DIGEST_MIN"},
		{map[string]string{"JOBWATCH_DIGEST_MAX": "0"}, "JOBWATCH_DIGEST_MAX: must be 1..100"},
		{map[string]string{"JOBWATCH_DIGEST_MAX": "101"}, "JOBWATCH_DIGEST_MAX"},
	} {
		_, err := LoadConfig(context.Background(), envconfig.MapLookuper(tc.env))
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.env, err, tc.want)
		}
	}
}

func TestRulesYAMLErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		yaml, want string
	}{
		{"routes:\n  - queue: etl\n    channel: C1\n  - queue: prod\n", "r.yaml:4: routes[1]: channel is required"},
		{"routes:\n  - queue: etl\n    chanel: C1\n", "r.yaml:3:"},
		{"mute:\n  - name: a\n  - {}\n", "r.yaml:3: mute[1]: a mute rule needs"},
		{"mute:\n  - kind: hive\n", "r.yaml:2: mute[0]: kind: \"hive\""},
		{"routes: [\n", "r.yaml"},
	} {
		_, err := ParseRulesYAML("r.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.yaml, err, tc.want)
		}
	}
	data, err := os.ReadFile(filepath.Join("testdata", "routes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRulesYAML("routes.yaml", data)
	if err != nil || len(r.Routes) != 2 || len(r.Mutes) != 2 {
		t.Fatalf("rules %+v, %v", r, err)
	}
}

func FuzzParseInlineRules(f *testing.F) {
	f.Add("queue=etl* channel=#etl; mute name=tmp_*")
	f.Add("mute kind=sql incident=stuck")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseInlineRules(s)
		if err == nil {
			r.Channel("flink", "failed", "n", "q")
			r.Muted("flink", "failed", "n", "q")
		}
	})
}

func FuzzParseRulesYAML(f *testing.F) {
	f.Add([]byte("routes:\n  - queue: etl\n    channel: C1\nmute:\n  - name: x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseRulesYAML("f.yaml", b)
	})
}
