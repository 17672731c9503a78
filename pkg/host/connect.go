package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoNATS reports that NATS_URL is not set where NATS is needed.
var ErrNoNATS = errors.New("NATS_URL is not set")

// NATSOptions returns the nats.go options for c: client name, credentials
// file, TLS (CA, client certificate), endless reconnects every 2 s with
// logging, and no reconnect buffer (a publish while disconnected fails at
// once instead of being stored later, unacknowledged).
func (c *Config) NATSOptions(name string, logger *slog.Logger) []nats.Option {
	if logger == nil {
		logger = slog.Default()
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(2 * time.Second),
		nats.ReconnectBufSize(-1),
		nats.Timeout(5 * time.Second),
		nats.DrainTimeout(10 * time.Second),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() || nc.IsDraining() {
				logger.Debug("nats connection closed")
				return
			}
			logger.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			logger.Warn("nats async error", "err", err)
		}),
	}
	if c.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(c.NATSCreds))
	}
	if c.NATSTLSCA != "" {
		opts = append(opts, nats.RootCAs(c.NATSTLSCA))
	}
	if c.NATSTLSCert != "" {
		opts = append(opts, nats.ClientCert(c.NATSTLSCert, c.NATSTLSKey))
	}
	return opts
}

// Connect dials NATS_URL with NATSOptions and opens JetStream. The error
// never contains credentials (URLs are redacted by nats.go).
func (c *Config) Connect(ctx context.Context, name string, logger *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	if c.NATSURL == "" {
		return nil, nil, ErrNoNATS
	}
	nc, err := nats.Connect(c.NATSURL, c.NATSOptions(name, logger)...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS_URL: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("open JetStream: %w", err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("JetStream at NATS_URL does not answer (is JetStream enabled?): %w", err)
	}
	return nc, js, nil
}

// NATSReady is a readiness check: the connection is up and JetStream answers.
func NATSReady(nc *nats.Conn, js jetstream.JetStream) func(context.Context) error {
	return func(ctx context.Context) error {
		if nc == nil || js == nil {
			return ErrNoNATS
		}
		if !nc.IsConnected() {
			return fmt.Errorf("NATS connection is %s", nc.Status())
		}
		if _, err := js.AccountInfo(ctx); err != nil {
			return fmt.Errorf("JetStream does not answer: %w", err)
		}
		return nil
	}
}
