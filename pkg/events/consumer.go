package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures a [Consumer]. Fields left zero get the defaults their
// doc comments name; [Config.Validate] reports what is wrong.
type Config struct {
	// Function is the consuming function's name ("autoscale", "jobwatch",
	// …): letters, digits, '-' and '_'. Required. It names the durable
	// consumer, the DLQ subject and the dedup bucket.
	Function string
	// Name tells apart several consumers of one function (one durable per
	// function and filter): the durable is "dlibot_<Function>" or, with a
	// Name, "dlibot_<Function>_<Name>". Same charset as Function.
	// Optional.
	Name string
	// Stream is the stream to consume. Default [StreamIn].
	Stream string
	// Subjects are the consumer's filter subjects, e.g.
	// [TickSubject]("jobwatch") or [SubjectsObs]. Required.
	Subjects []string
	// AckWait is how long JetStream waits for an ack (or an [InProgress])
	// before redelivering, and the lease of a dedup claim. Default 30s.
	AckWait time.Duration
	// MaxDeliver is how many times a message is handed to the handler
	// before it goes to the DLQ with reason "max deliveries exceeded".
	// Default 5. (The server-side MaxDeliver is one more, so that a
	// delivery whose handler hung or crashed is still dead-lettered.)
	MaxDeliver int
	// Concurrency is the number of handlers in flight at once in this
	// process. Default 4.
	Concurrency int
	// DedupTTL is how long a handled event's source+id is remembered; a
	// duplicate arriving later is handled again. Default 24h. Ignored with
	// DisableDedup.
	DedupTTL time.Duration
	// DisableDedup turns the KV claim off: every delivery reaches the
	// handler. For handlers that are idempotent on their own.
	DisableDedup bool
	// Backoff is the redelivery delay after a handler panic or an
	// infrastructure error (KV, DLQ store), given the delivery count.
	// Default: 1s doubling per attempt, at most 1m.
	Backoff func(attempt int) time.Duration
	// DrainTimeout bounds the wait for in-flight handlers when Run's context
	// is cancelled; then their contexts are cancelled too. Default 25s.
	DrainTimeout time.Duration
	// Convert, if set, turns a message that is not a CloudEvent into
	// events, e.g. obsimport converting a raw OBS/S3 notification published
	// on dlibot.in.obs.* (the contract allows those). The events are
	// validated and handled in turn, each behind its own dedup claim; the
	// first that does not succeed decides the message's fate (a retry then
	// skips the events already handled). A message neither decodable nor
	// convertible goes to the DLQ as malformed. Optional.
	Convert func(subject string, header nats.Header, body []byte) ([]Event, error)
	// Streams sizes the streams (and the dedup bucket's replicas and
	// storage) created at start.
	Streams StreamOptions
	// Logger receives the consumer's logs. Default slog.Default().
	Logger *slog.Logger
	// Observer receives metrics hooks. Default NopObserver.
	Observer Observer
}

// ErrInvalidConfig reports a bad [Config].
var ErrInvalidConfig = errors.New("events: invalid consumer config")

