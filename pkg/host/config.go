// Package host runs dlibot's functions in their three homes: AWS Lambda, a
// long-running service on NATS JetStream (`dlibot serve`) and everything in
// one process on a laptop (`dlibot dev`). It owns the configuration shared by
// every function, the HTTP server (events, webhooks, Slack, health, metrics),
// Prometheus metrics and the function registry.
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/sethvargo/go-envconfig"

	"github.com/dlibot/dlibot/pkg/host/secretvar"
)

// DefaultMaxBodyBytes is the default limit on HTTP request bodies (1 MiB).
const DefaultMaxBodyBytes = 1 << 20

// Config is the configuration shared by every function and host, read from
// the environment. Secrets are marked `secret:"true"`; they are never logged
// and `dlibot config check` prints them as <set>/<unset>.
type Config struct {
	// NATSURL is the NATS server URL list (comma-separated, e.g.
	// "nats://n1:4222,nats://n2:4222"). Required by `dlibot serve`; in
	// Lambda it is optional for chatops (read-only without it). Default
	// empty: no NATS. `dlibot dev` ignores it and runs an embedded server.
	NATSURL string `env:"NATS_URL"`
	// NATSCreds is the path of a NATS credentials file (JWT + NKey seed).
	// Default empty: no credentials.
	NATSCreds string `env:"NATS_CREDS"`
	// NATSTLSCA is the path of a PEM CA bundle used to verify the NATS
	// server. Default empty: system roots (when the URL is tls://).
	NATSTLSCA string `env:"NATS_TLS_CA"`
	// NATSTLSCert is the path of a PEM client certificate for mutual TLS
	// with NATS; it needs NATS_TLS_KEY. Default empty: no client cert.
	NATSTLSCert string `env:"NATS_TLS_CERT"`
	// NATSTLSKey is the path of the PEM private key for NATS_TLS_CERT.
	// Default empty.
	NATSTLSKey string `env:"NATS_TLS_KEY"`

	// HTTPAddr is the address the HTTP server listens on (host:port).
	// Default ":8080" (all interfaces); `dlibot dev` uses 127.0.0.1:8080.
	HTTPAddr string `env:"HTTP_ADDR, default=:8080"`
	// HTTPMaxBodyBytes caps every HTTP request body, in bytes; a larger
	// body is answered 413. Default 1048576 (1 MiB). CloudEvents on
	// POST /events are also capped at events.MaxEventSize (1 MiB, NATS's
	// default max_payload) whatever this says.
	HTTPMaxBodyBytes int64 `env:"HTTP_MAX_BODY_BYTES, default=1048576"`

	// IngestTokens are the tokens accepted on the ingest routes, POST
	// /events and POST /webhooks/obs, comma-separated so a token can be
	// rotated (add the new one, move the senders, remove the old one;
	// dlibot_ingress_auth_accepted_total{via="token_<n>"} shows which are
	// still used). Senders send `Authorization: Bearer <token>` (or Basic
	// with the token as the password); on /webhooks/obs the query
	// parameter ?access_token=<token> also works, for senders that cannot
	// set headers. Each token: at least 16 characters of A-Z a-z 0-9
	// - . _ ~ + / = (e.g. `openssl rand -hex 32`). Default empty: see
	// DLIBOT_INGEST_AUTH for what happens then.
	IngestTokens string `env:"DLIBOT_INGEST_TOKENS" secret:"true"`
	// IngestAuth is how the ingest routes authenticate: "token" or "none".
	// "token" (default) requires one of DLIBOT_INGEST_TOKENS; while none
	// is set, `dlibot serve` and `dlibot dev` accept unauthenticated
	// requests only when they listen on loopback (127.0.0.1, ::1,
	// localhost) and refuse to start on any other address, and a Lambda
	// answers 401. obsimport also accepts, without a token, SMN messages
	// whose signature verifies from a topic in OBSIMPORT_SMN_TOPICS (with
	// OBSIMPORT_SMN_VERIFY=true). "none" accepts unauthenticated requests
	// everywhere (a warning at start): only for deployments where
	// something in front of dlibot authenticates.
	IngestAuth string `env:"DLIBOT_INGEST_AUTH, default=token"`

	// SlackBotToken is the Slack Web API bot token (xoxb-…). Default empty:
	// notifications go to the console (dev) or nowhere (a warning at start).
	SlackBotToken string `env:"SLACK_BOT_TOKEN" secret:"true"`
	// SlackSigningSecret verifies requests from Slack (slash commands,
	// interactions). Default empty: Slack routes answer 503 (dev generates
	// one).
	SlackSigningSecret string `env:"SLACK_SIGNING_SECRET" secret:"true"`
	// SlackSigningSecretPrevious is also accepted while a signing secret is
	// being rotated. Default empty.
	SlackSigningSecretPrevious string `env:"SLACK_SIGNING_SECRET_PREVIOUS" secret:"true"`
	// SlackAPIURL is the Slack Web API base URL, overridable for tests and
	// proxies. Default "https://slack.com/api/".
	SlackAPIURL string `env:"SLACK_API_URL, default=https://slack.com/api/"`
	// SlackChannel is the default channel (ID or #name) for notifications
	// when no route matches. Default empty.
	SlackChannel string `env:"SLACK_CHANNEL"`

	// LogLevel is the minimum log level: debug, info, warn or error.
	// Default "info".
	LogLevel string `env:"LOG_LEVEL, default=info"`

	// EMF turns on, in AWS Lambda only, the CloudWatch Embedded Metric
	// Format lines: after each invocation the changes of the dlibot_*
	// counters are written to stdout, which CloudWatch Logs turns into
	// metrics (docs/deploy.md, "Metrics in Lambda"). `dlibot serve` and
	// `dlibot dev` ignore it (they serve GET /metrics). Default true.
	EMF bool `env:"DLIBOT_EMF, default=true"`
	// EMFNamespace is the CloudWatch namespace of the EMF metrics: 1 to
	// 255 characters of A-Z a-z 0-9 . - _ / # : and space, not starting
	// with "AWS/". Default "dlibot".
	EMFNamespace string `env:"DLIBOT_EMF_NAMESPACE, default=dlibot"`
}

