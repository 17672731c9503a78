package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
)

// ShutdownTimeout is how long a service takes at most to stop after SIGTERM:
// the HTTP server stops accepting, consumers stop fetching and finish
// in-flight handlers, then the NATS connection drains.
const ShutdownTimeout = 30 * time.Second

// Options configures Run.
type Options struct {
	// Config is the shared configuration; required.
	Config *Config
	// DLI is the DLI client configuration; nil loads it from the
	// environment (dli.ConfigFromEnv) when at least one function runs.
	DLI *dli.Config
	// Registry holds the functions; default DefaultRegistry.
	Registry *Registry
	// Functions names the functions to run; empty runs every registered one.
	Functions []string
	// IngestOnly runs no function: the replica only stores what it
	// receives over HTTP (and needs no DLI configuration).
	IngestOnly bool
	// Mode is ModeService or ModeDev; default ModeService.
	Mode Mode
	// Logger is the process logger; default JSON on stderr at LOG_LEVEL.
	Logger *slog.Logger
	// Metrics default to a fresh NewMetrics().
	Metrics *Metrics
	// Listener is where HTTP is served; nil listens on Config.HTTPAddr.
	Listener net.Listener
	// NATS is an existing connection (dev's embedded server); nil connects
	// to Config.NATSURL. Run drains the connection it made itself only.
	NATS *nats.Conn
	// Notifier overrides the notifier built from the Slack settings.
	Notifier notify.Notifier
	// Console is where the console notifier prints; default os.Stdout.
	Console io.Writer
	// Streams configures the streams created at start.
	Streams events.StreamOptions
	// ConsumerConfig, if set, adjusts each function's consumer config
	// (tests shorten AckWait, benchmarks raise Concurrency).
	ConsumerConfig func(*events.Config)
	// Now is the clock for ticks; default time.Now.
	Now func() time.Time
	// ShutdownTimeout defaults to the ShutdownTimeout constant.
	ShutdownTimeout time.Duration
	// OnReady, if set, is called once everything runs, with the HTTP
	// address and the running functions.
	OnReady func(addr net.Addr, running []*Function)
}

