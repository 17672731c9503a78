package autoscale

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/dlibot/dlibot/pkg/yamlfile"
	"github.com/goccy/go-yaml"
	"github.com/sethvargo/go-envconfig"

	"github.com/dlibot/dlibot/functions/autoscale/plan"
)

// ErrInvalidConfig is wrapped by every configuration error; the message
// names the variable (or the file, line and field) and what is wrong.
var ErrInvalidConfig = errors.New("autoscale: invalid configuration")

// Modes of a queue.
const (
	// ModeRecommend changes nothing: the proposed plan is posted to Slack
	// with its backtest and chart.
	ModeRecommend = "recommend"
	// ModeApply reconciles the queue's dlibot_… plans with the proposed
	// plan (within the change budget).
	ModeApply = "apply"
)

// Config is autoscale's configuration, read from AUTOSCALE_* variables (the
// names below are without the prefix). Use LoadConfig or DefaultConfig.
type Config struct {
	// Interval is the re-planning period (AUTOSCALE_INTERVAL): the host
	// publishes one tick per period; each tick rebuilds every queue's model
	// from KV, compiles, backtests and acts per mode. The reactive net does
	// not wait for it: it runs on every metrics event. Default 1h; at least 1m.
	Interval time.Duration `env:"INTERVAL, default=1h"`
	// Queues are the DLI queues to manage with the default mode and limits
	// (AUTOSCALE_QUEUES, comma separated). Queues in QueuesFile add to them.
	// Default empty: only queues named in QueuesFile.
	Queues []string `env:"QUEUES"`
	// QueuesFile is a YAML file with per-queue settings
	// (AUTOSCALE_QUEUES_FILE), e.g. `queues: [{name: etl, mode: apply,
	// min_cu: 32, max_cu: 256}]`: mode is recommend or apply, min_cu and
	// max_cu multiples of 16 (defaults AUTOSCALE_MODE, AUTOSCALE_MIN_CU and
	// AUTOSCALE_MAX_CU). Errors name the file, line and field. Default none.
	QueuesFile string `env:"QUEUES_FILE"`
	// Mode is the default mode of a queue (AUTOSCALE_MODE): recommend
	// (change nothing, post the proposal to Slack) or apply (reconcile the
	// plans). Default recommend.
	Mode string `env:"MODE, default=recommend"`
	// MinCU and MaxCU bound every plan and scale-out (AUTOSCALE_MIN_CU,
	// AUTOSCALE_MAX_CU), multiples of 16. Defaults 16 and 512.
	MinCU int `env:"MIN_CU, default=16"`
	// MaxCU: see MinCU.
	MaxCU int `env:"MAX_CU, default=512"`
	// PricePerCUHour is the price of one CU-hour (AUTOSCALE_PRICE_PER_CU_HOUR)
	// in the account's currency; when set, decisions and messages show costs
	// next to CU-hours. Default 0 (CU-hours only).
	PricePerCUHour float64 `env:"PRICE_PER_CU_HOUR, default=0"`
	// WaitCostPerJobMinute is the cost, in AUTOSCALE_CURRENCY, of one job
	// waiting one minute (AUTOSCALE_WAIT_COST_PER_JOB_MINUTE). When set (it
	// needs AUTOSCALE_PRICE_PER_CU_HOUR), the plan minimises the weekly
	// price·CU-hours + this·job-minutes waited, replayed leave-one-week-out
	// over the history, instead of meeting AUTOSCALE_TARGET_P95_WAIT.
	// Default 0 (the wait target).
	WaitCostPerJobMinute float64 `env:"WAIT_COST_PER_JOB_MINUTE, default=0"`
	// Currency labels prices (AUTOSCALE_CURRENCY). Default USD.
	Currency string `env:"CURRENCY, default=USD"`
	// TargetP95Wait is the wait target (AUTOSCALE_TARGET_P95_WAIT): the
	// cheapest plan whose backtested P95 queue wait is at most this wins.
	// Default 5m.
	TargetP95Wait time.Duration `env:"TARGET_P95_WAIT, default=5m"`
	// MaxChanges is K, the most dlibot plans per queue
	// (AUTOSCALE_MAX_CHANGES); DLI allows 12 per queue including plans
	// dlibot did not make. Default 12.
	MaxChanges int `env:"MAX_CHANGES, default=12"`
	// MinSpacing is the least time between two plan firings
	// (AUTOSCALE_MIN_SPACING). Default 2h (DLI's rule).
	MinSpacing time.Duration `env:"MIN_SPACING, default=2h"`
	// LeadTime is how early a scale-up fires before the hour that needs it
	// (AUTOSCALE_LEAD_TIME). Default 20m (DLI's advice).
	LeadTime time.Duration `env:"LEAD_TIME, default=20m"`
	// Weeks is how many weeks of history the model learns from and KV keeps
	// (AUTOSCALE_WEEKS). Default 4.
	Weeks int `env:"WEEKS, default=4"`
	// HalfLifeWeeks is the age in weeks at which a week counts half
	// (AUTOSCALE_HALF_LIFE_WEEKS). Default 2.
	HalfLifeWeeks float64 `env:"HALF_LIFE_WEEKS, default=2"`
	// DipRatio leaves out days whose demand is below this fraction of the
	// same weekday's median (holidays) (AUTOSCALE_DIP_RATIO); 0 keeps all
	// days. Default 0.5.
	DipRatio float64 `env:"DIP_RATIO, default=0.5"`
	// Exclude lists extra days (YYYY-MM-DD) the model ignores
	// (AUTOSCALE_EXCLUDE, comma separated). Default none.
	Exclude []string `env:"EXCLUDE"`
	// MinSaving is the least backtested CU-hour saving, as a fraction of
	// the current plan's CU-hours, for which a new plan is proposed or
	// applied (AUTOSCALE_MIN_SAVING); a plan that fixes a missed wait
	// target is proposed regardless. Default 0.05.
	MinSaving float64 `env:"MIN_SAVING, default=0.05"`
	// MaxAppliesPerDay and MaxAppliesPerWeek are the change budget of apply
	// mode per queue (AUTOSCALE_MAX_APPLIES_PER_DAY,
	// AUTOSCALE_MAX_APPLIES_PER_WEEK): how many reconciles that change
	// plans may run per UTC day and per 7 days. Defaults 1 and 3.
	MaxAppliesPerDay int `env:"MAX_APPLIES_PER_DAY, default=1"`
	// MaxAppliesPerWeek: see MaxAppliesPerDay.
	MaxAppliesPerWeek int `env:"MAX_APPLIES_PER_WEEK, default=3"`
	// MinHistory is how much sample history a queue needs before it is
	// planned (AUTOSCALE_MIN_HISTORY). Default 7 days (one weekly cycle).
	MinHistory time.Duration `env:"MIN_HISTORY, default=168h"`
	// StaleAfter: when a queue's newest sample is older than this at a
	// tick, nothing changes for it and one alert is posted until samples
	// arrive again (AUTOSCALE_STALE_AFTER). Default 20m (4 Cloud Eye periods).
	StaleAfter time.Duration `env:"STALE_AFTER, default=20m"`
	// NetBacklog is the reactive net's threshold: launching jobs
	// (queue_job_launching_num) at or above it count as a backlog
	// (AUTOSCALE_NET_BACKLOG). 0 turns the net off. Default 1.
	NetBacklog float64 `env:"NET_BACKLOG, default=1"`
	// NetSamples is how many consecutive samples must show the backlog
	// before the net scales out (AUTOSCALE_NET_SAMPLES). Default 1: with
	// Cloud Eye's 5-minute period and 10 minutes until new CUs are usable,
	// a second sample made bursts wait past the P95 target in the
	// simulator.
	NetSamples int `env:"NET_SAMPLES, default=1"`
	// NetCooldown is the least time between two net scale-outs of a queue
	// (AUTOSCALE_NET_COOLDOWN) until dlibot has applied plans to it (then
	// the cooldown tuned with them, AUTOSCALE_NET_COOLDOWNS) and in
	// recommend mode; kept in KV so replicas and restarts respect it.
	// Default 15m.
	NetCooldown time.Duration `env:"NET_COOLDOWN, default=15m"`
	// NetCooldowns are the net cooldowns the tuning may pair with a
	// queue's plan (AUTOSCALE_NET_COOLDOWNS, comma separated, whole
	// minutes): each candidate plan is replayed with each, and the net
	// uses the cooldown of the plan dlibot last applied to the queue
	// (AUTOSCALE_NET_COOLDOWN before that, and in recommend mode). One
	// value fixes the cooldown (e.g. 15m). Default 5m,15m.
	NetCooldowns []time.Duration `env:"NET_COOLDOWNS, default=5m,15m"`
	// NetJobCU is the CUs assumed per launching job when the samples do not
	// tell (allocated CUs per running job, at least this)
	// (AUTOSCALE_NET_JOB_CU). Default 16.
	NetJobCU int `env:"NET_JOB_CU, default=16"`
	// Channel is the Slack channel for recommendations and alerts
	// (AUTOSCALE_CHANNEL). Default: SLACK_CHANNEL.
	Channel string `env:"CHANNEL"`
	// TimeZone is the IANA zone of the week and of the plans' start times
	// (AUTOSCALE_TIME_ZONE); DLI plans carry no zone. Default UTC.
	TimeZone string `env:"TIME_ZONE, default=UTC"`

	// queues is the validated per-queue settings, by name.
	queues map[string]QueueConfig
	loc    *time.Location
}

