package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Ingest authentication. The ingest routes — POST /events and the webhook
// routes (IngestRoutes, e.g. POST /webhooks/obs) — store events that make
// dlibot act (imports, scale-outs), so they take a request only with one of
// the tokens of DLIBOT_INGEST_TOKENS:
//
//   - Authorization: Bearer <token> (RFC 6750), on every ingest route;
//   - Authorization: Basic with the token as the password (any user name),
//     for senders configured with a https://user:token@host/… URL;
//   - the query parameter TokenParam (?access_token=<token>, RFC 6750 §2.3)
//     on webhook routes only, for senders that cannot set headers (SMN HTTP
//     subscriptions, EventGrid webhook targets). The parameter is removed
//     from the request before the handler sees it; the access log never
//     records query strings.
//
// A webhook route's handler may also authenticate a request by itself when
// it carries no valid token (IngestVerifier: obsimport accepts an SMN
// message whose signature verifies and whose topic is allowed).
//
// Tokens are compared in constant time (SHA-256 of both sides, compared
// with crypto/subtle against every configured token), so neither the token
// nor its length leaks through timing. A refused request is answered 401
// with the same body whatever the reason, counted in
// dlibot_ingress_auth_refused_total{route,reason} and never reaches the
// handler, so nothing is stored.

// TokenParam is the query parameter that may carry the ingest token on
// webhook routes (RFC 6750's name).
const TokenParam = "access_token"

// Ingest authentication modes (DLIBOT_INGEST_AUTH).
const (
	// IngestAuthToken requires a token (the default). Without
	// DLIBOT_INGEST_TOKENS, `dlibot serve` and `dlibot dev` accept
	// unauthenticated requests only on a loopback listener and refuse to
	// start on any other; a Lambda answers 401.
	IngestAuthToken = "token"
	// IngestAuthNone accepts unauthenticated requests everywhere: for
	// deployments where something in front authenticates.
	IngestAuthNone = "none"
)

// MinIngestTokenLen is the shortest accepted ingest token, in characters.
const MinIngestTokenLen = 16

// IngestRoutes are the function routes the host treats as webhook ingest
// routes whatever their Route says: the token is required (and may come as
// TokenParam), so a function cannot forget to protect one.
var IngestRoutes = map[string]bool{
	"POST /webhooks/obs": true,
}

// ErrIngestAuth reports a configuration that would leave the ingest routes
// open to anyone: no DLIBOT_INGEST_TOKENS on a listener beyond loopback.
var ErrIngestAuth = errors.New("ingest routes unauthenticated")

// ErrNotSigned is returned by IngestVerifier.VerifyIngest for a request
// that carries no signature the handler checks, or when checking is not
// configured: the token rules decide.
var ErrNotSigned = errors.New("request not signed")

// IngestVerifier is implemented by the handler of a webhook ingest route
// that can authenticate a request without an ingest token, e.g. by a
// verified signature. The host asks it only when the request carries no
// valid token, with the whole (size-limited) body; the handler then gets
// the body again.
type IngestVerifier interface {
	// VerifyIngest returns the name of the scheme that authenticated the
	// request (a metric label, e.g. "smn_signature"); ErrNotSigned when the
	// request carries nothing this handler verifies; any other error when
	// a signature is present but does not verify (it is logged, never
	// sent to the client).
	VerifyIngest(ctx context.Context, header http.Header, body []byte) (scheme string, err error)
}

// ParseIngestTokens splits a DLIBOT_INGEST_TOKENS value (comma-separated,
// blanks around entries ignored). Its errors never contain a token.
func ParseIngestTokens(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for i, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		n := i + 1
		switch {
		case t == "":
			return nil, fmt.Errorf("entry %d is empty (the list is comma-separated)", n)
		case len(t) < MinIngestTokenLen:
			return nil, fmt.Errorf("token %d is shorter than %d characters (generate one with `openssl rand -hex 32`)", n, MinIngestTokenLen)
		case !validTokenChars(t):
			return nil, fmt.Errorf("token %d has a character outside A-Z a-z 0-9 - . _ ~ + / = (use hex or base64url)", n)
		}
		out = append(out, t)
	}
	return out, nil
}

// validTokenChars reports whether t uses only RFC 6750's b64token
// characters, so it fits a header and (hex, base64url) a URL unescaped.
func validTokenChars(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~+/=", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ingestAuth checks ingest requests. It keeps only SHA-256 digests of the
// tokens.
type ingestAuth struct {
	digests [][sha256.Size]byte
	open    bool
}

func newIngestAuth(tokens []string, open bool) *ingestAuth {
	a := &ingestAuth{open: open}
	for _, t := range tokens {
		a.digests = append(a.digests, sha256.Sum256([]byte(t)))
	}
	return a
}

// match returns the 1-based position of the token among the configured
// ones, or 0. Every configured digest is compared, in constant time.
func (a *ingestAuth) match(token string) int {
	d := sha256.Sum256([]byte(token))
	found := 0
	for i := range a.digests {
		if subtle.ConstantTimeCompare(d[:], a.digests[i][:]) == 1 && found == 0 {
			found = i + 1
		}
	}
	return found
}

// credential extracts the token a request presents: Authorization Bearer
// or Basic (the password), else, when query is true, TokenParam. present
// says the request tried (a header or the parameter was there).
func credential(r *http.Request, query bool) (token string, present bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToLower(scheme) {
		case "bearer":
			return rest, true
		case "basic":
			b, err := base64.StdEncoding.DecodeString(rest)
			if err != nil {
				return "", true
			}
			_, pw, ok := strings.Cut(string(b), ":")
			if !ok {
				return "", true
			}
			return pw, true
		}
		return "", true
	}
	if query && r.URL.RawQuery != "" {
		if vs, ok := r.URL.Query()[TokenParam]; ok {
			if len(vs) != 1 {
				return "", true
			}
			return vs[0], true
		}
	}
	return "", false
}