// ErrInvalidConfig is wrapped by every configuration validation error.
var ErrInvalidConfig = errors.New("invalid configuration")

// LoadConfig reads Config from the process environment and validates it.
func LoadConfig(ctx context.Context) (*Config, error) {
	return LoadConfigFrom(ctx, envconfig.OsLookuper())
}

// LoadConfigFrom reads Config through l (envconfig.MapLookuper in tests)
// and validates it. The error names the variable and what is wrong.
func LoadConfigFrom(ctx context.Context, l envconfig.Lookuper) (*Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: NonEmpty(l)}); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, scrubEnvError(err, &c))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// NonEmpty wraps l so that a variable set to the empty string counts as
// unset (its default applies), as most users expect from `VAR=` lines.
func NonEmpty(l envconfig.Lookuper) envconfig.Lookuper {
	return envconfig.LookuperFunc(func(key string) (string, bool) {
		v, ok := l.Lookup(key)
		if v == "" {
			return "", false
		}
		return v, ok
	})
}

// scrubEnvError keeps envconfig's message but names the environment
// variable instead of the Go field, and drops the value (it might be a
// secret).
func scrubEnvError(err error, target any) string {
	msg := err.Error()
	if i := strings.Index(msg, "parsing \""); i >= 0 {
		msg = strings.TrimSuffix(strings.TrimSpace(msg[:i]), ":") + ": not a valid number"
		msg = strings.Replace(msg, "strconv.ParseInt: ", "", 1)
		msg = strings.Replace(msg, "strconv.ParseFloat: ", "", 1)
	}
	if field, rest, ok := strings.Cut(msg, ":"); ok {
		if f, found := reflect.TypeOf(target).Elem().FieldByName(field); found {
			if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
				msg = name + ":" + rest
			}
		}
	}
	return msg
}

