package host

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/host/slacksig"
)

// HTTP server limits. The body limit is Config.HTTPMaxBodyBytes.
const (
	// ReadHeaderTimeout bounds reading request headers (slowloris).
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout bounds reading a whole request.
	ReadTimeout = 30 * time.Second
	// WriteTimeout bounds writing a response (Slack itself gives up after 3 s).
	WriteTimeout = 60 * time.Second
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout = 120 * time.Second
	// MaxHeaderBytes caps request headers (64 KiB).
	MaxHeaderBytes = 64 << 10
)

// Route is an HTTP endpoint a function serves, e.g. chatops'
// POST /slack/commands.
type Route struct {
	// Method is the HTTP method, e.g. "POST". Other methods get 405 with
	// an Allow header.
	Method string
	// Path is the exact path, e.g. "/slack/commands".
	Path string
	// Handler serves the route. The body is already limited to the
	// configured size (reading past it fails with *http.MaxBytesError).
	Handler http.Handler
	// SlackSigned makes the host verify the Slack v0 signature (current or
	// previous signing secret) before Handler runs: 401 on a bad
	// signature, 503 when no secret is configured. Handler still gets the
	// full body.
	SlackSigned bool
	// Ingest makes the route a webhook ingest route: the host requires an
	// ingest token before Handler runs (see TokenParam and IngestVerifier).
	// Routes listed in IngestRoutes are ingest routes whatever this says.
	Ingest bool
}

// Pattern is the route's http.ServeMux pattern, "METHOD /path".
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// ServerOptions configures NewServer.
type ServerOptions struct {
	// Logger receives one JSON access log line per request; default
	// slog.Default().
	Logger *slog.Logger
	// Metrics records dlibot_http_*; required.
	Metrics *Metrics
	// MaxBodyBytes caps request bodies; default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Ingest stores events received on POST /events; nil answers 503.
	Ingest *Ingester
	// Direct, when set, handles POST /events in place of Ingest (Lambda:
	// the function handles its event directly, no stream hop). It returns
	// the HTTP status and a JSON body.
	Direct func(ctx context.Context, subject string, e events.Event) (int, any)
	// Ready reports whether the process can do its work (GET /readyz);
	// nil means always ready.
	Ready func(context.Context) error
	// Routes are the running functions' routes.
	Routes []Route
	// Owners maps route patterns of functions that are not running to the
	// function serving them; those answer 404 with a JSON body naming it.
	Owners map[string]string
	// SlackSecrets verify SlackSigned routes (current first).
	SlackSecrets []string
	// Now is the clock for Slack timestamp checks; default time.Now.
	Now func() time.Time
	// IngestTokens are the tokens accepted on the ingest routes (POST
	// /events and the webhook routes), from DLIBOT_INGEST_TOKENS. With
	// none and IngestOpen false, ingest routes refuse every request (401)
	// that their handler does not authenticate itself (IngestVerifier).
	IngestTokens []string
	// IngestOpen accepts unauthenticated requests on the ingest routes
	// (DLIBOT_INGEST_AUTH=none, or a loopback listener without tokens; see
	// IngestPolicy). Default false.
	IngestOpen bool
}

// Server is dlibot's HTTP surface: POST /events, the functions' routes,
// GET /healthz, GET /readyz and GET /metrics.
type Server struct {
	opts ServerOptions
	auth *ingestAuth
	mux  *http.ServeMux
	h    http.Handler
}

// NewServer builds the handler tree. It does not listen; see Serve.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Metrics == nil {
		return nil, errors.New("host: ServerOptions.Metrics is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, auth: newIngestAuth(opts.IngestTokens, opts.IngestOpen), mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", opts.Metrics.Handler())
	s.mux.Handle("POST /events", s.ingestGuard("POST /events", http.HandlerFunc(s.events), false))
	seen := map[string]bool{}
	for _, rt := range opts.Routes {
		if rt.Method == "" || !strings.HasPrefix(rt.Path, "/") || rt.Handler == nil {
			return nil, errors.New("host: route " + rt.Pattern() + " needs a method, an absolute path and a handler")
		}
		if seen[rt.Pattern()] {
			return nil, errors.New("host: route " + rt.Pattern() + " registered twice")
		}
		seen[rt.Pattern()] = true
		h := rt.Handler
		if rt.SlackSigned {
			h = s.slackVerify(h)
		}
		if rt.Ingest || IngestRoutes[rt.Pattern()] {
			h = s.ingestGuard(rt.Pattern(), h, true)
		}
		s.mux.Handle(rt.Pattern(), h)
	}
	for pattern, fn := range opts.Owners {
		if seen[pattern] {
			continue
		}
		fn := fn
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusNotFound, map[string]string{
				"error":    "function " + fn + " is not running in this process",
				"function": fn,
			})
		})
	}
	// Anything else: 405 with Allow when the path exists for other
	// methods, else a JSON 404.
	s.mux.HandleFunc("/", s.fallback)
	s.h = s.middleware(s.mux)
	return s, nil
}

