package host

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/natstest"
)

// testNATS is pkg/events' embedded JetStream server, with the stop/start
// vocabulary of the outage tests (same port and store across a restart).
type testNATS struct{ *natstest.Server }

func startTestNATS(t testing.TB) *testNATS {
	t.Helper()
	return &testNATS{natstest.Start(t)}
}

func (n *testNATS) stop()       { n.Shutdown() }
func (n *testNATS) start()      { n.Restart() }
func (n *testNATS) url() string { return n.URL() }

// connect connects like the service does (fast reconnects for tests) and
// creates the streams.
func (n *testNATS) connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	cfg := &Config{NATSURL: n.url()}
	opts := append(cfg.NATSOptions("test", slog.New(slog.DiscardHandler)), nats.ReconnectWait(50*time.Millisecond), nats.ReconnectJitter(0, 0))
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	return nc, js
}
