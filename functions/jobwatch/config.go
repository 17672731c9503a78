package jobwatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// ErrInvalidConfig is wrapped by every configuration error; the message names
// the variable (or the file and line) and what is wrong.
var ErrInvalidConfig = errors.New("jobwatch: invalid configuration")

// Config is jobwatch's configuration, read from JOBWATCH_* variables (the
// names below are without the prefix). Every field has a default; the zero
// Config is not valid, use LoadConfig or DefaultConfig.
type Config struct {
	// Interval is the poll period (JOBWATCH_INTERVAL, a Go duration): the
	// host publishes one tick per period; in Lambda an EventBridge schedule
	// does. Default 30s; at least 5s.
	Interval time.Duration `env:"INTERVAL, default=30s"`
	// Queues limits watching to these DLI queues (JOBWATCH_QUEUES, comma
	// separated). Default empty: every queue.
	Queues []string `env:"QUEUES"`
	// Kinds are the job kinds watched (JOBWATCH_KINDS): flink, spark, sql.
	// Default all three.
	Kinds []string `env:"KINDS, default=flink,spark,sql"`
	// Stuck overrides the stuck-in-transitional-state thresholds
	// (JOBWATCH_STUCK, "state:duration" pairs, e.g.
	// "job_submitting:5m,LAUNCHING:20m"; state names as DLI spells them).
	// Defaults: submitting, downloading, canceling, starting, LAUNCHING,
	// SCALING 10m; savepointing, recovering, arrearage_recovering 15m.
	// A duration of 0 turns the check off for that state.
	Stuck map[string]time.Duration `env:"STUCK"`
	// FlapCount is how many failures of one job within FlapWindow make the
	// incident a flapping one (JOBWATCH_FLAP_COUNT). Still one incident.
	// Default 3.
	FlapCount int `env:"FLAP_COUNT, default=3"`
	// FlapWindow is the window FlapCount counts in (JOBWATCH_FLAP_WINDOW).
	// Default 10m.
	FlapWindow time.Duration `env:"FLAP_WINDOW, default=10m"`
	// ResolveAfter is how long a job must stay healthy before its incident
	// is resolved (JOBWATCH_RESOLVE_AFTER): a job that fails again within it
	// stays in the same incident. 0 resolves on the first healthy poll.
	// Default 2m.
	ResolveAfter time.Duration `env:"RESOLVE_AFTER, default=2m"`
	// SlowFactor: a Spark batch or SQL job running longer than SlowFactor ×
	// the p95 of its own recent successful runs is reported as slow
	// (JOBWATCH_SLOW_FACTOR). 0 turns it off. Default 3.
	SlowFactor float64 `env:"SLOW_FACTOR, default=3"`
	// SlowMinRuns is how many successful runs of a job are needed before its
	// runtime is judged (JOBWATCH_SLOW_MIN_RUNS). Default 5.
	SlowMinRuns int `env:"SLOW_MIN_RUNS, default=5"`
	// SlowMin is the least runtime ever reported as slow
	// (JOBWATCH_SLOW_MIN), so that short jobs do not page on jitter.
	// Default 5m.
	SlowMin time.Duration `env:"SLOW_MIN, default=5m"`
	// Reminder is the repeat interval for open incidents (JOBWATCH_REMINDER):
	// a thread reply saying the incident is still open. 0 turns reminders
	// off. Default 4h.
	Reminder time.Duration `env:"REMINDER, default=4h"`
	// QuietStart: on the very first poll (no state in KV), jobs already
	// failed are summarised in one message instead of one alert each
	// (JOBWATCH_QUIET_START). Default true.
	QuietStart bool `env:"QUIET_START, default=true"`
	// SummaryMax is how many jobs the first-start summary lists by name
	// (JOBWATCH_SUMMARY_MAX); the rest are counted. Default 20.
	SummaryMax int `env:"SUMMARY_MAX, default=20"`
	// SQLLookback is how far back the first poll lists SQL jobs
	// (JOBWATCH_SQL_LOOKBACK); later polls list the jobs started since the
	// previous poll (and since the oldest still running one). Default 24h.
	SQLLookback time.Duration `env:"SQL_LOOKBACK, default=24h"`
	// SelfWatchAfter is how long polling DLI must keep failing before
	// jobwatch says "jobwatch cannot see DLI since …" (once; once more on
	// recovery) (JOBWATCH_SELFWATCH_AFTER). Default 5m.
	SelfWatchAfter time.Duration `env:"SELFWATCH_AFTER, default=5m"`
	// LateAfter: a poll that comes more than LateAfter after the previous
	// successful one is a catch-up; what it finds is marked "detected late"
	// (JOBWATCH_LATE_AFTER). Default 0: three times Interval.
	LateAfter time.Duration `env:"LATE_AFTER"`
	// LogLines is how many last lines of a failed Spark batch's log go in
	// the alert (JOBWATCH_LOG_LINES, one extra DLI call per failure, 10.1.6).
	// 0 turns the log tail off. Default 15.
	LogLines int `env:"LOG_LINES, default=15"`
	// PostLease is how long a replica that started posting an alert holds it
	// before another replica may take over (JOBWATCH_POST_LEASE). It must
	// exceed the Slack notifier's longest wait (30s). Default 2m.
	PostLease time.Duration `env:"POST_LEASE, default=2m"`
	// DigestMin: when this many alerts or more are due for one Slack
	// channel at once (in one delivery pass), they are posted as ONE digest
	// message listing them instead of one message each
	// (JOBWATCH_DIGEST_MIN). Slack takes about one message per second per
	// channel, so N separate alerts make the last one wait N-1 seconds.
	// Events stay one per incident; recoveries and updates are replies in
	// the digest's thread. 0 turns digests off; else at least 2. Default 4.
	DigestMin int `env:"DIGEST_MIN, default=4"`
	// DigestMax is how many incidents a digest names (JOBWATCH_DIGEST_MAX);
	// the rest are counted ("… and N more"). 1..100. Default 20.
	DigestMax int `env:"DIGEST_MAX, default=20"`
	// MaxBackoff caps how far throttling (DLI 429) stretches the poll
	// period: each throttled poll doubles it up to MaxBackoff
	// (JOBWATCH_MAX_BACKOFF). Default 8m.
	MaxBackoff time.Duration `env:"MAX_BACKOFF, default=8m"`
	// ConsoleURL is the console link template (JOBWATCH_CONSOLE_URL);
	// {kind}, {id}, {queue} and {region} are replaced. Default
	// "https://console.huaweicloud.com/dli/?region={region}#/main/jobs/{kind}/{id}".
	ConsoleURL string `env:"CONSOLE_URL, default=https://console.huaweicloud.com/dli/?region={region}#/main/jobs/{kind}/{id}"`
	// Region fills {region} in ConsoleURL (JOBWATCH_REGION). Default empty.
	Region string `env:"REGION"`
	// Channel is the channel for messages no route matches (JOBWATCH_CHANNEL).
	// Default empty: the notifier's default (SLACK_CHANNEL).
	Channel string `env:"CHANNEL"`
	// Routes are inline route and mute rules (JOBWATCH_ROUTES), ";"
	// separated: "queue=etl* channel=#etl-alerts; mute name=tmp_*; mute
	// kind=stuck queue=sandbox". See docs/jobwatch.md.
	Routes string `env:"ROUTES"`
	// RoutesFile is a YAML file of route and mute rules
	// (JOBWATCH_ROUTES_FILE), validated at start with errors naming the file
	// and line. Its rules come after the inline ones.
	RoutesFile string `env:"ROUTES_FILE"`

	// rules is Routes and RoutesFile parsed.
	rules *Rules
}

