package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dlibot/dlibot/pkg/events"
)

// ErrUnavailable reports that an event could not be stored because NATS or
// JetStream is unavailable; HTTP answers 503 and the sender retries.
var ErrUnavailable = errors.New("host: event store unavailable")

// PublishTimeout bounds one JetStream publish of a received event.
const PublishTimeout = 5 * time.Second

// Ingester stores received CloudEvents on their dlibot.in.… subject in
// JetStream. It publishes with Nats-Msg-Id = source + " " + id so a sender
// retrying after a lost answer does not store the event twice (within the
// stream's duplicate window).
type Ingester struct {
	// JS publishes; required.
	JS events.Publisher
	// Conn, when set, is checked before publishing so a disconnected client
	// fails fast instead of buffering (nothing is acknowledged that is not
	// stored either way).
	Conn *nats.Conn
	// Metrics counts dlibot_ingress_events_total; optional.
	Metrics *Metrics
	// Logger logs failures; default slog.Default().
	Logger *slog.Logger
}

// Stored describes a stored event.
type Stored struct {
	// ID is the CloudEvent id.
	ID string `json:"id"`
	// Subject is the NATS subject the event was stored on.
	Subject string `json:"subject"`
	// Stream is the JetStream stream.
	Stream string `json:"stream"`
	// Seq is the stream sequence.
	Seq uint64 `json:"seq"`
	// Duplicate says JetStream had already stored this event (same
	// source and id within the duplicate window).
	Duplicate bool `json:"duplicate,omitempty"`
}

// Store publishes e on subject and waits for the JetStream ack. Errors wrap
// ErrUnavailable.
func (in *Ingester) Store(ctx context.Context, subject string, e events.Event) (Stored, error) {
	if in == nil || in.JS == nil {
		return Stored{}, fmt.Errorf("%w: NATS is not configured", ErrUnavailable)
	}
	if in.Conn != nil && !in.Conn.IsConnected() {
		in.count(e.Type(), "unavailable")
		return Stored{}, fmt.Errorf("%w: NATS connection is %s", ErrUnavailable, in.Conn.Status())
	}
	ctx, cancel := context.WithTimeout(ctx, PublishTimeout)
	defer cancel()
	ack, err := events.Publish(ctx, in.JS, subject, e, events.WithMsgID(e.Source()+" "+e.ID()))
	if err != nil {
		in.count(e.Type(), "unavailable")
		return Stored{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	in.count(e.Type(), "stored")
	return Stored{ID: e.ID(), Subject: subject, Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

func (in *Ingester) count(typ, result string) {
	if in != nil && in.Metrics != nil {
		in.Metrics.Ingress.WithLabelValues(ingressTypeLabel(typ), result).Inc()
	}
}

// InputSubject derives the dlibot.in.… subject of an input event from its
// type and its data or extensions:
//   - dlibot.obs.object.created → dlibot.in.obs.<bucket> (extension
//     "bucket", else data.bucket);
//   - dlibot.metrics.sample → dlibot.in.metrics.<queue> (extension "queue",
//     else the samples' queue; all samples must name the same queue);
//   - dlibot.tick → dlibot.in.tick.<function> (extension "function", else
//     data.function).
//
// Any other type, or missing/invalid data, is an error wrapping
// events.ErrMalformed.
func InputSubject(e events.Event) (string, error) {
	ext := func(name string) string {
		if v, ok := e.Extensions()[name]; ok {
			if s, ok := v.(string); ok {
				return s
			}
			return fmt.Sprint(v)
		}
		return ""
	}
	switch e.Type() {
	case events.TypeObjectCreated:
		b := ext("bucket")
		if b == "" {
			var o events.ObjectCreated
			if err := json.Unmarshal(e.Data(), &o); err != nil {
				return "", fmt.Errorf("%w: %s data: %v", events.ErrMalformed, e.Type(), err)
			}
			if err := o.Validate(); err != nil {
				return "", fmt.Errorf("%w: %v", events.ErrMalformed, err)
			}
			b = o.Bucket
		}
		return events.ObsSubject(b), nil
	case events.TypeMetricsSample:
		q := ext("queue")
		if q == "" {
			samples, err := events.DecodeMetricSamples(e.Data())
			if err != nil {
				return "", fmt.Errorf("%w: %v", events.ErrMalformed, err)
			}
			q = samples[0].Queue()
			for _, s := range samples[1:] {
				if s.Queue() != q {
					return "", fmt.Errorf("%w: metrics samples for queues %q and %q in one event; send one event per queue", events.ErrMalformed, q, s.Queue())
				}
			}
		}
		return events.MetricsSubject(q), nil
	case events.TypeTick:
		f := ext("function")
		if f == "" {
			var t events.Tick
			if err := json.Unmarshal(e.Data(), &t); err != nil {
				return "", fmt.Errorf("%w: %s data: %v", events.ErrMalformed, e.Type(), err)
			}
			f = t.Function
		}
		if err := events.ValidName(f); err != nil {
			return "", fmt.Errorf("%w: tick for function: %v", events.ErrMalformed, err)
		}
		return events.TickSubject(f), nil
	}
	return "", fmt.Errorf("%w: type %q is not an input event (want %s, %s or %s)", events.ErrMalformed,
		e.Type(), events.TypeObjectCreated, events.TypeMetricsSample, events.TypeTick)
}

// events serves POST /events: a CloudEvent in binary or structured mode →
// its input subject in JetStream. 202 once stored; 400 malformed; 413 over
// the body limit; 503 when NATS/JetStream is unavailable.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeBodyError(w, err)
		return
	}
	if len(body) > events.MaxEventSize {
		s.opts.Metrics.Ingress.WithLabelValues("unknown", "too_large").Inc()
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{
			"error": "CloudEvent larger than the event limit", "limit_bytes": events.MaxEventSize,
		})
		return
	}
	e, err := events.Decode(r.Header, body)
	if err != nil {
		s.opts.Metrics.Ingress.WithLabelValues("unknown", "malformed").Inc()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	SetEventID(r.Context(), e.ID())
	subject, err := InputSubject(e)
	if err != nil {
		s.opts.Metrics.Ingress.WithLabelValues(ingressTypeLabel(e.Type()), "malformed").Inc()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if s.opts.Direct != nil {
		status, resp := s.opts.Direct(r.Context(), subject, e)
		writeJSON(w, status, resp)
		return
	}
	if s.opts.Ingest == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "NATS is not configured in this process"})
		return
	}
	st, err := s.opts.Ingest.Store(r.Context(), subject, e)
	if err != nil {
		s.opts.Logger.Warn("event not stored", "request_id", RequestID(r.Context()), "ce_id", e.ID(), "subject", subject, "err", err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusAccepted, st)
}
