// Package natstest runs an embedded NATS server with JetStream for tests:
// random port on 127.0.0.1, store in a temporary directory, shut down when
// the test ends, and restartable on the same store (and port) to test what
// survives a restart.
package natstest

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is an embedded nats-server with JetStream on.
type Server struct {
	t        testing.TB
	storeDir string

	mu   sync.Mutex
	srv  *server.Server
	port int
}

// Option configures [Start].
type Option func(*Server)

// StoreDir makes the server keep JetStream data in dir instead of a fresh
// t.TempDir(); a second Server on the same dir sees the first one's data.
func StoreDir(dir string) Option { return func(s *Server) { s.storeDir = dir } }

// Start starts a server and registers its shutdown with t.Cleanup. It fails
// the test if the server does not come up within 10 seconds.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, port: -1}
	for _, o := range opts {
		o(s)
	}
	if s.storeDir == "" {
		s.storeDir = t.TempDir()
	}
	if err := s.start(); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	opts := &server.Options{
		ServerName: "natstest",
		Host:       "127.0.0.1",
		Port:       s.port,
		NoLog:      true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   s.storeDir,
		// Keep tests light on a shared machine.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  1 << 30,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("new server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("server not ready within 10s")
	}
	s.srv = srv
	if addr, ok := srv.Addr().(*net.TCPAddr); ok {
		s.port = addr.Port
	}
	return nil
}

// URL is the client URL, e.g. nats://127.0.0.1:41234. It stays the same
// across [Server.Restart].
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", s.port)
}

// StoreDirPath is the JetStream store directory.
func (s *Server) StoreDirPath() string { return s.storeDir }

// NATS returns the embedded server (nil while shut down).
func (s *Server) NATS() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Shutdown stops the server and waits until it is down. Safe to call twice.
func (s *Server) Shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart shuts the server down (if running) and starts it again on the
// same port and store directory. Clients connected with [Server.Connect]
// reconnect on their own.
func (s *Server) Restart() {
	s.t.Helper()
	s.Shutdown()
	var err error
	for range 50 { // the port may linger briefly after shutdown
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("natstest: restart: %v", err)
}

// Connect opens a client connection that reconnects forever (so it
// survives [Server.Restart]) and returns it with a JetStream handle; the
// connection is closed when the test ends.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	s.t.Helper()
	opts = append([]nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20 * time.Millisecond),
		nats.ReconnectJitter(0, 0),
	}, opts...)
	nc, err := nats.Connect(s.URL(), opts...)
	if err != nil {
		s.t.Fatalf("natstest: connect: %v", err)
	}
	s.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		s.t.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}

// StartJS starts a server and returns its URL and a connected JetStream
// handle: the one-liner most tests need.
func StartJS(t testing.TB) (string, jetstream.JetStream) {
	t.Helper()
	s := Start(t)
	_, js := s.Connect()
	return s.URL(), js
}