// DefaultStuck are the default stuck thresholds per transitional state.
var DefaultStuck = map[string]time.Duration{
	"job_submitting":           10 * time.Minute,
	"job_downloading":          10 * time.Minute,
	"job_canceling":            10 * time.Minute,
	"job_savepointing":         15 * time.Minute,
	"job_arrearage_recovering": 15 * time.Minute,
	"starting":                 10 * time.Minute,
	"recovering":               15 * time.Minute,
	"LAUNCHING":                10 * time.Minute,
	"SCALING":                  10 * time.Minute,
}

// LoadConfig reads the configuration through l (nil: the process
// environment) with the JOBWATCH_ prefix and validates it, reading
// RoutesFile.
func LoadConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	if l == nil {
		l = envconfig.OsLookuper()
	}
	var c Config
	err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: envconfig.PrefixLookuper("JOBWATCH_", nonEmpty{l})})
	if err != nil {
		return c, fmt.Errorf("%w: %s", ErrInvalidConfig, nameVariable(err.Error()))
	}
	return c, c.validate()
}

// nameVariable rewrites envconfig's "Field: …" error to name the variable.
func nameVariable(msg string) string {
	t := reflect.TypeOf(Config{})
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if tag != "" && strings.HasPrefix(msg, f.Name+":") {
			return "JOBWATCH_" + tag + strings.TrimPrefix(msg, f.Name)
		}
	}
	return msg
}

// nonEmpty treats a variable set to "" as unset.
type nonEmpty struct{ l envconfig.Lookuper }

func (n nonEmpty) Lookup(key string) (string, bool) {
	v, ok := n.l.Lookup(key)
	if ok && v == "" {
		return "", false
	}
	return v, ok
}