// QueueConfig is one queue's settings.
type QueueConfig struct {
	// Name is the DLI queue name.
	Name string `yaml:"name"`
	// Mode is recommend or apply; default Config.Mode.
	Mode string `yaml:"mode"`
	// MinCU and MaxCU bound the queue's plans; defaults Config.MinCU/MaxCU.
	MinCU int `yaml:"min_cu"`
	// MaxCU: see MinCU.
	MaxCU int `yaml:"max_cu"`
}

// DefaultConfig is the configuration with every default.
func DefaultConfig() Config {
	c, err := LoadConfig(context.Background(), envconfig.MapLookuper(nil))
	if err != nil {
		panic(err) // the defaults are valid
	}
	return c
}

// LoadConfig reads AUTOSCALE_* through l (nil: the environment), reads
// QueuesFile and validates everything.
func LoadConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	if l == nil {
		l = envconfig.OsLookuper()
	}
	var c Config
	err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: envconfig.PrefixLookuper("AUTOSCALE_", nonEmpty{l})})
	if err != nil {
		return c, fmt.Errorf("%w: %s", ErrInvalidConfig, nameVariable(err.Error()))
	}
	return c, c.Validate()
}

// Validate checks the configuration (and reads QueuesFile, once).
func (c *Config) Validate() error {
	var errs []error
	bad := func(v, format string, args ...any) {
		errs = append(errs, fmt.Errorf("AUTOSCALE_%s: %s", v, fmt.Sprintf(format, args...)))
	}
	if c.Interval < time.Minute {
		bad("INTERVAL", "%v is below 1m", c.Interval)
	}
	if c.Mode != ModeRecommend && c.Mode != ModeApply {
		bad("MODE", "%q: want recommend or apply", c.Mode)
	}
	if c.MinCU < plan.Step || c.MinCU%plan.Step != 0 {
		bad("MIN_CU", "%d: want a positive multiple of 16", c.MinCU)
	}
	if c.MaxCU%plan.Step != 0 || c.MaxCU < c.MinCU {
		bad("MAX_CU", "%d: want a multiple of 16 ≥ AUTOSCALE_MIN_CU", c.MaxCU)
	}
	if c.PricePerCUHour < 0 {
		bad("PRICE_PER_CU_HOUR", "%v is negative", c.PricePerCUHour)
	}
	switch {
	case c.WaitCostPerJobMinute < 0:
		bad("WAIT_COST_PER_JOB_MINUTE", "%v is negative", c.WaitCostPerJobMinute)
	case c.WaitCostPerJobMinute > 0 && c.PricePerCUHour == 0:
		bad("WAIT_COST_PER_JOB_MINUTE", "%v needs AUTOSCALE_PRICE_PER_CU_HOUR (waiting is weighed against the price of CU-hours)", c.WaitCostPerJobMinute)
	}
	if c.TargetP95Wait <= 0 {
		bad("TARGET_P95_WAIT", "%v: want a positive duration", c.TargetP95Wait)
	}
	if c.MaxChanges < 1 || c.MaxChanges > DefaultMaxPlans {
		bad("MAX_CHANGES", "%d: want 1…%d", c.MaxChanges, DefaultMaxPlans)
	}
	if _, err := (plan.Config{MinCU: plan.Step, MaxCU: plan.Step, MinSpacing: c.MinSpacing, LeadTime: c.LeadTime}).Normalize(); err != nil || c.MinSpacing <= 0 || c.LeadTime <= 0 {
		bad("MIN_SPACING/LEAD_TIME", "%v/%v: want whole minutes, lead time at most 1h", c.MinSpacing, c.LeadTime)
	}
	if c.Weeks < 1 || c.Weeks > 52 {
		bad("WEEKS", "%d: want 1…52", c.Weeks)
	}
	if c.HalfLifeWeeks <= 0 {
		bad("HALF_LIFE_WEEKS", "%v: want > 0", c.HalfLifeWeeks)
	}
	if c.DipRatio < 0 || c.DipRatio >= 1 {
		bad("DIP_RATIO", "%v: want 0 ≤ ratio < 1", c.DipRatio)
	}
	for _, d := range c.Exclude {
		if _, err := time.Parse(time.DateOnly, strings.TrimSpace(d)); err != nil {
			bad("EXCLUDE", "%q: want YYYY-MM-DD", d)
		}
	}
	if c.MinSaving < 0 || c.MinSaving >= 1 {
		bad("MIN_SAVING", "%v: want 0 ≤ fraction < 1", c.MinSaving)
	}
	if c.MaxAppliesPerDay < 0 || c.MaxAppliesPerWeek < 0 {
		bad("MAX_APPLIES_PER_DAY/WEEK", "must not be negative")
	}
	if c.StaleAfter <= 0 {
		bad("STALE_AFTER", "%v: want a positive duration", c.StaleAfter)
	}
	if c.MinHistory < 0 {
		bad("MIN_HISTORY", "%v is negative", c.MinHistory)
	}
	if c.NetBacklog < 0 {
		bad("NET_BACKLOG", "%v is negative", c.NetBacklog)
	}
	if c.NetSamples < 1 {
		bad("NET_SAMPLES", "%d: want ≥ 1", c.NetSamples)
	}
	if c.NetCooldown < time.Minute {
		bad("NET_COOLDOWN", "%v is below 1m", c.NetCooldown)
	}
	for _, d := range c.NetCooldowns {
		if d < time.Minute || d%time.Minute != 0 {
			bad("NET_COOLDOWNS", "%v: want whole minutes, at least 1m", d)
		}
	}
	if c.NetJobCU < 1 {
		bad("NET_JOB_CU", "%d: want ≥ 1", c.NetJobCU)
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		bad("TIME_ZONE", "%q: %v", c.TimeZone, err)
	}
	c.loc = loc
	c.queues = map[string]QueueConfig{}
	for _, q := range c.Queues {
		q = strings.TrimSpace(q)
		if q == "" {
			continue
		}
		c.queues[q] = QueueConfig{Name: q}
	}
	if c.QueuesFile != "" {
		data, err := os.ReadFile(c.QueuesFile)
		if err != nil {
			bad("QUEUES_FILE", "%v", err)
		} else if qs, err := ParseQueues(c.QueuesFile, data); err != nil {
			errs = append(errs, err)
		} else {
			for _, q := range qs {
				c.queues[q.Name] = q
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w:\n%w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// QueueNames lists the configured queues, sorted.
func (c *Config) QueueNames() []string {
	out := make([]string, 0, len(c.queues))
	for n := range c.queues {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Queue returns the settings of queue name with the defaults filled in.
func (c *Config) Queue(name string) QueueConfig {
	q, ok := c.queues[name]
	if !ok {
		q = QueueConfig{Name: name}
	}
	if q.Mode == "" {
		q.Mode = c.Mode
	}
	if q.MinCU == 0 {
		q.MinCU = c.MinCU
	}
	if q.MaxCU == 0 {
		q.MaxCU = c.MaxCU
	}
	return q
}

// SetQueue sets one queue's settings (for tests and programmatic use).
// Copies of c made before are not affected.
func (c *Config) SetQueue(q QueueConfig) {
	m := make(map[string]QueueConfig, len(c.queues)+1)
	for k, v := range c.queues {
		m[k] = v
	}
	m[q.Name] = q
	c.queues = m
}

// Location is the time zone of the week.
func (c *Config) Location() *time.Location {
	if c.loc == nil {
		return time.UTC
	}
	return c.loc
}

// ParseQueues reads a queues file (`queues:` list of name, mode, min_cu,
// max_cu). Every problem is reported as "file:line:col: field: problem".
func ParseQueues(filename string, data []byte) ([]QueueConfig, error) {
	var f struct {
		Queues []QueueConfig `yaml:"queues"`
	}
	if err := yamlfile.Unmarshal(data, &f, yaml.DisallowUnknownField()); err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil {
			p := ye.GetToken().Position
			return nil, fmt.Errorf("%w: %s:%d:%d: %s", ErrInvalidConfig, filename, p.Line, p.Column, ye.GetMessage())
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, filename, err)
	}
	if len(f.Queues) == 0 {
		return nil, fmt.Errorf("%w: %s: no queues (want a non-empty queues: list)", ErrInvalidConfig, filename)
	}
	var errs []error
	seen := map[string]bool{}
	for i, q := range f.Queues {
		line := yamlLine(data, fmt.Sprintf("$.queues[%d]", i))
		at := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: queues[%d].%s: %s", filename, line, i, field, fmt.Sprintf(format, args...)))
		}
		switch {
		case strings.TrimSpace(q.Name) == "":
			at("name", "missing")
		case seen[q.Name]:
			at("name", "%q listed twice", q.Name)
		}
		seen[q.Name] = true
		if q.Mode != "" && q.Mode != ModeRecommend && q.Mode != ModeApply {
			at("mode", "%q: want recommend or apply", q.Mode)
		}
		if q.MinCU < 0 || q.MinCU%plan.Step != 0 {
			at("min_cu", "%d: want a multiple of 16", q.MinCU)
		}
		if q.MaxCU < 0 || q.MaxCU%plan.Step != 0 || (q.MaxCU != 0 && q.MaxCU < q.MinCU) {
			at("max_cu", "%d: want a multiple of 16 ≥ min_cu", q.MaxCU)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalidConfig, errors.Join(errs...))
	}
	return f.Queues, nil
}

func yamlLine(data []byte, path string) int {
	p, err := yaml.PathString(path)
	if err != nil {
		return 0
	}
	n, err := p.ReadNode(strings.NewReader(string(data)))
	if err != nil || n == nil || n.GetToken() == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

// nameVariable rewrites envconfig's "Field: …" error to name the variable.
func nameVariable(msg string) string {
	t := reflect.TypeOf(Config{})
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if tag != "" && strings.HasPrefix(msg, f.Name+":") {
			return "AUTOSCALE_" + tag + strings.TrimPrefix(msg, f.Name)
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
