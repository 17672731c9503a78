package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sethvargo/go-envconfig"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
)

// Mode says where a function runs.
type Mode string

// The three homes of a function.
const (
	ModeLambda  Mode = "lambda"
	ModeService Mode = "service"
	ModeDev     Mode = "dev"
)

// Function is one dlibot function as a host runs it, built by a
// Registration's New.
type Function struct {
	// Name is the function's name ("autoscale", "jobwatch", "chatops",
	// "obsimport"); a valid events name.
	Name string
	// Subjects are the filter subjects on DLIBOT_IN this function consumes
	// (e.g. events.SubjectsObs). The tick subject is added automatically
	// when Tick is set.
	Subjects []string
	// Handler handles every consumed event (and ticks). Required when
	// Subjects or Tick are set.
	Handler events.Handler
	// Routes are the HTTP endpoints the function serves.
	Routes []Route
	// Tick is the period of the function's schedule tick; 0 means none.
	// Each replica publishes one tick per period (deduplicated by
	// JetStream); in Lambda an EventBridge schedule sends it.
	Tick time.Duration
	// NeedsNATS says the function refuses to run without NATS (its state
	// lives in KV). chatops sets it false and runs read-only without NATS.
	NeedsNATS bool
	// ConsumerConfig, if set, adjusts the function's consumer (AckWait,
	// MaxDeliver, Concurrency, DedupTTL…) before the host creates it.
	ConsumerConfig func(*events.Config)
	// Close, if set, releases the function's resources at shutdown.
	Close func(context.Context) error
	// Try is what `dlibot dev` prints as the ready-to-paste command that
	// shows the function working. Nil derives one: a tick event for
	// functions with Tick, else an object or metrics event for the
	// subjects consumed.
	Try *Try
}

// Try is a ready-to-paste example of a function at work, printed by
// `dlibot dev`. Exactly one field is set.
type Try struct {
	// Slack is a slash command sent signed with `dlibot slack`, e.g.
	// "/dli queues".
	Slack string
	// Event is a CloudEvent POSTed to /events.
	Event *events.Event
	// Post is a raw POST to one of the function's routes, e.g. an OBS
	// notification to /webhooks/obs.
	Post *TryPost
}

// TryPost is a raw HTTP POST example.
type TryPost struct {
	// Path is the route, e.g. "/webhooks/obs".
	Path string
	// ContentType is the request content type, e.g. "application/json".
	ContentType string
	// Body is the request body.
	Body string
}

// AllSubjects returns Subjects plus the tick subject when Tick is set.
func (f *Function) AllSubjects() []string {
	s := append([]string(nil), f.Subjects...)
	if f.Tick > 0 {
		ts := events.TickSubject(f.Name)
		found := false
		for _, x := range s {
			found = found || x == ts
		}
		if !found {
			s = append(s, ts)
		}
	}
	return s
}

func (f *Function) validate() error {
	if err := events.ValidName(f.Name); err != nil {
		return err
	}
	if (len(f.Subjects) > 0 || f.Tick > 0) && f.Handler == nil {
		return fmt.Errorf("function %s consumes events but has no Handler", f.Name)
	}
	if f.Tick < 0 {
		return fmt.Errorf("function %s: negative tick period", f.Name)
	}
	return nil
}

// Env is what a function gets from its host to build itself.
type Env struct {
	// Mode is where the function runs.
	Mode Mode
	// Config is the shared configuration.
	Config *Config
	// Logger is the process logger (JSON), tagged with the function name.
	Logger *slog.Logger
	// Metrics is the process's Prometheus series.
	Metrics *Metrics
	// NATS and JS are nil when NATS is not configured (Lambda without
	// NATS_URL); functions with NeedsNATS never see that.
	NATS *nats.Conn
	JS   jetstream.JetStream
	// DLI is the DLI client (the emulator's in dev); nil only when the
	// host runs without DLI configuration (no function needs one then).
	DLI *dli.Client
	// Notifier posts to Slack, or prints to the console when
	// SLACK_BOT_TOKEN is unset.
	Notifier notify.Notifier
	// Publish stores an event on a subject (dlibot.out.…, DLQ); nil
	// without NATS.
	Publish func(ctx context.Context, subject string, e events.Event) error
}

