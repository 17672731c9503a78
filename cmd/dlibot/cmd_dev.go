//go:build !lambda.norpc

package main

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/dlibot/dlibot/pkg/host/dev"
)

func init() {
	register("dev", command{
		summary: "run everything in one process: embedded NATS, DLI emulator, all functions, HTTP",
		run:     runDev,
	})
}

const devHelp = `
Runs dlibot on a laptop, in one process:
  - an embedded NATS server with JetStream, state in .dlibot/nats under the
    working directory (restarts keep it), on a free port unless --nats-port;
  - the DLI emulator seeded with demo queues and jobs, in real time, on its
    own 127.0.0.1 port — or real DLI when HUAWEICLOUD_SDK_AK (and the other
    DLI variables) are set;
  - every registered function (or the ones named) with its consumers, ticks
    and routes, and the HTTP server on --http;
  - a console notifier printing Slack messages when SLACK_BOT_TOKEN is unset,
    and a Slack signing secret generated into .dlibot/slack-signing-secret
    (0600) when SLACK_SIGNING_SECRET is unset ('dlibot slack' reads it).
At start it prints where everything listens and a ready-to-paste command per
function. Ctrl-C stops it gracefully.`

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := hostFlagSet("dev", "dlibot dev [flags] [function…]", devHelp, stdout)
	httpAddr := fs.String("http", "127.0.0.1:8080", "HTTP listen address")
	natsPort := fs.Int("nats-port", 0, "embedded NATS port (0: a free port)")
	if err := parseHostFlags(fs, args); err != nil {
		return helpOK(err)
	}
	bin := "dlibot"
	if filepath.Base(os.Args[0]) == "dlibot" {
		bin = os.Args[0]
	}
	return dev.Run(ctx, dev.Options{HTTPAddr: *httpAddr, NATSPort: *natsPort, Functions: fs.Args(),
		Stdout: stdout, LogOutput: stderr, Bin: bin})
}