// Validate reports the first problem with c, naming the field.
func (c Config) Validate() error {
	if err := ValidName(c.Function); err != nil {
		return fmt.Errorf("%w: Function: %w", ErrInvalidConfig, err)
	}
	if c.Name != "" {
		if err := ValidName(c.Name); err != nil {
			return fmt.Errorf("%w: Name: %w", ErrInvalidConfig, err)
		}
	}
	if len(c.Subjects) == 0 {
		return fmt.Errorf("%w: Subjects: at least one filter subject is required", ErrInvalidConfig)
	}
	for _, s := range c.Subjects {
		if s == "" {
			return fmt.Errorf("%w: Subjects: empty filter subject", ErrInvalidConfig)
		}
	}
	switch {
	case c.AckWait < 0:
		return fmt.Errorf("%w: AckWait: negative", ErrInvalidConfig)
	case c.MaxDeliver < 0:
		return fmt.Errorf("%w: MaxDeliver: negative", ErrInvalidConfig)
	case c.Concurrency < 0:
		return fmt.Errorf("%w: Concurrency: negative", ErrInvalidConfig)
	case c.DedupTTL < 0:
		return fmt.Errorf("%w: DedupTTL: negative", ErrInvalidConfig)
	case c.DrainTimeout < 0:
		return fmt.Errorf("%w: DrainTimeout: negative", ErrInvalidConfig)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = StreamIn
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 5
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.DedupTTL == 0 {
		c.DedupTTL = 24 * time.Hour
	}
	if c.Backoff == nil {
		c.Backoff = DefaultBackoff
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 25 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Observer == nil {
		c.Observer = NopObserver{}
	}
	return c
}

// Durable returns the durable consumer name for c.
func (c Config) Durable() string {
	if c.Name == "" {
		return "dlibot_" + c.Function
	}
	return "dlibot_" + c.Function + "_" + c.Name
}

// DefaultBackoff is 1s doubling per attempt (attempt 1 → 1s), capped at 1m.
func DefaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 7 {
		return time.Minute
	}
	return min(time.Second<<(attempt-1), time.Minute)
}

// Consumer runs a [Handler] on a durable JetStream pull consumer. Replicas
// that create a Consumer with the same Function and Name share the durable,
// so each message is handled by one of them.
type Consumer struct {
	cfg     Config
	js      jetstream.JetStream
	cons    jetstream.Consumer
	handler Handler
	dedup   *Deduper
	log     *slog.Logger
	now     func() time.Time
}

// NewConsumer validates cfg, creates (or updates) the dlibot streams, the
// dedup bucket and the durable consumer, idempotently, and returns a
// Consumer ready to [Consumer.Run].
func NewConsumer(ctx context.Context, js jetstream.JetStream, cfg Config, h Handler) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	if err := EnsureStreams(ctx, js, cfg.Streams); err != nil {
		return nil, err
	}
	c := &Consumer{cfg: cfg, js: js, handler: h, now: time.Now,
		log: cfg.Logger.With("function", cfg.Function, "consumer", cfg.Durable())}
	if !cfg.DisableDedup {
		so := cfg.Streams.withDefaults()
		d, err := NewDeduper(ctx, js, cfg.Function, DedupOptions{
			TTL: cfg.DedupTTL, Lease: cfg.AckWait, Storage: so.Storage, Replicas: so.Replicas, Logger: c.log,
		})
		if err != nil {
			return nil, err
		}
		c.dedup = d
	}
	ccfg := jetstream.ConsumerConfig{
		Durable:     cfg.Durable(),
		Description: "dlibot " + cfg.Function,
		AckPolicy:   jetstream.AckExplicitPolicy,
		AckWait:     cfg.AckWait,
		MaxDeliver:  cfg.MaxDeliver + 1,
	}
	if len(cfg.Subjects) == 1 {
		ccfg.FilterSubject = cfg.Subjects[0]
	} else {
		ccfg.FilterSubjects = cfg.Subjects
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, ccfg)
	if err != nil {
		return nil, fmt.Errorf("events: create consumer %s on %s: %w", cfg.Durable(), cfg.Stream, err)
	}
	c.cons = cons
	return c, nil
}

// Config returns the consumer's configuration with defaults filled in.
func (c *Consumer) Config() Config { return c.cfg }

// pullHeartbeat is the idle heartbeat asked for on each fetch, so a fetch
// whose request went missing is noticed within two heartbeats.
const pullHeartbeat = time.Second

// Run fetches and handles messages, at most Config.Concurrency at a time,
// until ctx is cancelled; then it stops fetching, lets the handlers in
// flight finish — cancelling their contexts
// after Config.DrainTimeout (a handler that ignores its context still holds
// Run up) — flushes the acks and returns nil. It returns
// an error, after the same drain, if consuming cannot start or stops on its
// own (connection closed, durable deleted); the caller may restart it.
func (c *Consumer) Run(ctx context.Context) error {
	hctx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	sem := make(chan struct{}, c.cfg.Concurrency)
	var wg sync.WaitGroup
	var runErr error
	// A fetch loop: ask for as many messages as there are free handler
	// slots, dispatch each as it arrives, repeat. Nothing is fetched that
	// cannot be handled at once, and no nats.go callback ever blocks.
	// (Consume and Messages, which block the client's delivery path while
	// every handler is busy, showed rare stalls of two heartbeat periods —
	// 30 s with the defaults — in the benchmark.)
fetching:
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break fetching
		}
		free := 1
	more:
		for free < c.cfg.Concurrency {
			select {
			case sem <- struct{}{}:
				free++
			default:
				break more
			}
		}
		batch, err := c.cons.Fetch(free, jetstream.FetchContext(ctx), jetstream.FetchHeartbeat(pullHeartbeat))
		if err == nil {
			n := 0
			for msg := range batch.Messages() {
				n++
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					c.handle(hctx, msg)
				}()
			}
			err = batch.Error()
			free -= n
		}
		for range free {
			<-sem
		}
		switch {
		case err == nil, ctx.Err() != nil, errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, nats.ErrConnectionClosed):
			runErr = fmt.Errorf("events: consuming %s stopped: %w", c.cfg.Durable(), err)
			break fetching
		default:
			// Missed heartbeats, a reconnect in progress and the like.
			c.log.Warn("fetching messages", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	// Drain: nothing more is fetched; wait for the handlers in flight,
	// cancelling their contexts after DrainTimeout.
	deadline := time.AfterFunc(c.cfg.DrainTimeout, func() {
		c.log.Warn("handlers still running after the drain timeout; cancelling them", "drain_timeout", c.cfg.DrainTimeout)
		cancelHandlers()
	})
	defer deadline.Stop()
	wg.Wait()
	if nc := c.js.Conn(); nc != nil && !nc.IsClosed() {
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			c.log.Warn("flushing acks", "err", err)
		}
	}
	return runErr
}

