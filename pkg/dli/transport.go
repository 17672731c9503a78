package dli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// attemptTransport is the http.RoundTripper of one attempt. The SDK builds
// its http.Request without a context; attemptTransport binds the request to
// the attempt's context (deadline and cancel), traces whether the request
// was ever written, and captures the answer's status and headers
// (Retry-After, X-Request-Id) for the error and retry logic.
type attemptTransport struct {
	ctx  context.Context
	base http.RoundTripper

	getConn atomic.Bool // the transport started looking for a connection
	gotConn atomic.Bool // … and got one
	wrote   atomic.Bool // request headers were written: DLI may have it
	expired atomic.Bool // refused to send: the deadline had passed

	mu     sync.Mutex
	status int
	header http.Header
}

func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	trace := &httptrace.ClientTrace{
		GetConn:      func(string) { t.getConn.Store(true) },
		GotConn:      func(httptrace.GotConnInfo) { t.gotConn.Store(true) },
		WroteHeaders: func() { t.wrote.Store(true) },
	}
	// A process paused (SIGSTOP) past the deadline resumes with the
	// context's timer not fired yet: the clock, not Done, decides that a
	// request is not sent after its caller's deadline (obsimport's submit
	// lease relies on it).
	if dl, ok := t.ctx.Deadline(); ok && !time.Now().Before(dl) {
		t.expired.Store(true)
		return nil, fmt.Errorf("request not sent: %w", context.DeadlineExceeded)
	}
	req = req.WithContext(httptrace.WithClientTrace(t.ctx, trace))
	resp, err := t.base.RoundTrip(req)
	if resp != nil {
		t.mu.Lock()
		t.status, t.header = resp.StatusCode, resp.Header
		t.mu.Unlock()
	}
	return resp, err
}

// answer returns the captured status and headers (0, nil when none).
func (t *attemptTransport) answer() (int, http.Header) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status, t.header
}

// notSent reports whether the request provably never reached DLI: no
// connection was ever made, or dialling failed, and nothing was written.
func (t *attemptTransport) notSent(err error) bool {
	if t.wrote.Load() {
		return false
	}
	if t.expired.Load() {
		return true
	}
	if t.getConn.Load() && !t.gotConn.Load() {
		return true
	}
	return err != nil && isDialError(err)
}

// isDialError reports whether err happened while connecting, before any
// byte of the request could be sent.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect") {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr x509.CertificateInvalidError
	var recErr tls.RecordHeaderError
	return errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &certErr) || errors.As(err, &recErr)
}

// errAttemptTimeout is the cause of an attempt that ran out of its
// per-attempt time (Config.Timeout).
var errAttemptTimeout = errors.New("attempt timed out (DLI_TIMEOUT)")

// isNetworkError reports whether err is a transport-level failure: no
// (complete) answer arrived.
func isNetworkError(err error) bool {
	if errors.Is(err, errAttemptTimeout) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// newTransport returns the shared transport a Client uses when none is
// given: the default transport's settings with more idle connections per
// host, since every call goes to the same DLI endpoint.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 64
	t.MaxIdleConnsPerHost = 32
	t.IdleConnTimeout = 90 * time.Second
	return t
}
