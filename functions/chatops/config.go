// Package chatops is dlibot's Slack front end to DLI: the `/dli` slash
// command and its buttons. It verifies every request (Slack's v0 signature,
// a five-minute window, replays refused), answers within Slack's three
// seconds, checks a YAML policy (roles, grants, CU ceilings, protected
// queues), asks for a Confirm click — and on protected queues a second
// person's approval — before anything changes DLI, and writes an audit
// CloudEvent for every command. docs/chatops.md is the user's guide.
package chatops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// Config is chatops' own configuration, read from CHATOPS_* variables
// (the shared SLACK_* and NATS_* variables are in host.Config).
type Config struct {
	// Policy is the path of the policy YAML (CHATOPS_POLICY). Required,
	// except in `dlibot dev`, which grants the admin role to the dev user
	// U0DLIBOTDEV when it is unset (and says so in the log).
	Policy string `env:"POLICY"`
	// ConfirmTTL is how long a Confirm or Approve button stays valid
	// (CHATOPS_CONFIRM_TTL). Default 10m; at most 30m (the response_url
	// lifetime).
	ConfirmTTL time.Duration `env:"CONFIRM_TTL, default=10m"`
	// AckBudget is how long a command may run before the answer is
	// "working…" and the result follows through the response_url
	// (CHATOPS_ACK_BUDGET). Default 2s; Slack gives up after 3s.
	AckBudget time.Duration `env:"ACK_BUDGET, default=2s"`
	// CommandTimeout bounds one command's DLI work, the background part
	// included (CHATOPS_COMMAND_TIMEOUT). Default 2m.
	CommandTimeout time.Duration `env:"COMMAND_TIMEOUT, default=2m"`
	// MaxBodyBytes caps a Slack request body in bytes; a larger one is
	// answered 413 before anything else (CHATOPS_MAX_BODY_BYTES). Default
	// 65536.
	MaxBodyBytes int64 `env:"MAX_BODY_BYTES, default=65536"`
	// ResponseURLHosts are the only hosts a response_url may point at
	// (CHATOPS_RESPONSE_URL_HOSTS, comma-separated; a leading "." allows
	// sub-domains). Default "hooks.slack.com,hooks.slack-gov.com"; `dlibot
	// dev` adds 127.0.0.1 and localhost. Anything else is never contacted
	// (no SSRF through a forged payload).
	ResponseURLHosts []string `env:"RESPONSE_URL_HOSTS, default=hooks.slack.com,hooks.slack-gov.com"`
	// ResponseURLAllowHTTP also allows http:// response URLs
	// (CHATOPS_RESPONSE_URL_ALLOW_HTTP). Default false (https only); `dlibot
	// dev` turns it on.
	ResponseURLAllowHTTP bool `env:"RESPONSE_URL_ALLOW_HTTP, default=false"`
	// ResponseBudget is how many times one response_url is used at most
	// (CHATOPS_RESPONSE_BUDGET). Default 5, Slack's limit.
	ResponseBudget int `env:"RESPONSE_BUDGET, default=5"`
	// ResponseWindow is how long a response_url stays usable
	// (CHATOPS_RESPONSE_WINDOW). Default 30m, Slack's limit; later
	// notifications go to the channel through the bot token.
	ResponseWindow time.Duration `env:"RESPONSE_WINDOW, default=30m"`
	// CUPrice is the price of one CU for one hour, used for the cost delta
	// shown before scaling (CHATOPS_CU_PRICE). Default 0.36.
	CUPrice float64 `env:"CU_PRICE, default=0.36"`
	// Currency is CUPrice's currency (CHATOPS_CURRENCY). Default "USD".
	Currency string `env:"CURRENCY, default=USD"`
	// ReplayCacheSize bounds the in-process map of seen signatures used
	// without NATS (CHATOPS_REPLAY_CACHE_SIZE). With NATS, seen signatures
	// live in the KV bucket dlibot_chatops for 10 minutes and this is not
	// used. Default 10000.
	ReplayCacheSize int `env:"REPLAY_CACHE_SIZE, default=10000"`
	// Tick is the period of the schedule tick that performs due reverts
	// (`scale --for`) and finishes SQL watches after a restart
	// (CHATOPS_TICK). Default 30s.
	Tick time.Duration `env:"TICK, default=30s"`
	// SQLPoll is how often a submitted SQL job's status is polled to tell
	// the submitter when it ends (CHATOPS_SQL_POLL). Default 5s.
	SQLPoll time.Duration `env:"SQL_POLL, default=5s"`
	// SQLWatchMax is how long a submitted SQL job is watched at most
	// (CHATOPS_SQL_WATCH_MAX). Default 6h.
	SQLWatchMax time.Duration `env:"SQL_WATCH_MAX, default=6h"`
	// GroupCacheTTL is how long Slack user-group memberships
	// (usergroups.list) are cached; looked up only when a grant names a
	// group (CHATOPS_GROUP_CACHE_TTL). Default 5m.
	GroupCacheTTL time.Duration `env:"GROUP_CACHE_TTL, default=5m"`
	// TableRows is how many rows a table reply shows before "N more"
	// (CHATOPS_TABLE_ROWS). Default 20.
	TableRows int `env:"TABLE_ROWS, default=20"`
	// LogLines is the default of `spark logs --lines` (CHATOPS_LOG_LINES).
	// Default 50; --lines may ask for up to 1000.
	LogLines int `env:"LOG_LINES, default=50"`
	// ReadCacheTTL is how long an answer of DLI to a read command (queues,
	// queue, plans, flink list, spark list, jobs) is reused by identical
	// commands in this process (CHATOPS_READ_CACHE_TTL); identical commands
	// running at the same time share one DLI call. Any change made
	// through this process forgets every kept answer at once; a change made
	// elsewhere shows within this time. Default 5s; 0 turns the cache off
	// (every command asks DLI). At most 1m.
	ReadCacheTTL time.Duration `env:"READ_CACHE_TTL, default=5s"`
}