// step is how handling one event ended.
type step struct {
	typ  string
	res  Result // ResultAck, ResultDuplicate, ResultRetry, ResultPanic or ResultDrop
	out  Outcome
	why  string // for retries: the cause
	took time.Duration
}

// handle settles one message.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		c.log.Error("message without JetStream metadata; terminating it", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	attempt := int(md.NumDelivered)
	d := Delivery{
		Function: c.cfg.Function, Subject: msg.Subject(), Stream: md.Stream,
		StreamSeq: md.Sequence.Stream, Attempt: attempt, MaxDeliver: c.cfg.MaxDeliver,
		Published: md.Timestamp,
	}
	var evs []Event
	e, err := Decode(msg.Headers(), msg.Data())
	switch {
	case err == nil:
		evs = []Event{e}
	case c.cfg.Convert != nil:
		var cerr error
		evs, cerr = c.cfg.Convert(msg.Subject(), msg.Headers(), msg.Data())
		if cerr == nil && len(evs) == 0 {
			cerr = errors.New("converted to no events")
		}
		for i := range evs {
			if cerr == nil {
				if verr := Validate(evs[i]); verr != nil {
					cerr = fmt.Errorf("converted event %d: %w", i, verr)
				}
			}
		}
		if cerr != nil {
			c.cfg.Observer.Received(c.cfg.Function, "")
			c.deadLetter(ctx, msg, d, "", ResultMalformed, "malformed: "+err.Error()+"; not convertible either: "+cerr.Error(), 0)
			return
		}
	default:
		c.cfg.Observer.Received(c.cfg.Function, "")
		c.deadLetter(ctx, msg, d, "", ResultMalformed, "malformed: "+err.Error(), 0)
		return
	}
	for _, e := range evs {
		c.cfg.Observer.Received(c.cfg.Function, e.Type())
	}
	if attempt > c.cfg.MaxDeliver {
		c.deadLetter(ctx, msg, d, evs[0].Type(), ResultExhausted, ReasonMaxDeliveries+" (the last delivery was not settled within AckWait)", 0)
		return
	}

	ctx = WithDelivery(ctx, d, func() error {
		if err := msg.InProgress(); err != nil {
			return fmt.Errorf("events: in progress: %w", err)
		}
		return nil
	})
	// Events converted from one message are handled in turn; the first that
	// does not succeed decides. Dedup makes the retry of a partly handled
	// message skip the events already done.
	var st step
	for i, e := range evs {
		st = c.step(ctx, d, e)
		if st.res != ResultAck && st.res != ResultDuplicate {
			break
		}
		if i < len(evs)-1 {
			c.cfg.Observer.Handled(c.cfg.Function, st.typ, st.res, st.took)
		}
	}
	switch st.res {
	case ResultAck, ResultDuplicate:
		if err := msg.Ack(); err != nil {
			c.log.Warn("ack failed", "subject", d.Subject, "err", err)
		}
		c.cfg.Observer.Handled(c.cfg.Function, st.typ, st.res, st.took)
	case ResultRetry, ResultPanic:
		c.retry(ctx, msg, d, st.typ, st.res, st.out.After(), st.why, st.took)
	default:
		c.deadLetter(ctx, msg, d, st.typ, ResultDrop, st.out.Reason(), st.took)
	}
}