// Run runs the service until ctx is done, then shuts down gracefully within
// the shutdown timeout. It fails at start on bad configuration or when NATS
// is unreachable; it never half-starts.
func Run(ctx context.Context, o Options) (err error) {
	if o.Config == nil {
		return errors.New("host: Options.Config is required")
	}
	cfg := o.Config
	if o.Registry == nil {
		o.Registry = DefaultRegistry
	}
	if o.Mode == "" {
		o.Mode = ModeService
	}
	if o.Logger == nil {
		o.Logger = cfg.NewLogger(os.Stderr)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Console == nil {
		o.Console = os.Stdout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = ShutdownTimeout
	}
	log := o.Logger

	names := o.Functions
	switch {
	case o.IngestOnly && len(names) > 0:
		return errors.New("host: IngestOnly with functions named")
	case o.IngestOnly:
		names = nil
	case len(names) == 0:
		names = o.Registry.Names()
	}
	for _, n := range names {
		if _, err := o.Registry.Lookup(n); err != nil {
			return err
		}
	}

	// NATS: required by the service (it stores what it receives).
	nc := o.NATS
	ownConn := nc == nil
	if ownConn && cfg.NATSURL == "" {
		return fmt.Errorf("%w: `dlibot serve` stores events in JetStream and needs NATS_URL", ErrNoNATS)
	}
	// Ingest authentication: decided before anything starts, from the
	// address the server will listen on.
	listenAddr := cfg.HTTPAddr
	if o.Listener != nil {
		listenAddr = o.Listener.Addr().String()
	}
	ingestOpen, err := IngestPolicy(cfg, listenAddr)
	if err != nil {
		return err
	}
	switch {
	case cfg.IngestAuth == IngestAuthNone:
		log.Warn("DLIBOT_INGEST_AUTH=none: POST /events and POST /webhooks/obs accept unauthenticated requests; "+
			"only safe when something in front of dlibot authenticates", "http", listenAddr)
	case ingestOpen:
		log.Info("DLIBOT_INGEST_TOKENS is unset: the ingest routes accept unauthenticated requests "+
			"because the HTTP server listens on loopback only (a reverse proxy on this host would expose them)", "http", listenAddr)
	}
	if ownConn {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		nc, _, err = cfg.Connect(cctx, "dlibot "+string(o.Mode), log)
		cancel()
		if err != nil {
			return err
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		if ownConn {
			nc.Close()
		}
		return fmt.Errorf("open JetStream: %w", err)
	}
	closeConn := func() {
		if !ownConn {
			return
		}
		if err := nc.Drain(); err != nil {
			nc.Close()
		}
	}
	{
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = events.EnsureStreams(sctx, js, o.Streams)
		cancel()
		if err != nil {
			closeConn()
			return err
		}
	}

	env := Env{Mode: o.Mode, Config: cfg, Logger: log, Metrics: o.Metrics, NATS: nc, JS: js,
		Publish: func(ctx context.Context, subject string, e events.Event) error {
			_, err := events.Publish(ctx, js, subject, e)
			return err
		}}
	if len(names) > 0 {
		env.DLI, err = newDLIClient(ctx, o.DLI, o.Metrics, log)
		if err != nil {
			closeConn()
			return err
		}
		env.Notifier = o.Notifier
		if env.Notifier == nil {
			env.Notifier, err = newNotifier(cfg, o.Console, log)
			if err != nil {
				closeConn()
				return err
			}
		}
	}
	fns, err := o.Registry.Build(ctx, env, names)
	if err != nil {
		closeConn()
		return err
	}
	// From here on, functions are closed before the connection drains (a
	// function may still publish while it closes).
	connOnly := closeConn
	closeConn = func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, f := range fns {
			if f.Close != nil {
				if cerr := f.Close(cctx); cerr != nil {
					log.Warn("closing function", "function", f.Name, "err", cerr)
				}
			}
		}
		connOnly()
	}

	// Consumers.
	var consumers []*events.Consumer
	for _, f := range fns {
		subj := f.AllSubjects()
		if len(subj) == 0 {
			continue
		}
		ccfg := events.Config{Function: f.Name, Subjects: subj, Streams: o.Streams,
			Logger: log, Observer: o.Metrics,
			DrainTimeout: o.ShutdownTimeout * 2 / 3}
		if f.ConsumerConfig != nil {
			f.ConsumerConfig(&ccfg)
		}
		if o.ConsumerConfig != nil {
			o.ConsumerConfig(&ccfg)
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		c, err := events.NewConsumer(cctx, js, ccfg, f.Handler)
		cancel()
		if err != nil {
			closeConn()
			return fmt.Errorf("function %s: %w", f.Name, err)
		}
		consumers = append(consumers, c)
	}

	// HTTP.
	var routes []Route
	for _, f := range fns {
		routes = append(routes, f.Routes...)
	}
	srv, err := NewServer(ServerOptions{
		Logger: log, Metrics: o.Metrics, MaxBodyBytes: cfg.HTTPMaxBodyBytes,
		Ingest: &Ingester{JS: js, Conn: nc, Metrics: o.Metrics, Logger: log},
		Ready:  NATSReady(nc, js), Routes: routes, Owners: o.Registry.Owners(),
		SlackSecrets: cfg.SlackSecrets(),
		IngestTokens: cfg.IngestTokenList(), IngestOpen: ingestOpen,
	})
	if err != nil {
		closeConn()
		return err
	}
	ln := o.Listener
	if ln == nil {
		ln, err = net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			closeConn()
			return fmt.Errorf("HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
		}
	}

	var wg sync.WaitGroup
	errc := make(chan error, 1+len(consumers))
	runCtx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	for _, c := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(runCtx); err != nil {
				log.Error("consumer stopped; shutting down", "consumer", c.Config().Durable(), "err", err)
				errc <- err
				stopAll()
			}
		}()
	}
	for _, f := range fns {
		if f.Tick > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				RunTicker(runCtx, js, f.Name, f.Tick, o.Now, o.Metrics, log)
			}()
		}
	}
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		if err := srv.Serve(runCtx, ln, o.ShutdownTimeout/3); err != nil && !errors.Is(err, net.ErrClosed) {
			errc <- fmt.Errorf("HTTP server: %w", err)
			stopAll()
		}
	}()
	running := make([]string, 0, len(fns))
	for _, f := range fns {
		running = append(running, f.Name)
	}
	log.Info("dlibot running", "mode", string(o.Mode), "http", ln.Addr().String(), "functions", running,
		"nats", nc.ConnectedUrlRedacted())
	if o.OnReady != nil {
		o.OnReady(ln.Addr(), fns)
	}

	<-runCtx.Done()
	// The whole shutdown fits in ShutdownTimeout: HTTP gets a third and
	// the consumers' in-flight handlers two thirds (in parallel, 24 s at
	// most), closing the functions 5 s, and the NATS drain what is left.
	log.Info("shutting down", "timeout", o.ShutdownTimeout.String())
	end := time.Now().Add(o.ShutdownTimeout)
	done := make(chan struct{})
	go func() {
		<-httpDone
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(max(o.ShutdownTimeout-6*time.Second, o.ShutdownTimeout/2)):
		log.Error("shutdown timed out; closing anyway")
	}
	closeConn()
	if ownConn {
		waitClosed(nc, max(time.Until(end), time.Second))
	}
	select {
	case err := <-errc:
		return err
	default:
	}
	log.Info("stopped")
	return nil
}