// LoadConfig reads the CHATOPS_* variables through l and validates them.
func LoadConfig(ctx context.Context, l envconfig.Lookuper) (*Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: envconfig.PrefixLookuper("CHATOPS_", nonEmpty(l))}); err != nil {
		return nil, fmt.Errorf("chatops configuration: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func nonEmpty(l envconfig.Lookuper) envconfig.Lookuper {
	return envconfig.LookuperFunc(func(key string) (string, bool) {
		v, ok := l.Lookup(key)
		if v == "" {
			return "", false
		}
		return v, ok
	})
}

// Validate checks the values; the error names each bad variable.
func (c *Config) Validate() error {
	var errs []string
	bad := func(v, f string, a ...any) { errs = append(errs, "CHATOPS_"+v+": "+fmt.Sprintf(f, a...)) }
	if c.ConfirmTTL < time.Minute || c.ConfirmTTL > 30*time.Minute {
		bad("CONFIRM_TTL", "must be between 1m and 30m, got %s", c.ConfirmTTL)
	}
	if c.AckBudget <= 0 || c.AckBudget > 2500*time.Millisecond {
		bad("ACK_BUDGET", "must be positive and at most 2.5s (Slack waits 3s), got %s", c.AckBudget)
	}
	if c.CommandTimeout < c.AckBudget {
		bad("COMMAND_TIMEOUT", "must be at least CHATOPS_ACK_BUDGET")
	}
	if c.MaxBodyBytes < 1024 {
		bad("MAX_BODY_BYTES", "must be at least 1024, got %d", c.MaxBodyBytes)
	}
	if len(c.ResponseURLHosts) == 0 {
		bad("RESPONSE_URL_HOSTS", "must name at least one host")
	}
	for i, h := range c.ResponseURLHosts {
		c.ResponseURLHosts[i] = strings.ToLower(strings.TrimSpace(h))
		if c.ResponseURLHosts[i] == "" || strings.ContainsAny(h, "/:@") {
			bad("RESPONSE_URL_HOSTS", "%q is not a host name", h)
		}
	}
	if c.ReadCacheTTL < 0 || c.ReadCacheTTL > time.Minute {
		bad("READ_CACHE_TTL", "must be between 0 and 1m, got %s", c.ReadCacheTTL)
	}
	if c.ResponseBudget < 1 {
		bad("RESPONSE_BUDGET", "must be at least 1")
	}
	if c.ResponseWindow <= 0 {
		bad("RESPONSE_WINDOW", "must be positive")
	}
	if c.CUPrice < 0 {
		bad("CU_PRICE", "must not be negative")
	}
	if c.ReplayCacheSize < 100 {
		bad("REPLAY_CACHE_SIZE", "must be at least 100")
	}
	if c.Tick < time.Second {
		bad("TICK", "must be at least 1s")
	}
	if c.SQLPoll < 100*time.Millisecond {
		bad("SQL_POLL", "must be at least 100ms")
	}
	if c.SQLWatchMax <= 0 {
		bad("SQL_WATCH_MAX", "must be positive")
	}
	if c.TableRows < 1 || c.TableRows > 100 {
		bad("TABLE_ROWS", "must be 1..100")
	}
	if c.LogLines < 1 || c.LogLines > 1000 {
		bad("LOG_LINES", "must be 1..1000")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrInvalidConfig, strings.Join(errs, "\n  "))
	}
	return nil
}

// ErrInvalidConfig is wrapped by configuration errors.
var ErrInvalidConfig = errors.New("invalid chatops configuration")