// Validate checks the configuration and returns an error wrapping
// ErrInvalidConfig that names each bad variable and what is wrong.
func (c *Config) Validate() error {
	var errs []string
	bad := func(v, format string, args ...any) {
		errs = append(errs, v+": "+fmt.Sprintf(format, args...))
	}
	fileExists := func(v, path string) {
		if path == "" {
			return
		}
		st, err := os.Stat(path)
		switch {
		case err != nil:
			bad(v, "cannot read file %q: %v", path, errors.Unwrap(err))
		case st.IsDir():
			bad(v, "%q is a directory, want a file", path)
		}
	}
	if c.NATSURL != "" {
		for _, u := range strings.Split(c.NATSURL, ",") {
			u = strings.TrimSpace(u)
			if u == "" {
				bad("NATS_URL", "empty entry in the comma-separated list")
				continue
			}
			if i := strings.Index(u, "://"); i >= 0 {
				switch strings.ToLower(u[:i]) {
				case "nats", "tls", "ws", "wss":
				default:
					bad("NATS_URL", "scheme %q not supported (use nats://, tls://, ws:// or wss://)", u[:i])
				}
			}
		}
	}
	fileExists("NATS_CREDS", c.NATSCreds)
	fileExists("NATS_TLS_CA", c.NATSTLSCA)
	fileExists("NATS_TLS_CERT", c.NATSTLSCert)
	fileExists("NATS_TLS_KEY", c.NATSTLSKey)
	if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
		bad("NATS_TLS_CERT", "NATS_TLS_CERT and NATS_TLS_KEY must be set together")
	}
	if c.HTTPAddr == "" {
		bad("HTTP_ADDR", "must not be empty (e.g. :8080)")
	} else if !strings.Contains(c.HTTPAddr, ":") {
		bad("HTTP_ADDR", "%q is not host:port (e.g. :8080)", c.HTTPAddr)
	}
	if c.HTTPMaxBodyBytes <= 0 {
		bad("HTTP_MAX_BODY_BYTES", "must be positive, got %d", c.HTTPMaxBodyBytes)
	}
	if c.SlackAPIURL != "" && !strings.HasPrefix(c.SlackAPIURL, "http://") && !strings.HasPrefix(c.SlackAPIURL, "https://") {
		bad("SLACK_API_URL", "must be an http:// or https:// URL")
	}
	if c.SlackBotToken != "" && !strings.HasPrefix(c.SlackBotToken, "xox") {
		bad("SLACK_BOT_TOKEN", "does not look like a Slack token (want xoxb-…)")
	}
	if _, err := ParseIngestTokens(c.IngestTokens); err != nil {
		bad("DLIBOT_INGEST_TOKENS", "%v", err)
	}
	switch c.IngestAuth {
	case "", IngestAuthToken:
	case IngestAuthNone:
		if strings.TrimSpace(c.IngestTokens) != "" {
			bad("DLIBOT_INGEST_AUTH", "is none but DLIBOT_INGEST_TOKENS is set: unset one of them")
		}
	default:
		bad("DLIBOT_INGEST_AUTH", "%q is not one of token, none", c.IngestAuth)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		bad("LOG_LEVEL", "%v", err)
	}
	if err := ValidEMFNamespace(c.EMFNamespace); err != nil {
		bad("DLIBOT_EMF_NAMESPACE", "%v", err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrInvalidConfig, strings.Join(errs, "\n  "))
	}
	return nil
}

// IngestTokenList returns the tokens of DLIBOT_INGEST_TOKENS (nil when it
// is unset or invalid; Validate reports the latter).
func (c *Config) IngestTokenList() []string {
	t, err := ParseIngestTokens(c.IngestTokens)
	if err != nil {
		return nil
	}
	return t
}

// SlackSecrets returns the accepted Slack signing secrets, current first.
func (c *Config) SlackSecrets() []string {
	var s []string
	for _, v := range []string{c.SlackSigningSecret, c.SlackSigningSecretPrevious} {
		if v != "" {
			s = append(s, v)
		}
	}
	return s
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
	}
	return l, nil
}

// NewLogger returns a JSON slog logger at c.LogLevel writing to w.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	l, err := parseLevel(c.LogLevel)
	if err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// Setting is one configuration variable as `dlibot config check` prints it.
type Setting struct {
	// Name is the environment variable.
	Name string
	// Value is the effective value, or <set>/<unset> for a secret.
	Value string
	// Secret says the value is redacted.
	Secret bool
}

// Settings lists the variables of any envconfig-tagged struct (pointer or
// value, nested structs with prefix= included) with their effective values,
// secrets redacted. Use it for Config and for each function's config.
func Settings(cfg any) []Setting {
	var out []Setting
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	collectSettings(v, "", &out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func collectSettings(v reflect.Value, prefix string, out *[]Setting) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("env")
		name, opts, _ := strings.Cut(tag, ",")
		name = strings.TrimSpace(name)
		fv := v.Field(i)
		for fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				fv = reflect.Zero(fv.Type().Elem())
				break
			}
			fv = fv.Elem()
		}
		if fv.Kind() == reflect.Struct && name == "" && fv.Type().PkgPath() != "time" {
			p := prefix
			for _, o := range strings.Split(opts, ",") {
				if k, val, ok := strings.Cut(strings.TrimSpace(o), "="); ok && k == "prefix" {
					p += val
				}
			}
			collectSettings(fv, p, out)
			continue
		}
		if name == "" {
			continue
		}
		full := prefix + name
		s := Setting{Name: full}
		if secretvar.Is(f.Tag, full) {
			s.Secret = true
			if fv.IsZero() {
				s.Value = "<unset>"
			} else {
				s.Value = "<set>"
			}
		} else {
			s.Value = redactURLs(fmt.Sprint(fv.Interface()))
		}
		*out = append(*out, s)
	}
}

// WriteSettings prints settings as NAME=value lines.
func WriteSettings(w io.Writer, settings []Setting) error {
	for _, s := range settings {
		if _, err := fmt.Fprintf(w, "%s=%s\n", s.Name, s.Value); err != nil {
			return err
		}
	}
	return nil
}