// step runs the handler on one event behind the dedup claim.
func (c *Consumer) step(ctx context.Context, d Delivery, e Event) step {
	st := step{typ: e.Type()}
	log := c.log.With("ce_id", e.ID(), "ce_type", st.typ, "ce_source", e.Source(), "subject", d.Subject, "delivery", d.Attempt)
	var panicked string
	run := func(ctx context.Context, e Event) Outcome {
		start := c.now()
		defer func() { st.took = c.now().Sub(start) }()
		out, p := c.call(ctx, e, log)
		if p != "" {
			panicked = p
			return Retry(c.cfg.Backoff(d.Attempt))
		}
		return out
	}
	var out Outcome
	if c.dedup == nil {
		out = run(ctx, e)
	} else {
		var ran bool
		var err error
		out, ran, err = c.dedup.Handle(ctx, e, run)
		switch {
		case err != nil && !ran:
			log.Warn("dedup unavailable; retrying the message", "err", err)
			return step{typ: st.typ, res: ResultRetry, out: Retry(c.cfg.Backoff(d.Attempt)), why: "dedup unavailable: " + err.Error()}
		case err != nil:
			log.Warn("handled, but the dedup claim was not completed", "err", err)
		case !ran && out.Kind() == KindAck:
			log.Debug("duplicate event; acked without handling")
			return step{typ: st.typ, res: ResultDuplicate, out: out}
		case !ran:
			log.Debug("event claimed by another delivery; retrying after its lease", "wait", out.After())
			return step{typ: st.typ, res: ResultRetry, out: out, why: "claimed by another delivery"}
		}
	}
	st.out = out
	switch {
	case panicked != "":
		st.res, st.why = ResultPanic, panicked
	case out.Kind() == KindAck:
		st.res = ResultAck
	case out.Kind() == KindRetry:
		st.res, st.why = ResultRetry, "handler asked to retry"
	default:
		st.res = ResultDrop
	}
	return st
}

// call runs the handler, turning a panic into a description.
func (c *Consumer) call(ctx context.Context, e Event, log *slog.Logger) (out Outcome, panicked string) {
	defer func() {
		if r := recover(); r != nil {
			panicked = fmt.Sprintf("handler panicked: %v", r)
			log.Error("handler panicked; the message will be retried", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	return c.handler(ctx, e), ""
}

// retry redelivers the message after delay, or dead-letters it if this was
// the last allowed delivery.
func (c *Consumer) retry(ctx context.Context, msg jetstream.Msg, d Delivery, typ string, res Result, delay time.Duration, why string, took time.Duration) {
	if d.Attempt >= c.cfg.MaxDeliver {
		c.deadLetter(ctx, msg, d, typ, ResultExhausted, ReasonMaxDeliveries+" (last: "+why+")", took)
		return
	}
	if err := msg.NakWithDelay(delay); err != nil {
		c.log.Warn("nak failed; the message is redelivered after AckWait", "subject", d.Subject, "err", err)
	}
	c.cfg.Observer.Handled(c.cfg.Function, typ, res, took)
}

// deadLetter stores a copy on the DLQ subject, then terminates the message.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, d Delivery, typ string, res Result, reason string, took time.Duration) {
	dm := DeadLetter(c.cfg.Function, d.Subject, msg.Headers(), msg.Data(), reason, d.Attempt, d.Stream, d.StreamSeq, c.now())
	msgID := fmt.Sprintf("%s/%s/%d", c.cfg.Function, d.Stream, d.StreamSeq)
	if err := publishDeadLetter(ctx, c.js, dm, msgID); err != nil {
		c.log.Error("could not store the dead letter; the message will be redelivered", "subject", d.Subject, "reason", cleanReason(reason), "err", err)
		_ = msg.NakWithDelay(c.cfg.Backoff(d.Attempt))
		c.cfg.Observer.Handled(c.cfg.Function, typ, ResultRetry, took)
		return
	}
	c.log.Warn("message dead-lettered", "subject", d.Subject, "delivery", d.Attempt, "reason", cleanReason(reason), "dlq", dm.Subject)
	if err := msg.TermWithReason(cleanReason(reason)); err != nil {
		c.log.Warn("term failed", "subject", d.Subject, "err", err)
	}
	c.cfg.Observer.DeadLettered(c.cfg.Function, typ, reason)
	c.cfg.Observer.Handled(c.cfg.Function, typ, res, took)
}
