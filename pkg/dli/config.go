package dli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// Config is the DLI client's configuration. ConfigFromEnv decodes it from the
// environment; it can also be built in code and passed to New, which
// validates it the same way.
type Config struct {
	// AK is the access key ID (HUAWEICLOUD_SDK_AK). Required. Never logged:
	// String and LogValue redact it.
	AK string `env:"HUAWEICLOUD_SDK_AK"`
	// SK is the secret access key (HUAWEICLOUD_SDK_SK). Required. Never
	// logged.
	SK string `env:"HUAWEICLOUD_SDK_SK"`
	// ProjectID is the project every call is made in
	// (HUAWEICLOUD_SDK_PROJECT_ID). Required: the client never asks IAM for
	// it.
	ProjectID string `env:"HUAWEICLOUD_SDK_PROJECT_ID"`
	// SecurityToken is the security token of temporary credentials
	// (HUAWEICLOUD_SDK_SECURITY_TOKEN); empty for permanent AK/SK. Sent as
	// X-Security-Token. Never logged.
	SecurityToken string `env:"HUAWEICLOUD_SDK_SECURITY_TOKEN"`
	// Region is the Huawei Cloud region, e.g. "ap-southeast-1" (DLI_REGION).
	// It only serves to derive Endpoint; one of the two is required.
	Region string `env:"DLI_REGION"`
	// Endpoint is the DLI base URL (DLI_ENDPOINT), e.g. an emulator's
	// http://127.0.0.1:8080 or a private endpoint. Default
	// https://dli.<Region>.myhuaweicloud.com.
	Endpoint string `env:"DLI_ENDPOINT"`
	// QPS is the client-side rate limit in requests per second
	// (DLI_QPS), a token bucket with a burst of max(1, QPS) requests shared
	// by every call of one Client, retries included. Default 10; 0 disables
	// the limit.
	QPS float64 `env:"DLI_QPS, default=10"`
	// Timeout bounds one attempt of a call (DLI_TIMEOUT, a Go duration such
	// as "30s"): connecting, sending and reading the whole answer. The
	// caller's context bounds the call as a whole, retries included.
	// Default 30s.
	Timeout time.Duration `env:"DLI_TIMEOUT, default=30s"`
	// MaxAttempts is how many times one call is tried at most, the first
	// attempt included (DLI_MAX_ATTEMPTS). 1 disables retries. Default 4.
	MaxAttempts int `env:"DLI_MAX_ATTEMPTS, default=4"`
}

// Defaults of the optional Config fields. ConfigFromEnv applies all three;
// New applies DefaultTimeout and DefaultMaxAttempts to zero fields, while a
// zero QPS in a Config built in code means no rate limit.
const (
	DefaultQPS         = 10
	DefaultTimeout     = 30 * time.Second
	DefaultMaxAttempts = 4
)

// ConfigFromEnv decodes the configuration from the process environment and
// validates it. A missing credential or project id is an error naming the
// variable.
func ConfigFromEnv(ctx context.Context) (Config, error) {
	return ConfigFromLookuper(ctx, envconfig.OsLookuper())
}

// ConfigFromLookuper is ConfigFromEnv reading variables from l (tests use
// envconfig.MapLookuper).
func ConfigFromLookuper(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: l}); err != nil {
		return Config{}, fmt.Errorf("dli: config: %s%w", envVarOf(err), err)
	}
	if err := c.normalize(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// envVarOf names the variable of an envconfig error ("QPS: …" → "DLI_QPS:
// "), which envconfig reports by field name.
func envVarOf(err error) string {
	field, _, ok := strings.Cut(err.Error(), ":")
	if !ok {
		return ""
	}
	if f, ok := reflect.TypeFor[Config]().FieldByName(field); ok {
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		return name + " "
	}
	return ""
}

// normalize fills derived defaults and validates the configuration.
func (c *Config) normalize() error {
	var errs []error
	req := func(v, name, field string) {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("%s is not set (Config.%s): it is required", name, field))
		}
	}
	req(c.AK, "HUAWEICLOUD_SDK_AK", "AK")
	req(c.SK, "HUAWEICLOUD_SDK_SK", "SK")
	req(c.ProjectID, "HUAWEICLOUD_SDK_PROJECT_ID", "ProjectID")
	c.Endpoint = strings.TrimRight(strings.TrimSpace(c.Endpoint), "/")
	c.Region = strings.TrimSpace(c.Region)
	if c.Endpoint == "" {
		if c.Region == "" {
			errs = append(errs, errors.New("neither DLI_ENDPOINT nor DLI_REGION is set: one is required"))
		} else {
			c.Endpoint = "https://dli." + c.Region + ".myhuaweicloud.com"
		}
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("DLI_ENDPOINT %q is not a URL: %v", c.Endpoint, err))
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			errs = append(errs, fmt.Errorf("DLI_ENDPOINT %q must be an absolute http(s) URL", c.Endpoint))
		case u.Path != "" || u.RawQuery != "":
			errs = append(errs, fmt.Errorf("DLI_ENDPOINT %q must not have a path or query", c.Endpoint))
		}
	}
	if c.QPS < 0 {
		errs = append(errs, fmt.Errorf("DLI_QPS %v must not be negative", c.QPS))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("DLI_TIMEOUT %v must not be negative", c.Timeout))
	} else if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("DLI_MAX_ATTEMPTS %d must not be negative", c.MaxAttempts))
	} else if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if len(errs) > 0 {
		return fmt.Errorf("dli: config: %w", errors.Join(errs...))
	}
	return nil
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// String describes the configuration with AK, SK and SecurityToken
// redacted.
func (c Config) String() string {
	return fmt.Sprintf("dli.Config{AK:%s SK:%s SecurityToken:%s ProjectID:%s Region:%s Endpoint:%s QPS:%v Timeout:%v MaxAttempts:%d}",
		redact(c.AK), redact(c.SK), redact(c.SecurityToken), c.ProjectID, c.Region, c.Endpoint, c.QPS, c.Timeout, c.MaxAttempts)
}

// GoString is String, so that %#v does not print secrets either.
func (c Config) GoString() string { return c.String() }

// LogValue logs the configuration with AK, SK and SecurityToken redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("ak", redact(c.AK)),
		slog.String("sk", redact(c.SK)),
		slog.String("security_token", redact(c.SecurityToken)),
		slog.String("project_id", c.ProjectID),
		slog.String("region", c.Region),
		slog.String("endpoint", c.Endpoint),
		slog.Float64("qps", c.QPS),
		slog.Duration("timeout", c.Timeout),
		slog.Int("max_attempts", c.MaxAttempts),
	)
}