// Registration is how a function plugs into the host.
type Registration struct {
	// Name is the function name (also the Lambda _HANDLER value).
	Name string
	// Routes are the route patterns ("POST /slack/commands") the function
	// serves, known without building it: processes that do not run the
	// function answer them 404 naming it.
	Routes []string
	// New builds the function for a host.
	New func(ctx context.Context, env Env) (*Function, error)
	// Config, if set, reads the function's own configuration through l
	// and validates it, for `dlibot config check`: it returns the config
	// struct (envconfig tags; secrets tagged `secret:"true"` or named
	// *SECRET*/*TOKEN*/*PASSWORD*) and the validation error, which names the
	// variable or file and what is wrong.
	Config func(ctx context.Context, l envconfig.Lookuper) (any, error)
}

// Registry holds the functions a binary knows.
type Registry struct {
	mu   sync.Mutex
	regs map[string]Registration
}

// ErrUnknownFunction reports a function name no registration has.
var ErrUnknownFunction = errors.New("unknown function")

// DefaultRegistry is the registry cmd/dlibot fills and hosts read.
var DefaultRegistry = &Registry{}

// Register adds r to DefaultRegistry.
func Register(r Registration) { DefaultRegistry.Register(r) }

// Register adds r; it panics on an invalid or duplicate name (a programming
// error at init time).
func (g *Registry) Register(r Registration) {
	if err := events.ValidName(r.Name); err != nil || r.New == nil {
		panic(fmt.Sprintf("host: bad registration %q (name valid: %v, New set: %v)", r.Name, err == nil, r.New != nil))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.regs == nil {
		g.regs = map[string]Registration{}
	}
	if _, dup := g.regs[r.Name]; dup {
		panic("host: function registered twice: " + r.Name)
	}
	g.regs[r.Name] = r
}

// Lookup returns the registration named name, or an error wrapping
// ErrUnknownFunction that lists the known names.
func (g *Registry) Lookup(name string) (Registration, error) {
	g.mu.Lock()
	r, ok := g.regs[name]
	g.mu.Unlock()
	if !ok {
		return Registration{}, fmt.Errorf("%w %q (registered: %v)", ErrUnknownFunction, name, g.Names())
	}
	return r, nil
}

// Names lists the registered function names, sorted.
func (g *Registry) Names() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	names := make([]string, 0, len(g.regs))
	for n := range g.regs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// KnownRouteOwners maps the route patterns of dlibot's functions to the
// function that serves them, so a process answers them 404 naming the
// function even before it is registered.
var KnownRouteOwners = map[string]string{
	"POST /slack/commands":     "chatops",
	"POST /slack/interactions": "chatops",
	"POST /webhooks/obs":       "obsimport",
}

// Owners returns KnownRouteOwners plus every registration's routes.
func (g *Registry) Owners() map[string]string {
	out := map[string]string{}
	for k, v := range KnownRouteOwners {
		out[k] = v
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.regs {
		for _, p := range r.Routes {
			out[p] = r.Name
		}
	}
	return out
}

// Build builds the named functions for env, validating each.
func (g *Registry) Build(ctx context.Context, env Env, names []string) ([]*Function, error) {
	seen := map[string]bool{}
	var fns []*Function
	for _, n := range names {
		if seen[n] {
			return nil, fmt.Errorf("function %q named twice", n)
		}
		seen[n] = true
		r, err := g.Lookup(n)
		if err != nil {
			return nil, err
		}
		fenv := env
		if env.Logger != nil {
			fenv.Logger = env.Logger.With("function", n)
		}
		if pub := env.Publish; pub != nil && env.Metrics != nil {
			m := env.Metrics
			fenv.Publish = func(ctx context.Context, subject string, e events.Event) error {
				err := pub(ctx, subject, e)
				if err == nil {
					m.EventsOut.WithLabelValues(n, e.Type()).Inc()
				}
				return err
			}
		}
		f, err := r.New(ctx, fenv)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", n, err)
		}
		if f.Name == "" {
			f.Name = n
		}
		if err := f.validate(); err != nil {
			return nil, err
		}
		if f.NeedsNATS && env.JS == nil {
			return nil, fmt.Errorf("function %s keeps its state in NATS KV and needs NATS_URL", n)
		}
		fns = append(fns, f)
	}
	return fns, nil
}