// waitClosed waits for a draining connection to close.
func waitClosed(nc *nats.Conn, d time.Duration) {
	deadline := time.Now().Add(d)
	for !nc.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !nc.IsClosed() {
		nc.Close()
	}
}

func newDLIClient(ctx context.Context, c *dli.Config, m *Metrics, log *slog.Logger) (*dli.Client, error) {
	var cfg dli.Config
	if c != nil {
		cfg = *c
	} else {
		var err error
		cfg, err = dli.ConfigFromEnv(ctx)
		if err != nil {
			return nil, err
		}
	}
	return dli.New(cfg, dli.WithObserver(m.ObserveDLI), dli.WithLogger(log))
}

func newNotifier(cfg *Config, console io.Writer, log *slog.Logger) (notify.Notifier, error) {
	nc := notify.Config{Token: cfg.SlackBotToken, APIURL: cfg.SlackAPIURL, Channel: cfg.SlackChannel}
	if err := nc.Validate(); err != nil {
		return nil, err
	}
	return notify.New(nc, console, notify.WithLogger(log))
}

// RunTicker publishes a tick for function at the start of every period
// until ctx is done: at once for the current period, then at each period
// boundary (UTC-aligned: period start = now truncated to period). Every
// replica may run it; the Nats-Msg-Id <function>/<period start> lets one
// tick per period through. A failed publish is retried every 5 s within the
// period.
func RunTicker(ctx context.Context, js events.Publisher, function string, period time.Duration, now func() time.Time, m *Metrics, log *slog.Logger) {
	for {
		start := now().UTC().Truncate(period)
		wait := start.Add(period).Sub(now())
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		stored, err := events.PublishTick(pctx, js, function, start)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			m.Ticks.WithLabelValues(function, "error").Inc()
			log.Warn("publishing tick", "function", function, "period_start", start, "err", err)
			wait = min(wait, 5*time.Second)
		case stored:
			m.Ticks.WithLabelValues(function, "stored").Inc()
			log.Debug("tick published", "function", function, "period_start", start)
		default:
			m.Ticks.WithLabelValues(function, "duplicate").Inc()
		}
		if wait <= 0 {
			wait = time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