// DefaultConfig returns the defaults (as LoadConfig with no variables set).
func DefaultConfig() Config {
	c, err := LoadConfig(context.Background(), envconfig.MapLookuper(nil))
	if err != nil {
		panic(err) // the defaults are valid
	}
	return c
}

// Validate checks the configuration and parses the rules.
func (c *Config) Validate() error { return c.validate() }

func (c *Config) validate() error {
	var errs []string
	if c.Interval < 5*time.Second {
		errs = append(errs, fmt.Sprintf("JOBWATCH_INTERVAL: %s is below 5s", c.Interval))
	}
	for _, k := range c.Kinds {
		switch k {
		case KindFlink, KindSpark, KindSQL:
		default:
			errs = append(errs, fmt.Sprintf("JOBWATCH_KINDS: unknown kind %q (want flink, spark or sql)", k))
		}
	}
	states := make([]string, 0, len(c.Stuck))
	for s := range c.Stuck {
		states = append(states, s)
	}
	sort.Strings(states)
	for _, s := range states {
		if classify(kindOfState(s), s).class != classTransitional {
			errs = append(errs, fmt.Sprintf("JOBWATCH_STUCK: %q is not a transitional state (want one of %s)", s, strings.Join(transitionalStates(), ", ")))
		}
		if c.Stuck[s] < 0 {
			errs = append(errs, fmt.Sprintf("JOBWATCH_STUCK: negative threshold for %s", s))
		}
	}
	if c.FlapCount < 2 {
		errs = append(errs, "JOBWATCH_FLAP_COUNT: must be at least 2")
	}
	if c.FlapWindow <= 0 {
		errs = append(errs, "JOBWATCH_FLAP_WINDOW: must be positive")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"RESOLVE_AFTER", c.ResolveAfter}, {"REMINDER", c.Reminder}, {"SELFWATCH_AFTER", c.SelfWatchAfter}, {"LATE_AFTER", c.LateAfter}, {"SLOW_MIN", c.SlowMin}, {"SQL_LOOKBACK", c.SQLLookback}} {
		if d.v < 0 {
			errs = append(errs, fmt.Sprintf("JOBWATCH_%s: must not be negative", d.name))
		}
	}
	if c.SlowFactor < 0 || (c.SlowFactor > 0 && c.SlowFactor < 1) {
		errs = append(errs, "JOBWATCH_SLOW_FACTOR: must be 0 (off) or at least 1")
	}
	if c.SlowMinRuns < 1 {
		errs = append(errs, "JOBWATCH_SLOW_MIN_RUNS: must be at least 1")
	}
	if c.LogLines < 0 || c.LogLines > 100 {
		errs = append(errs, "JOBWATCH_LOG_LINES: must be 0..100")
	}
	if c.SummaryMax < 0 {
		errs = append(errs, "JOBWATCH_SUMMARY_MAX: must not be negative")
	}
	if c.PostLease < 30*time.Second {
		errs = append(errs, "JOBWATCH_POST_LEASE: must be at least 30s (the notifier may wait that long)")
	}
	if c.DigestMin < 0 || c.DigestMin == 1 {
		errs = append(errs, "JOBWATCH_DIGEST_MIN: must be 0 (off) or at least 2")
	}
	if c.DigestMax < 1 || c.DigestMax > 100 {
		errs = append(errs, "JOBWATCH_DIGEST_MAX: must be 1..100")
	}
	if c.MaxBackoff < c.Interval {
		errs = append(errs, "JOBWATCH_MAX_BACKOFF: must be at least JOBWATCH_INTERVAL")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(errs, "; "))
	}
	rules, err := ParseInlineRules(c.Routes)
	if err != nil {
		return fmt.Errorf("%w: JOBWATCH_ROUTES: %v", ErrInvalidConfig, err)
	}
	if c.RoutesFile != "" {
		data, err := os.ReadFile(c.RoutesFile)
		if err != nil {
			return fmt.Errorf("%w: JOBWATCH_ROUTES_FILE: %v", ErrInvalidConfig, err)
		}
		fr, err := ParseRulesYAML(c.RoutesFile, data)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		rules.Routes = append(rules.Routes, fr.Routes...)
		rules.Mutes = append(rules.Mutes, fr.Mutes...)
	}
	c.rules = rules
	return nil
}

// stuckThreshold returns the threshold for a transitional state (0: off).
func (c *Config) stuckThreshold(state string) time.Duration {
	if d, ok := c.Stuck[state]; ok {
		return d
	}
	return DefaultStuck[state]
}

func (c *Config) lateAfter() time.Duration {
	if c.LateAfter > 0 {
		return c.LateAfter
	}
	return 3 * c.Interval
}

func (c *Config) watches(kind string) bool {
	for _, k := range c.Kinds {
		if k == kind {
			return true
		}
	}
	return false
}
