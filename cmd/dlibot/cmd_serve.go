package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/dlibot/dlibot/pkg/host"
)

func init() {
	register("serve", command{
		summary: "run functions as a service: JetStream consumers + HTTP server",
		run:     runServe,
	})
}

// hostFlagSet returns a FlagSet for one of the hosting commands that prints
// its usage (synopsis, description, flags) to stdout on --help.
func hostFlagSet(name, synopsis, description string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: %s\n\n%s\n", synopsis, strings.TrimSpace(description))
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(stdout, "\nFlags:")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
	}
	return fs
}

// parseHostFlags parses args; errHelpShown means --help was printed.
func parseHostFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelpShown
		}
		return fmt.Errorf("%v (see --help)", err)
	}
	return nil
}

var errHelpShown = errors.New("help shown")

// helpOK turns errHelpShown into success.
func helpOK(err error) error {
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

const serveHelp = `
Runs the named functions (every registered one when none is named) as a
long-running service: connects to NATS_URL (NATS_CREDS, NATS_TLS_* for
credentials and TLS), creates the JetStream streams, consumers and KV
buckets idempotently, runs each function's durable consumer (replicas share
the work), publishes its schedule ticks, and serves HTTP on HTTP_ADDR:

  POST /events                CloudEvents (binary or structured) → JetStream;
                              202 once stored, 400 malformed, 413 larger than
                              HTTP_MAX_BODY_BYTES (default 1 MiB), 503 when
                              NATS is down; 401 without an ingest token
  POST /slack/commands        chatops (Slack-signed)
  POST /slack/interactions    chatops (Slack-signed)
  POST /webhooks/obs          obsimport (ingest token, or a verified SMN
                              signature)
  GET  /healthz, /readyz      liveness; readiness (NATS and JetStream answer)
  GET  /metrics               Prometheus (dlibot_*)

The ingest routes (POST /events, POST /webhooks/obs) take a request only
with one of the tokens in DLIBOT_INGEST_TOKENS (Authorization: Bearer
<token>; ?access_token=<token> on /webhooks/obs). Without tokens, serve
accepts unauthenticated requests only on a loopback address (HTTP_ADDR
127.0.0.1:…) and refuses to start on any other, unless
DLIBOT_INGEST_AUTH=none says something in front of it authenticates.

On SIGTERM or SIGINT it stops fetching, finishes in-flight work, drains the
NATS connection and exits within 30 s. Configuration comes from the
environment; see 'dlibot config check'.`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := hostFlagSet("serve", "dlibot serve [flags] [function…]", serveHelp, stdout)
	httpAddr := fs.String("http", "", "listen address (overrides HTTP_ADDR, default :8080)")
	ingestOnly := fs.Bool("ingest-only", false, "run no function: only receive events into JetStream (no DLI configuration needed)")
	if err := parseHostFlags(fs, args); err != nil {
		return helpOK(err)
	}
	cfg, err := host.LoadConfig(ctx)
	if err != nil {
		return err
	}
	if *httpAddr != "" {
		cfg.HTTPAddr = *httpAddr
	}
	if *ingestOnly && fs.NArg() > 0 {
		return errors.New("--ingest-only runs no function; do not name any")
	}
	return host.Run(ctx, host.Options{Config: cfg, Functions: fs.Args(), IngestOnly: *ingestOnly, Mode: host.ModeService,
		Logger: cfg.NewLogger(stderr), Console: stdout})
}