// stripTokenParam removes TokenParam from the request's URL (and
// RequestURI), so a handler that logs the URL cannot leak it.
func stripTokenParam(r *http.Request) {
	if r.URL.RawQuery == "" || !strings.Contains(r.URL.RawQuery, TokenParam) {
		return
	}
	q := r.URL.Query()
	if _, ok := q[TokenParam]; !ok {
		return
	}
	q.Del(TokenParam)
	u := *r.URL
	u.RawQuery = q.Encode()
	r.URL = &u
	r.RequestURI = u.RequestURI()
}

// Refusal reasons (the reason label of dlibot_ingress_auth_refused_total).
const (
	refusedMissing       = "missing_token"
	refusedInvalid       = "invalid_token"
	refusedBadSignature  = "bad_signature"
	refusedNotConfigured = "not_configured"
)

// ingestGuard wraps an ingest route's handler: it lets a request through
// only when it is authenticated (or the auth is open), and answers 401
// otherwise. webhook enables TokenParam and the handler's IngestVerifier.
func (s *Server) ingestGuard(route string, next http.Handler, webhook bool) http.Handler {
	a := s.auth
	verifier, _ := next.(IngestVerifier)
	if !webhook {
		verifier = nil
	}
	// Every refusal series exists from the start (at 0), so an alert on
	// its rate works before the first refusal.
	for _, reason := range []string{refusedMissing, refusedInvalid, refusedBadSignature, refusedNotConfigured} {
		s.opts.Metrics.IngressAuthRefused.WithLabelValues(route, reason)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, present := credential(r, webhook)
		r2 := r
		if webhook && strings.Contains(r.URL.RawQuery, TokenParam) {
			r2 = r.Clone(r.Context())
			stripTokenParam(r2)
		}
		if a.open {
			s.authAccepted(r, route, "open")
			next.ServeHTTP(w, r2)
			return
		}
		if present && token != "" {
			if n := a.match(token); n > 0 {
				s.authAccepted(r, route, "token_"+strconv.Itoa(n))
				next.ServeHTTP(w, r2)
				return
			}
		}
		reason := refusedMissing
		switch {
		case present:
			reason = refusedInvalid
		case len(a.digests) == 0:
			reason = refusedNotConfigured
		}
		if verifier != nil && !present {
			body, err := io.ReadAll(r2.Body)
			if err != nil {
				writeBodyError(w, err)
				return
			}
			scheme, verr := verifier.VerifyIngest(r2.Context(), r2.Header, body)
			switch {
			case verr == nil && scheme != "":
				r2.Body = io.NopCloser(bytes.NewReader(body))
				s.authAccepted(r, route, scheme)
				next.ServeHTTP(w, r2)
				return
			case verr != nil && !errors.Is(verr, ErrNotSigned):
				reason = refusedBadSignature
				s.opts.Logger.Warn("ingest request signature refused", "request_id", RequestID(r.Context()),
					"route", route, "err", verr)
			}
		}
		s.refuseIngest(w, r, route, reason)
	})
}

func (s *Server) authAccepted(r *http.Request, route, via string) {
	s.opts.Metrics.IngressAuthAccepted.WithLabelValues(route, via).Inc()
	if ri, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		ri.auth = via
	}
}

// refuseIngest answers 401 with a body that does not say why (the reason
// is in the metric and the access log line).
func (s *Server) refuseIngest(w http.ResponseWriter, r *http.Request, route, reason string) {
	s.opts.Metrics.IngressAuthRefused.WithLabelValues(route, reason).Inc()
	if ri, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		ri.auth = "refused:" + reason
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="dlibot ingest"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{
		"error": "unauthorized: this route needs a valid ingest token (Authorization: Bearer <token>); see docs/deploy.md",
	})
}

// IngestPolicy decides, for `dlibot serve` and `dlibot dev`, whether the
// ingest routes run open (no authentication). DLIBOT_INGEST_AUTH=none:
// open. Tokens configured: not open. No tokens: open only when addr (the
// listen address) is loopback-only; otherwise an error wrapping
// ErrIngestAuth that says what to set.
func IngestPolicy(cfg *Config, addr string) (open bool, err error) {
	if cfg.IngestAuth == IngestAuthNone {
		return true, nil
	}
	if strings.TrimSpace(cfg.IngestTokens) != "" {
		return false, nil
	}
	if LoopbackAddr(addr) {
		return true, nil
	}
	return false, fmt.Errorf("%w: DLIBOT_INGEST_TOKENS is unset and the HTTP server would listen on %s, beyond loopback: "+
		"POST /events and POST /webhooks/obs would store anyone's events. Set DLIBOT_INGEST_TOKENS "+
		"(e.g. `openssl rand -hex 32`; senders send Authorization: Bearer <token>), listen on 127.0.0.1, "+
		"or set DLIBOT_INGEST_AUTH=none if something in front of dlibot authenticates (docs/deploy.md)", ErrIngestAuth, displayAddr(addr))
}

func displayAddr(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return addr + " (all interfaces)"
	}
	return addr
}

// LoopbackAddr reports whether a host:port listen address only listens on
// loopback: a loopback IP or "localhost". An empty host (all interfaces)
// or any other name is not.
func LoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactQuery drops the query string of a request target, for error
// messages (it may carry TokenParam).
func redactQuery(target string) string {
	if u, err := url.Parse(target); err == nil {
		return u.Path
	}
	p, _, _ := strings.Cut(target, "?")
	return p
}
