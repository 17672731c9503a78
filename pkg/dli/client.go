package dli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/impl"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	dlisdk "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1"
	"golang.org/x/time/rate"
)

// Client is a context-first DLI client over the official Huawei Cloud SDK.
// The SDK signs requests (SDK-HMAC-SHA256, with the security token of
// temporary credentials) and encodes the wire types; Client adds the
// context (deadline and cancel), one retry policy, a client-side rate
// limit, pagination and typed errors. It is safe for concurrent use.
type Client struct {
	cfg       Config
	cred      *basic.Credentials
	endpoints []string
	transport http.RoundTripper
	limiter   *rate.Limiter
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
	log       *slog.Logger
	observe   func(op, outcome string, d time.Duration)
	backoff   Backoff
	secrets   *strings.Replacer
}

// Backoff shapes the waits between attempts: full jitter, a random wait in
// [0, min(Max, Base·2^(attempt-1))], unless DLI sent Retry-After, which is
// honoured exactly — up to MaxRetryAfter; a longer Retry-After ends the call
// with a retryable *Error carrying it, so the caller's own retry layer (e.g.
// a JetStream redelivery) can wait instead.
type Backoff struct {
	// Base is the first wait's upper bound. Default 200ms.
	Base time.Duration
	// Max caps a wait computed from Base. Default 10s.
	Max time.Duration
	// MaxRetryAfter is the longest Retry-After waited in process.
	// Default 30s.
	MaxRetryAfter time.Duration
}

// Option configures a Client.
type Option func(*Client) error

// WithHTTPTransport makes every call go through rt (shared by all calls;
// default: a clone of http.DefaultTransport). An *http.Transport keeps the
// "was the request written" tracing exact; other round trippers should
// pass the request's context on.
func WithHTTPTransport(rt http.RoundTripper) Option {
	return func(c *Client) error {
		if rt == nil {
			return errors.New("dli: WithHTTPTransport: nil round tripper")
		}
		c.transport = rt
		return nil
	}
}

// WithClock replaces time.Now (used for Retry-After dates, the rate
// limiter and durations reported to the observer). For tests.
func WithClock(now func() time.Time) Option {
	return func(c *Client) error {
		if now == nil {
			return errors.New("dli: WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithSleep replaces the wait between attempts and for the rate limiter.
// sleep must return ctx.Err() promptly when ctx is done. For tests: record
// the waits instead of sleeping.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) error {
		if sleep == nil {
			return errors.New("dli: WithSleep: nil sleep")
		}
		c.sleep = sleep
		return nil
	}
}

// WithLogger sets the logger for retries (debug level). Default: none.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) error {
		if l == nil {
			return errors.New("dli: WithLogger: nil logger")
		}
		c.log = l
		return nil
	}
}

// WithObserver calls observe once per call, after its last attempt, with
// the operation (e.g. "GetQueue"), the outcome (one of the Outcome*
// constants; a call that succeeded only after retries reports
// OutcomeRecovered, so transient DLI faults show in the metrics) and the
// call's duration, retries and waits included. pkg/host
// turns it into Prometheus metrics. observe must be fast and safe for
// concurrent use.
func WithObserver(observe func(op, outcome string, d time.Duration)) Option {
	return func(c *Client) error {
		c.observe = observe
		return nil
	}
}

// WithBackoff sets the backoff between attempts; zero fields keep their
// defaults.
func WithBackoff(b Backoff) Option {
	return func(c *Client) error {
		if b.Base < 0 || b.Max < 0 || b.MaxRetryAfter < 0 {
			return errors.New("dli: WithBackoff: durations must not be negative")
		}
		if b.Base != 0 {
			c.backoff.Base = b.Base
		}
		if b.Max != 0 {
			c.backoff.Max = b.Max
		}
		if b.MaxRetryAfter != 0 {
			c.backoff.MaxRetryAfter = b.MaxRetryAfter
		}
		return nil
	}
}

// New returns a client for cfg, validated as ConfigFromEnv validates it.
func New(cfg Config, opts ...Option) (*Client, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	cb := basic.NewCredentialsBuilder().WithAk(cfg.AK).WithSk(cfg.SK).WithProjectId(cfg.ProjectID)
	if cfg.SecurityToken != "" {
		cb = cb.WithSecurityToken(cfg.SecurityToken)
	}
	cred, err := cb.SafeBuild()
	if err != nil {
		return nil, errors.New("dli: invalid credentials (HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK)")
	}
	c := &Client{
		cfg:       cfg,
		cred:      cred,
		endpoints: []string{cfg.Endpoint},
		now:       time.Now,
		sleep:     sleepCtx,
		log:       slog.New(slog.DiscardHandler),
		backoff:   Backoff{Base: 200 * time.Millisecond, Max: 10 * time.Second, MaxRetryAfter: 30 * time.Second},
	}
	var pairs []string
	for _, s := range []string{cfg.SK, cfg.SecurityToken, cfg.AK} {
		if len(s) >= 4 {
			pairs = append(pairs, s, "REDACTED")
		}
	}
	c.secrets = strings.NewReplacer(pairs...)
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.transport == nil {
		c.transport = newTransport()
	}
	if cfg.QPS > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.QPS), max(1, int(math.Ceil(cfg.QPS))))
	}
	return c, nil
}

