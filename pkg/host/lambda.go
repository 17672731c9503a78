package host

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
)

// LambdaOptions configures NewLambda.
type LambdaOptions struct {
	// Config is the shared configuration; required.
	Config *Config
	// Handler is the function to run, the Lambda Handler setting
	// (_HANDLER): autoscale, jobwatch, chatops or obsimport.
	Handler string
	// DLI is the DLI client configuration; nil reads the environment.
	DLI *dli.Config
	// Registry holds the functions; default DefaultRegistry.
	Registry *Registry
	// Logger defaults to JSON on stderr at LOG_LEVEL.
	Logger *slog.Logger
	// Metrics default to NewMetrics(). Nothing scrapes them in Lambda:
	// with Config.EMF their changes are written as EMF lines after each
	// invocation, and the Go runtime and process collectors are removed.
	Metrics *Metrics
	// NATS is an existing connection; nil connects to NATS_URL when set.
	NATS *nats.Conn
	// Notifier overrides the notifier built from the Slack settings.
	Notifier notify.Notifier
	// Console is where the console notifier prints; default os.Stdout.
	Console io.Writer
	// Now is the clock; default time.Now.
	Now func() time.Time
	// DedupLease is how long a dedup claim protects an event being handled
	// (with NATS only; renewed by events.InProgress). Default 5 minutes.
	DedupLease time.Duration
	// EMFOutput receives the metrics as CloudWatch EMF lines after each
	// invocation (Config.EMF; see emf.go). Default os.Stdout.
	EMFOutput io.Writer
}

// Lambda runs one function under AWS Lambda: Invoke takes the raw event
// JSON and dispatches on its shape (API Gateway HTTP API v2, EventBridge
// scheduled event, S3 notification, or a CloudEvent). The function handles
// its event directly (no stream hop).
type Lambda struct {
	fn      *Function
	srv     *Server
	nc      *nats.Conn
	ownConn bool
	js      jetstream.JetStream
	dedup   *events.Deduper
	log     *slog.Logger
	m       *Metrics
	now     func() time.Time
	emf     *EMF
}

// ErrUnknownHandler reports a _HANDLER that names no function.
var ErrUnknownHandler = errors.New("unknown Lambda handler")