// ServeHTTP serves a request through the middleware (request id, body
// limit, access log, metrics) and the mux.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// HTTPServer returns an *http.Server with dlibot's timeouts and limits.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
	}
}

// Serve serves on ln until ctx is done, then shuts down gracefully (in-flight
// requests finish, at most grace long).
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	hs := s.HTTPServer()
	hs.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(sctx)
	<-errc
	return err
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.opts.Ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) slackVerify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.opts.SlackSecrets) == 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "SLACK_SIGNING_SECRET is not configured"})
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeBodyError(w, err)
			return
		}
		if err := slacksig.Verify(r.Header, body, s.opts.SlackSecrets, s.opts.Now()); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		next.ServeHTTP(w, r)
	})
}

// writeBodyError answers a failed body read: 413 over the limit, else 400.
func writeBodyError(w http.ResponseWriter, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{
			"error": "request body larger than the limit", "limit_bytes": mbe.Limit,
		})
		return
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": "reading request body: " + err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// requestInfo travels in the request context so handlers can add the
// CloudEvent id to the access log line.
type requestInfo struct {
	id      string
	eventID string
	// auth is how an ingest request was authenticated (token_1,
	// smn_signature, open) or "refused:<reason>".
	auth string
}

type ctxKey struct{}

// RequestID returns the request id of the request ctx belongs to ("" if none).
func RequestID(ctx context.Context) string {
	if ri, ok := ctx.Value(ctxKey{}).(*requestInfo); ok {
		return ri.id
	}
	return ""
}

// SetEventID records the CloudEvent id handled by the request for the access
// log line.
func SetEventID(ctx context.Context, id string) {
	if ri, ok := ctx.Value(ctxKey{}).(*requestInfo); ok {
		ri.eventID = id
	}
}

// HeaderRequestID is the request id header, read if sane and always written.
const HeaderRequestID = "X-Request-Id"

func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{id: r.Header.Get(HeaderRequestID)}
		if !validRequestID(ri.id) {
			ri.id = newRequestID()
		}
		w.Header().Set(HeaderRequestID, ri.id)
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		sw := &statusWriter{ResponseWriter: w}
		func() {
			defer func() {
				p := recover()
				if p == nil {
					return
				}
				if p == http.ErrAbortHandler {
					panic(p)
				}
				// The request (body, headers) is not logged: it may carry
				// tokens or Slack payloads.
				s.opts.Logger.Error("handler panicked", "request_id", ri.id, "route", r.Pattern,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeJSON(sw, http.StatusInternalServerError, map[string]string{
						"error": "internal error", "request_id": ri.id})
				}
			}()
			next.ServeHTTP(sw, r)
		}()
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := r.Pattern
		if route == "" || route == "/" {
			route = "other"
		}
		d := time.Since(start)
		s.opts.Metrics.HTTPRequests.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(sw.status)).Inc()
		s.opts.Metrics.HTTPSeconds.WithLabelValues(route).Observe(d.Seconds())
		attrs := []slog.Attr{
			slog.String("request_id", ri.id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", route),
			slog.Int("status", sw.status),
			slog.Int64("bytes", sw.bytes),
			slog.Duration("duration", d),
			slog.String("remote", r.RemoteAddr),
		}
		if ri.eventID != "" {
			attrs = append(attrs, slog.String("ce_id", ri.eventID))
		}
		level := slog.LevelInfo
		if ri.auth != "" {
			attrs = append(attrs, slog.String("auth", ri.auth))
			if strings.HasPrefix(ri.auth, "refused:") {
				level = slog.LevelWarn
			}
		}
		if route == "GET /healthz" || route == "GET /readyz" || route == "GET /metrics" {
			level = slog.LevelDebug
		}
		s.opts.Logger.LogAttrs(r.Context(), level, "http request", attrs...)
	})
}

// methodLabel keeps the standard methods; anything else is "other", so
// clients cannot mint label values.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// fallback answers requests no route matched.
func (s *Server) fallback(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pattern := s.mux.Handler(r2); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{
			"error": r.Method + " is not allowed on " + r.URL.Path + " (allowed: " + strings.Join(allow, ", ") + ")"})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "no route for " + r.Method + " " + r.URL.Path})
}