// Config returns the client's effective configuration (print it: secrets
// are redacted).
func (c *Client) Config() Config { return c.cfg }

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sdkClient builds the SDK client of one attempt. It is cheap (a handful
// of small allocations; see BenchmarkSDKClientConstruction): the transport,
// its connection pool and the credentials are shared, only the round
// tripper bound to the attempt's context is new. No region is given, so
// the SDK never asks IAM for a project id, and a single endpoint with no
// invoker means the SDK makes no retries of its own.
func (c *Client) sdkClient(rt http.RoundTripper) *dlisdk.DliClient {
	hcfg := config.DefaultHttpConfig().
		WithHttpRoundTripper(rt).
		WithTimeout(0). // the attempt's context bounds it
		WithUserAgent("dlibot")
	hc := core.NewHcHttpClient(impl.NewDefaultHttpClient(hcfg)).
		WithEndpoints(c.endpoints).
		WithCredential(c.cred).
		WithErrorHandler(sdkerr.DefaultErrorHandler{})
	return dlisdk.NewDliClient(hc)
}

// call runs one operation under the retry policy and reports it to the
// observer. fn performs one attempt with the given SDK client; it may
// return an *Error for an answer that decoded but reports a failure.
func (c *Client) call(ctx context.Context, op string, idempotent bool, fn func(*dlisdk.DliClient) error) error {
	start := c.now()
	retried := false
	err := c.run(ctx, op, idempotent, fn, &retried)
	if c.observe != nil {
		oc := outcome(err)
		if err == nil && retried {
			oc = OutcomeRecovered
		}
		c.observe(op, oc, c.now().Sub(start))
	}
	return err
}

// run performs the attempts; it sets *retried when an attempt failed and
// another one followed.
func (c *Client) run(ctx context.Context, op string, idempotent bool, fn func(*dlisdk.DliClient) error, retried *bool) error {
	var last *Error
	for attempt := 1; ; attempt++ {
		if err := c.waitRate(ctx); err != nil {
			if ctx.Err() == nil {
				return &Error{Op: op, Message: "rate limiter", Err: err, Attempts: attempt - 1}
			}
			return c.ctxError(ctx, op, attempt-1, last)
		}
		e := c.attempt(ctx, op, idempotent, fn)
		if e == nil {
			return nil
		}
		if last != nil && last.Ambiguous && deletes[op] && e.kind() == ErrNotFound {
			// An earlier attempt's answer was lost, and the object is gone:
			// that attempt deleted it.
			return nil
		}
		e.Attempts = attempt
		last = e
		if ctx.Err() != nil {
			return c.ctxError(ctx, op, attempt, e)
		}
		if !c.retryable(e) || attempt >= c.cfg.MaxAttempts {
			return e
		}
		wait := e.RetryAfter
		if wait > c.backoff.MaxRetryAfter {
			return e
		}
		if wait == 0 {
			wait = c.jitter(attempt)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return e // the wait would outlive the caller's deadline
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "dli: retrying",
			slog.String("op", op), slog.Int("attempt", attempt), slog.Duration("wait", wait),
			slog.Int("status", e.Status), slog.String("code", e.Code), slog.String("error", e.Error()))
		*retried = true
		if err := c.sleep(ctx, wait); err != nil {
			return c.ctxError(ctx, op, attempt, e)
		}
	}
}

// deletes are the operations for which "not found" after an ambiguous
// earlier attempt means that attempt succeeded.
var deletes = map[string]bool{"DeletePlan": true, "DeletePlans": true}

// retryable decides whether a failed attempt is tried again: 429 always
// (DLI refused it); 5xx, 408 and ambiguous network failures only for
// idempotent calls; network failures that provably never reached DLI
// always.
func (c *Client) retryable(e *Error) bool {
	if !e.transient() {
		return false
	}
	if e.Status == http.StatusTooManyRequests {
		return true
	}
	return e.idempotent || !e.Ambiguous
}

// jitter returns the full-jitter wait before attempt+1.
func (c *Client) jitter(attempt int) time.Duration {
	ceil := c.backoff.Max
	if n := attempt - 1; n < 62 && c.backoff.Base <= c.backoff.Max>>n {
		ceil = c.backoff.Base << n
	}
	return rand.N(ceil + 1)
}

// waitRate takes a token from the rate limiter, sleeping (with c.sleep)
// until one is available.
func (c *Client) waitRate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.limiter == nil {
		return nil
	}
	now := c.now()
	r := c.limiter.ReserveN(now, 1)
	if !r.OK() {
		return errors.New("rate limiter refused the reservation")
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if err := c.sleep(ctx, d); err != nil {
		r.CancelAt(c.now())
		return err
	}
	return nil
}

// ctxError is the error of a call whose context ended.
func (c *Client) ctxError(ctx context.Context, op string, attempts int, last *Error) *Error {
	cause := context.Cause(ctx)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		cause = errCallerDeadline
	} else if cause == nil {
		cause = ctx.Err()
	}
	e := &Error{Op: op, Err: cause, Attempts: attempts}
	if last != nil {
		e.Ambiguous = last.Ambiguous
		e.idempotent = last.idempotent
		e.RequestID = last.RequestID
	}
	return e
}