// NewLambda builds the function named by o.Handler. Functions that keep
// state in NATS refuse to start without NATS_URL; chatops starts without it.
func NewLambda(ctx context.Context, o LambdaOptions) (*Lambda, error) {
	if o.Config == nil {
		return nil, errors.New("host: LambdaOptions.Config is required")
	}
	if o.Registry == nil {
		o.Registry = DefaultRegistry
	}
	if o.Logger == nil {
		o.Logger = o.Config.NewLogger(os.Stderr)
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
	if o.Handler == "" {
		return nil, fmt.Errorf("%w: _HANDLER is empty (set the function's Handler to one of %v)", ErrUnknownHandler, o.Registry.Names())
	}
	if _, err := o.Registry.Lookup(o.Handler); err != nil {
		return nil, fmt.Errorf("%w %q: registered functions are %v", ErrUnknownHandler, o.Handler, o.Registry.Names())
	}
	l := &Lambda{log: o.Logger.With("function", o.Handler), m: o.Metrics, now: o.Now, nc: o.NATS}
	if l.nc == nil && o.Config.NATSURL != "" {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		nc, _, err := o.Config.Connect(cctx, "dlibot lambda "+o.Handler, o.Logger)
		cancel()
		if err != nil {
			return nil, err
		}
		l.nc, l.ownConn = nc, true
	}
	env := Env{Mode: ModeLambda, Config: o.Config, Logger: o.Logger, Metrics: o.Metrics}
	if l.nc != nil {
		js, err := jetstream.New(l.nc)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.js = js
		env.NATS, env.JS = l.nc, js
		env.Publish = func(ctx context.Context, subject string, e events.Event) error {
			_, err := events.Publish(ctx, js, subject, e)
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = events.EnsureStreams(sctx, js, events.StreamOptions{})
		cancel()
		if err != nil {
			l.Close()
			return nil, err
		}
	}
	var err error
	if env.DLI, err = newDLIClient(ctx, o.DLI, o.Metrics, o.Logger); err != nil {
		l.Close()
		return nil, err
	}
	env.Notifier = o.Notifier
	if env.Notifier == nil {
		if env.Notifier, err = newNotifier(o.Config, o.Console, o.Logger); err != nil {
			l.Close()
			return nil, err
		}
	}
	fns, err := o.Registry.Build(ctx, env, []string{o.Handler})
	if err != nil {
		l.Close()
		return nil, err
	}
	l.fn = fns[0]
	switch {
	case o.Config.IngestAuth == IngestAuthNone:
		l.log.Warn("DLIBOT_INGEST_AUTH=none: POST /events and the webhook routes accept unauthenticated requests; " +
			"only safe when something in front (an API Gateway authorizer) authenticates")
	case len(o.Config.IngestTokenList()) == 0 && l.takesIngest():
		l.log.Warn("DLIBOT_INGEST_TOKENS is unset: POST /events and the webhook routes answer 401 to every request " +
			"they cannot authenticate otherwise (set DLIBOT_INGEST_TOKENS; see docs/deploy.md)")
	}
	if l.js != nil && l.fn.Handler != nil {
		// Lambda retries and events delivered both ways (S3 and a webhook)
		// have one effect: the same dedup claims as the stream consumer.
		if o.DedupLease <= 0 {
			o.DedupLease = 5 * time.Minute
		}
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		l.dedup, err = events.NewDeduper(dctx, l.js, l.fn.Name, events.DedupOptions{Lease: o.DedupLease, Logger: o.Logger})
		cancel()
		if err != nil {
			l.Close()
			return nil, err
		}
	}
	l.srv, err = NewServer(ServerOptions{
		Logger: o.Logger, Metrics: o.Metrics, MaxBodyBytes: o.Config.HTTPMaxBodyBytes,
		Routes: l.fn.Routes, Owners: o.Registry.Owners(), SlackSecrets: o.Config.SlackSecrets(),
		Ready: func(ctx context.Context) error {
			if l.nc != nil && !l.nc.IsConnected() {
				return fmt.Errorf("NATS connection is %s", l.nc.Status())
			}
			return nil
		},
		Direct:       l.direct,
		Now:          o.Now,
		IngestTokens: o.Config.IngestTokenList(),
		IngestOpen:   o.Config.IngestAuth == IngestAuthNone,
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	l.emf = newLambdaEMF(o, l.fn.Name, l.log)
	return l, nil
}

// takesIngest reports whether the function is meant to receive events over
// HTTP: it consumes input events other than its own ticks (POST /events) or
// serves a webhook ingest route.
func (l *Lambda) takesIngest() bool {
	for _, s := range l.fn.Subjects {
		if s != events.TickSubject(l.fn.Name) {
			return true
		}
	}
	for _, r := range l.fn.Routes {
		if r.Ingest || IngestRoutes[r.Pattern()] {
			return true
		}
	}
	return false
}

// Function returns the function this Lambda runs.
func (l *Lambda) Function() *Function { return l.fn }

// Close closes the function and the NATS connection NewLambda opened.
func (l *Lambda) Close() {
	if l.fn != nil && l.fn.Close != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = l.fn.Close(ctx)
		cancel()
	}
	if l.ownConn && l.nc != nil {
		_ = l.nc.Drain()
	}
}

// ErrRetry is wrapped by the error Invoke returns for a Retry outcome, so
// Lambda (or the HTTP sender) retries.
var ErrRetry = errors.New("handler asked to retry")

// ErrUnrecognizedEvent reports an event shape Invoke does not know.
var ErrUnrecognizedEvent = errors.New("unrecognized Lambda event")

// Invoke implements lambda.Handler: it inspects the event JSON and
// dispatches it. An event it cannot read counts as
// dlibot_ingress_events_total{result="malformed"}; before it returns, the
// metrics' changes are written as EMF lines (Config.EMF).
func (l *Lambda) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	defer l.flushEMF()
	out, err := l.dispatch(ctx, payload)
	if errors.Is(err, ErrUnrecognizedEvent) || errors.Is(err, events.ErrMalformed) {
		l.m.Ingress.WithLabelValues("unknown", "malformed").Inc()
	}
	return out, err
}

// dispatch runs the event by its shape.
func (l *Lambda) dispatch(ctx context.Context, payload []byte) ([]byte, error) {
	var probe struct {
		RawPath        *string         `json:"rawPath"`
		RequestContext json.RawMessage `json:"requestContext"`
		Source         string          `json:"source"`
		DetailType     string          `json:"detail-type"`
		Records        []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
		SpecVersion string `json:"specversion"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %v", ErrUnrecognizedEvent, err)
	}
	switch {
	case probe.RawPath != nil && len(probe.RequestContext) > 0:
		var req awsevents.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, fmt.Errorf("%w: API Gateway v2 request: %v", ErrUnrecognizedEvent, err)
		}
		return json.Marshal(l.ServeAPIGateway(ctx, req))
	case probe.Source == "aws.events" && probe.DetailType == "Scheduled Event":
		var ev awsevents.EventBridgeEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("%w: EventBridge event: %v", ErrUnrecognizedEvent, err)
		}
		return nil, l.HandleSchedule(ctx, ev)
	case len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:s3":
		var ev awsevents.S3Event
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("%w: S3 notification: %v", ErrUnrecognizedEvent, err)
		}
		return nil, l.HandleS3(ctx, ev)
	case probe.SpecVersion != "":
		e, err := events.Decode(map[string][]string{"Content-Type": {events.ContentType}}, payload)
		if err != nil {
			return nil, err
		}
		subject, err := InputSubject(e)
		if err != nil {
			return nil, err
		}
		return nil, l.handle(ctx, subject, e)
	}
	return nil, fmt.Errorf("%w: want an API Gateway HTTP API v2 request, an EventBridge \"Scheduled Event\", an S3 notification or a CloudEvent", ErrUnrecognizedEvent)
}

// HandleSchedule turns an EventBridge scheduled event into the function's
// tick for the period it fired in and handles it.
func (l *Lambda) HandleSchedule(ctx context.Context, ev awsevents.EventBridgeEvent) error {
	at := ev.Time
	if at.IsZero() {
		at = l.now()
	}
	period := l.fn.Tick
	if period <= 0 {
		period = time.Minute
	}
	start := at.UTC().Truncate(period)
	id := events.TickID(l.fn.Name, start)
	e, err := events.NewEvent(id, events.SourceTick, events.TypeTick, events.Tick{Function: l.fn.Name, PeriodStart: start})
	if err != nil {
		return err
	}
	return l.handle(ctx, events.TickSubject(l.fn.Name), e)
}

// S3ObjectEvents converts an S3 notification to one object-created
// CloudEvent per record (URL-decoded keys; id "s3:<bucket>/<key>@<sequencer>"
// so a redelivered notification is deduplicated downstream).
func S3ObjectEvents(ev awsevents.S3Event) ([]events.Event, error) {
	var out []events.Event
	for i, r := range ev.Records {
		if r.EventSource != "aws:s3" {
			return nil, fmt.Errorf("%w: record %d: eventSource %q, want aws:s3", events.ErrMalformed, i, r.EventSource)
		}
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			continue
		}
		key := r.S3.Object.URLDecodedKey
		if key == "" {
			key = r.S3.Object.Key
		}
		version := r.S3.Object.VersionID
		if version == "null" {
			version = ""
		}
		o := events.ObjectCreated{
			Bucket: r.S3.Bucket.Name, Key: key, Size: r.S3.Object.Size,
			ETag: strings.Trim(r.S3.Object.ETag, `"`), VersionID: version,
			EventName: r.EventName, EventTime: r.EventTime.UTC(), Region: r.AWSRegion,
		}
		if err := o.Validate(); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		tag := r.S3.Object.Sequencer
		if tag == "" {
			tag = o.ETag
		}
		e, err := events.NewEvent("s3:"+o.Bucket+"/"+o.Key+"@"+tag, events.SourceObs+"/"+o.Bucket, events.TypeObjectCreated, o)
		if err != nil {
			return nil, err
		}
		if !o.EventTime.IsZero() {
			e.SetTime(o.EventTime)
		}
		out = append(out, e)
	}
	return out, nil
}

// HandleS3 hands every object-created record of an S3 notification to the
// function. A Retry on any record fails the invocation (Lambda retries the
// whole notification; the function deduplicates the records it already did).
func (l *Lambda) HandleS3(ctx context.Context, ev awsevents.S3Event) error {
	evs, err := S3ObjectEvents(ev)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range evs {
		var o events.ObjectCreated
		_ = json.Unmarshal(e.Data(), &o)
		if err := l.handle(ctx, events.ObsSubject(o.Bucket), e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// consumes reports whether the function's subjects match subject.
func (l *Lambda) consumes(subject string) bool {
	for _, f := range l.fn.AllSubjects() {
		if SubjectMatches(f, subject) {
			return true
		}
	}
	return false
}

// SubjectMatches reports whether a NATS subject filter (with * and >)
// matches subject.
func SubjectMatches(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, f := range ft {
		if f == ">" {
			return len(st) > i
		}
		if i >= len(st) || (f != "*" && f != st[i]) {
			return false
		}
	}
	return len(ft) == len(st)
}

// ErrNotConsumed reports an event for a subject the function does not
// consume.
var ErrNotConsumed = errors.New("event not consumed by this function")

// handle runs the handler on e and maps its Outcome: Ack → nil; Retry → an
// error wrapping ErrRetry; Drop → a DLQ copy when NATS is configured, else
// an error log with the reason; nil either way (retrying cannot help).
func (l *Lambda) handle(ctx context.Context, subject string, e events.Event) error {
	out, err := l.run(ctx, subject, e)
	if err != nil {
		return err
	}
	if out.Kind() == events.KindRetry {
		return fmt.Errorf("%w after %s (event %s)", ErrRetry, out.After(), e.ID())
	}
	return nil
}

func (l *Lambda) run(ctx context.Context, subject string, e events.Event) (events.Outcome, error) {
	if !l.consumes(subject) {
		return events.Outcome{}, fmt.Errorf("%w: %s runs %s, which consumes %v, not %s", ErrNotConsumed,
			"this Lambda", l.fn.Name, l.fn.AllSubjects(), subject)
	}
	if l.fn.Handler == nil {
		return events.Outcome{}, fmt.Errorf("%w: %s has no event handler", ErrNotConsumed, l.fn.Name)
	}
	log := l.log.With("ce_id", e.ID(), "ce_type", e.Type(), "ce_source", e.Source(), "subject", subject)
	l.m.Received(l.fn.Name, e.Type())
	ctx = events.WithDelivery(ctx, events.Delivery{Function: l.fn.Name, Subject: subject, Attempt: 1, MaxDeliver: 1, Published: e.Time()}, nil)
	start := time.Now()
	out, ran, panicked, err := l.call(ctx, e)
	took := time.Since(start)
	switch {
	case err != nil && !ran:
		l.m.Handled(l.fn.Name, e.Type(), events.ResultRetry, took)
		log.Error("dedup claims unavailable; failing the invocation so it is retried", "err", err)
		return events.Retry(0), nil
	case err != nil:
		log.Warn("handled, but the dedup claim was not completed (a retry may run it again)", "err", err)
	}
	switch {
	case !ran:
		res := events.ResultDuplicate
		if out.Kind() == events.KindRetry {
			res = events.ResultRetry
		}
		l.m.Handled(l.fn.Name, e.Type(), res, took)
		log.Info("event not handled again", "outcome", out.String())
		return out, nil
	case panicked != "":
		l.m.Handled(l.fn.Name, e.Type(), events.ResultPanic, took)
		log.Error("handler panicked; failing the invocation so it is retried", "panic", panicked)
		return events.Retry(0), nil
	case out.Kind() == events.KindAck:
		l.m.Handled(l.fn.Name, e.Type(), events.ResultAck, took)
		log.Info("event handled", "outcome", "ack", "took", took)
	case out.Kind() == events.KindRetry:
		l.m.Handled(l.fn.Name, e.Type(), events.ResultRetry, took)
		log.Warn("handler asked to retry; failing the invocation", "after", out.After())
	case out.Kind() == events.KindDrop:
		l.m.Handled(l.fn.Name, e.Type(), events.ResultDrop, took)
		l.drop(ctx, subject, e, out.Reason(), log)
	}
	return out, nil
}

// call runs the handler, through the dedup claims when NATS is configured.
// ran is false for a duplicate or an event claimed elsewhere (out says
// which) and when the claims are unavailable (err).
func (l *Lambda) call(ctx context.Context, e events.Event) (out events.Outcome, ran bool, panicked string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, ran, panicked, err = events.Outcome{}, true, fmt.Sprint(r), nil
		}
	}()
	if l.dedup == nil {
		return l.fn.Handler(ctx, e), true, "", nil
	}
	out, ran, err = l.dedup.Handle(ctx, e, l.fn.Handler)
	return out, ran, "", err
}

// drop copies e to dlibot.dlq.<function> when NATS is configured; else it
// logs the loss with the reason.
func (l *Lambda) drop(ctx context.Context, subject string, e events.Event, reason string, log *slog.Logger) {
	if l.js == nil {
		log.Error("event dropped (no NATS_URL, so no dead-letter copy)", "reason", reason)
		return
	}
	m, err := events.NewMsg(subject, e)
	if err == nil {
		dl := events.DeadLetter(l.fn.Name, subject, m.Header, m.Data, reason, 1, "", 0, l.now())
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = l.js.PublishMsg(pctx, dl)
		cancel()
	}
	if err != nil {
		log.Error("event dropped; dead-letter copy failed", "reason", reason, "err", err)
		return
	}
	l.m.DeadLettered(l.fn.Name, e.Type(), reason)
	log.Warn("event dropped to the dead-letter queue", "reason", reason, "dlq", events.DLQSubject(l.fn.Name))
}

// direct serves POST /events in Lambda: the function handles the event
// now. 200 on Ack; 503 + Retry-After semantics on Retry; 422 on Drop; 404
// for an event this function does not consume.
func (l *Lambda) direct(ctx context.Context, subject string, e events.Event) (int, any) {
	out, err := l.run(ctx, subject, e)
	if err != nil {
		return http.StatusNotFound, map[string]string{"error": err.Error(), "function": l.fn.Name}
	}
	switch out.Kind() {
	case events.KindRetry:
		return http.StatusServiceUnavailable, map[string]string{"outcome": "retry", "retry_after": out.After().String(), "id": e.ID()}
	case events.KindDrop:
		return http.StatusUnprocessableEntity, map[string]string{"outcome": "drop", "reason": out.Reason(), "id": e.ID()}
	}
	return http.StatusOK, map[string]string{"outcome": "ack", "id": e.ID(), "function": l.fn.Name}
}

// ServeAPIGateway serves an API Gateway HTTP API (payload 2.0) request
// through the same HTTP handler as the service. A base64 body is decoded
// before anything else (so Slack signatures are checked on the real bytes).
func (l *Lambda) ServeAPIGateway(ctx context.Context, ev awsevents.APIGatewayV2HTTPRequest) awsevents.APIGatewayV2HTTPResponse {
	req, err := APIGatewayRequest(ctx, ev)
	if err != nil {
		b, _ := json.Marshal(map[string]string{"error": err.Error()})
		return awsevents.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest,
			Headers: map[string]string{"Content-Type": "application/json"}, Body: string(b)}
	}
	rec := newRecorder()
	l.srv.ServeHTTP(rec, req)
	return rec.response()
}

// APIGatewayRequest converts an API Gateway HTTP API v2 request to an
// *http.Request (method, raw path and query, headers, cookies, source IP,
// decoded body). The API Gateway request id becomes X-Request-Id unless
// the client sent one.
func APIGatewayRequest(ctx context.Context, ev awsevents.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("body marked isBase64Encoded is not valid base64: %v", err)
		}
		body = b
	}
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		return nil, errors.New("API Gateway request without requestContext.http.method")
	}
	path := ev.RawPath
	if path == "" {
		path = "/"
	}
	target := path
	if ev.RawQueryString != "" {
		target += "?" + ev.RawQueryString
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		// The query may carry an ingest token: name the path only.
		return nil, fmt.Errorf("bad request line %s %q", method, redactQuery(target))
	}
	for k, v := range ev.Headers {
		req.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	req.Host = req.Header.Get("Host")
	if req.Host == "" {
		req.Host = ev.RequestContext.DomainName
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	req.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	req.RequestURI = target
	if req.Header.Get(HeaderRequestID) == "" && ev.RequestContext.RequestID != "" {
		req.Header.Set(HeaderRequestID, ev.RequestContext.RequestID)
	}
	return req, nil
}

// recorder is an http.ResponseWriter that builds an API Gateway response.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{h: http.Header{}} }

func (r *recorder) Header() http.Header { return r.h }

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) response() awsevents.APIGatewayV2HTTPResponse {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	resp := awsevents.APIGatewayV2HTTPResponse{StatusCode: r.status, Headers: map[string]string{}}
	for k, vs := range r.h {
		if http.CanonicalHeaderKey(k) == "Set-Cookie" {
			resp.Cookies = append(resp.Cookies, vs...)
			continue
		}
		resp.Headers[k] = strings.Join(vs, ",")
	}
	b := r.body.Bytes()
	if utf8.Valid(b) {
		resp.Body = string(b)
	} else {
		resp.Body = base64.StdEncoding.EncodeToString(b)
		resp.IsBase64Encoded = true
	}
	return resp
}
