package obsimport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/dlibot/dlibot/functions/obsimport/rules"
)

// Config is obsimport's configuration, read from OBSIMPORT_* variables
// (the field's env tag is the part after the prefix).
type Config struct {
	// Rules is the path of the rules YAML file (OBSIMPORT_RULES).
	// Required, validated at start; only dlibot dev runs without it, on
	// built-in demo rules (devrules.yaml), with a warning.
	Rules string `env:"RULES"`
	// Backend is how imports are submitted: "import" (the import API,
	// reference 7.3.1; default) or "sql" (LOAD DATA through a SQL job,
	// 7.3.3).
	Backend string `env:"BACKEND, default=import"`
	// Queue is the DLI queue for rules that name none; empty means DLI's
	// default queue.
	Queue string `env:"QUEUE"`
	// BatchWindow is how long the first file queued for an idle table
	// waits for more before its import is submitted. Default 0 (submit at
	// once; files arriving while an import runs still wait for it and go
	// together in the next one).
	BatchWindow time.Duration `env:"BATCH_WINDOW, default=0s"`
	// BatchMax is the most files one import job takes when BatchGlob is
	// on. Default 256.
	BatchMax int `env:"BATCH_MAX, default=256"`
	// BatchGlob lets several files of one folder go in one job through a
	// Hadoop glob path obs://bucket/dir/{a,b}. Default false (each job
	// takes one file; marker rules still import a folder per job): that
	// DLI expands globs in import paths is not verified on a live account.
	BatchGlob bool `env:"BATCH_GLOB, default=false"`
	// PollInterval is how often a running import's status (7.3.7) is
	// checked. Default 5s.
	PollInterval time.Duration `env:"POLL_INTERVAL, default=5s"`
	// RecoverAfter is how long after recording its intent a submission
	// with no job id is considered interrupted (a crash), and looked for
	// in DLI's job list before it is submitted again; it is also the lease
	// a replica holds on a submission (the submit call is bounded by it).
	// It must exceed the DLI call timeout (DLI_TIMEOUT). Default 2m.
	RecoverAfter time.Duration `env:"RECOVER_AFTER, default=2m"`
	// SweepInterval is how often every table's queue and lock are
	// checked (work left by a crash or another replica). Default 30s.
	SweepInterval time.Duration `env:"SWEEP_INTERVAL, default=30s"`
	// ClockSkew widens the start-time window of the job-list lookup after
	// a crash. Default 5m.
	ClockSkew time.Duration `env:"CLOCK_SKEW, default=5m"`
	// SlackChannel is where failures and re-upload alerts are posted;
	// empty means SLACK_CHANNEL.
	SlackChannel string `env:"SLACK_CHANNEL"`
	// SMNVerify makes POST /webhooks/obs verify SMN message signatures
	// (and refuse unsigned SMN messages). Default false.
	SMNVerify bool `env:"SMN_VERIFY, default=false"`
	// SMNHosts are the host suffixes SMN signing certificates and
	// subscription confirmation URLs may live on (comma-separated; a
	// leading dot allows subdomains). Default .myhuaweicloud.com.
	SMNHosts []string `env:"SMN_HOSTS, default=.myhuaweicloud.com"`
	// SMNTopics, when set, are the only SMN topic URNs accepted
	// (comma-separated).
	SMNTopics []string `env:"SMN_TOPICS"`
	// SMNConfirm makes the webhook answer SMN subscription confirmations
	// by fetching their subscribe_url (on an SMNHosts host). Default true.
	SMNConfirm bool `env:"SMN_CONFIRM, default=true"`
	// KVReplicas is the replica count of the dlibot_obsimport KV bucket.
	// Default 1.
	KVReplicas int `env:"KV_REPLICAS, default=1"`
}

// ErrConfig reports a bad configuration.
var ErrConfig = errors.New("obsimport: invalid configuration")

// LoadConfig reads OBSIMPORT_* through l (nil: the environment).
func LoadConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	c, err := readConfig(ctx, l)
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

// readConfig decodes OBSIMPORT_* through l (nil: the environment) without
// validating the values.
func readConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	if l == nil {
		l = envconfig.OsLookuper()
	}
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: envconfig.PrefixLookuper("OBSIMPORT_", l)}); err != nil {
		return c, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return c, nil
}

// Validate reports the first problem, naming the variable.
func (c Config) Validate() error {
	if c.Rules == "" {
		return fmt.Errorf("%w: OBSIMPORT_RULES is required (the path of the rules YAML file; only `dlibot dev` runs without it)", ErrConfig)
	}
	return c.validateSettings()
}

// validateSettings checks every variable but OBSIMPORT_RULES (New takes
// the rules themselves, and `dlibot dev` may run on built-in ones).
func (c Config) validateSettings() error {
	switch {
	case c.Backend != BackendImport && c.Backend != BackendSQL:
		return fmt.Errorf("%w: OBSIMPORT_BACKEND %q: want import or sql", ErrConfig, c.Backend)
	case c.BatchMax < 1:
		return fmt.Errorf("%w: OBSIMPORT_BATCH_MAX %d: want at least 1", ErrConfig, c.BatchMax)
	case c.BatchWindow < 0:
		return fmt.Errorf("%w: OBSIMPORT_BATCH_WINDOW is negative", ErrConfig)
	case c.PollInterval <= 0:
		return fmt.Errorf("%w: OBSIMPORT_POLL_INTERVAL must be positive", ErrConfig)
	case c.RecoverAfter <= 0:
		return fmt.Errorf("%w: OBSIMPORT_RECOVER_AFTER must be positive", ErrConfig)
	case c.SweepInterval <= 0:
		return fmt.Errorf("%w: OBSIMPORT_SWEEP_INTERVAL must be positive", ErrConfig)
	case c.ClockSkew < 0:
		return fmt.Errorf("%w: OBSIMPORT_CLOCK_SKEW is negative", ErrConfig)
	case c.KVReplicas < 1 || c.KVReplicas > 5:
		return fmt.Errorf("%w: OBSIMPORT_KV_REPLICAS %d: want 1..5", ErrConfig, c.KVReplicas)
	}
	return nil
}

// CheckConfig is the host's config check: the variables and the rules
// file.
func CheckConfig(ctx context.Context, l envconfig.Lookuper) (any, error) {
	c, err := LoadConfig(ctx, l)
	if err != nil {
		return c, err
	}
	if _, err := rules.Load(c.Rules); err != nil {
		return c, fmt.Errorf("OBSIMPORT_RULES: %w", err)
	}
	return c, nil
}