// attempt makes one attempt and classifies its failure.
func (c *Client) attempt(ctx context.Context, op string, idempotent bool, fn func(*dlisdk.DliClient) error) *Error {
	actx, cancel := context.WithTimeoutCause(ctx, c.cfg.Timeout, errAttemptTimeout)
	defer cancel()
	rt := &attemptTransport{ctx: actx, base: c.transport}
	err := fn(c.sdkClient(rt))
	if err == nil {
		// The SDK follows no redirects and decodes any status below 400;
		// a 3xx (a proxy, a wrong endpoint) must not pass for an empty
		// success.
		status, header := rt.answer()
		if status < 300 {
			return nil
		}
		e := &Error{Op: op, Status: status, Message: c.redirectMessage(status), idempotent: idempotent}
		if header != nil {
			e.RequestID = header.Get("X-Request-Id")
		}
		return e
	}
	e := c.classify(op, err, rt, actx, ctx)
	e.idempotent = idempotent
	return e
}

// classify turns an attempt's failure into an *Error.
func (c *Client) classify(op string, err error, rt *attemptTransport, actx, ctx context.Context) *Error {
	status, header := rt.answer()
	e := &Error{Op: op}
	if header != nil {
		e.RequestID = header.Get("X-Request-Id")
		e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), c.now())
	}
	var own *Error
	var sre *sdkerr.ServiceResponseError
	switch {
	case ctx.Err() != nil:
		e.Err = ctx.Err()
		e.Ambiguous = !rt.notSent(err)
	case actx.Err() != nil:
		// The attempt ran out of time, possibly while reading the answer.
		e.Err = errAttemptTimeout
		e.Ambiguous = !rt.notSent(err)
	case errors.As(err, &own):
		own.Op = op
		if own.Status == 0 {
			own.Status = status
		}
		if own.RequestID == "" {
			own.RequestID = e.RequestID
		}
		own.Message = c.scrub(own.Message)
		return own
	case errors.As(err, &sre):
		e.Status = sre.StatusCode
		if e.Status == 0 {
			e.Status = status
		}
		e.Code = sre.ErrorCode
		e.Message = c.scrub(strings.TrimSpace(sre.ErrorMessage))
		if sre.RequestId != "" {
			e.RequestID = sre.RequestId
		}
		switch {
		case e.Status >= 300 && e.Status < 400:
			e.Message = c.redirectMessage(e.Status)
		case e.Status < 400:
			// The SDK could not decode a success answer.
			e.Message = "cannot decode DLI's answer: " + e.Message
		}
		e.Ambiguous = e.Status >= 500 || e.Status == http.StatusRequestTimeout
	default:
		e.Err = scrubbedError{msg: c.scrub(err.Error()), err: err}
		e.Ambiguous = !rt.notSent(err)
		if !isNetworkError(err) {
			e.Ambiguous = false
		}
	}
	return e
}

// redirectMessage describes a 3xx answer, which DLI never sends.
func (c *Client) redirectMessage(status int) string {
	return "unexpected HTTP status " + http.StatusText(status) + " from " + c.cfg.Endpoint + " (is DLI_ENDPOINT right?)"
}

// scrub removes credentials from a message.
func (c *Client) scrub(s string) string { return c.secrets.Replace(s) }

// scrubbedError keeps an error's chain but prints a scrubbed message.
type scrubbedError struct {
	msg string
	err error
}

func (s scrubbedError) Error() string { return s.msg }
func (s scrubbedError) Unwrap() error { return s.err }

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > math.MaxInt64/int64(time.Second) {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// checkSuccess turns an answer with is_success false into an *Error.
func checkSuccess(ok *bool, msg *string) error {
	if ok != nil && !*ok {
		return &Error{Message: "DLI reported failure: " + deref(msg)}
	}
	return nil
}

// checkSuccessString is checkSuccess for the Flink APIs, whose is_success
// is a string.
func checkSuccessString(ok *string, msg *string) error {
	if ok == nil {
		return nil
	}
	if b, err := parseFlexBool(*ok); err == nil && !b {
		return &Error{Message: "DLI reported failure: " + deref(msg)}
	}
	return nil
}

// parseFlexBool reads DLI's booleans, which come as JSON booleans or as
// the strings "true"/"false".
func parseFlexBool(s string) (bool, error) {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(s), `"`)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", s)
}
