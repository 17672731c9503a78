package obsimport

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/dlibot/dlibot/functions/obsimport/obsevent"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/host"
)

// WebhookPath is the route that takes raw notifications.
const WebhookPath = "/webhooks/obs"

// Webhook serves POST /webhooks/obs: OBS native notifications (SMN-wrapped
// or not), FunctionGraph and S3 records, EventGrid and dlibot CloudEvents.
// Each object becomes a normalised object.created CloudEvent stored on
// dlibot.in.obs.<bucket>; the answer is 2xx only once every one is stored
// (202), 400 for a malformed body (with the reason), 403 for an SMN
// message whose signature does not verify, 413 over the size limit and
// 503 when the event store is unavailable (the sender retries). The host
// authenticates the request first (an ingest token, or VerifyIngest) and
// answers 401 without calling ServeHTTP when that fails.
type Webhook struct {
	// Store stores one event; required. In a service it publishes to
	// JetStream and waits for the ack; in Lambda it may handle the event
	// directly (an error then means retry).
	Store func(ctx context.Context, subject string, e events.Event) error
	// SMN verifies SMN signatures (when Verify is set) and confirms
	// subscriptions (when Confirm is set); nil ignores both.
	SMN *obsevent.SMNVerifier
	// Verify refuses SMN messages whose signature does not verify.
	Verify bool
	// Confirm answers subscription confirmations.
	Confirm bool
	// Counted counts ignored records by reason; optional.
	Counted func(result string)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// SchemeSMNSignature names the authentication of a request by its SMN
// signature (the via label of dlibot_ingress_auth_accepted_total).
const SchemeSMNSignature = "smn_signature"

var _ host.IngestVerifier = (*Webhook)(nil)

// VerifyIngest lets the host accept, without an ingest token, an SMN
// message whose signature verifies — only when Verify is on and SMN
// restricts the topics (OBSIMPORT_SMN_TOPICS): anyone can create an SMN
// topic of their own and subscribe this URL, so a valid signature alone
// proves nothing about the sender. Anything else returns host.ErrNotSigned
// (the token decides); a bad signature returns the verifier's error.
func (h *Webhook) VerifyIngest(ctx context.Context, header http.Header, body []byte) (string, error) {
	if !h.Verify || h.SMN == nil || len(h.SMN.TopicURNs) == 0 {
		return "", host.ErrNotSigned
	}
	res, err := obsevent.Decode(header, body)
	if err != nil || res.SMN == nil {
		return "", host.ErrNotSigned
	}
	if err := h.SMN.Verify(ctx, res.SMN); err != nil {
		return "", err
	}
	return SchemeSMNSignature, nil
}

// WebhookResult is the JSON answer of a handled notification.
type WebhookResult struct {
	// Format is the notification's shape.
	Format string `json:"format"`
	// Stored are the ids of the events stored.
	Stored []string `json:"stored"`
	// Ignored counts records ignored, by reason.
	Ignored map[string]int `json:"ignored,omitempty"`
	// Confirmed is set when an SMN subscription was confirmed.
	Confirmed bool `json:"confirmed,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP implements http.Handler.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body exceeds the size limit"})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "reading body: " + err.Error()})
		return
	}
	res, err := obsevent.Decode(r.Header, body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	out := WebhookResult{Format: string(res.Format), Stored: []string{}}
	if res.SMN != nil && h.SMN != nil && h.Verify {
		if err := h.SMN.Verify(r.Context(), res.SMN); err != nil {
			log.Warn("SMN message refused", "message_id", res.SMN.MessageID, "topic", res.SMN.TopicURN, "err", err)
			writeJSON(w, http.StatusForbidden, map[string]string{"error": err.Error()})
			return
		}
	}
	for _, ig := range res.Ignored {
		if out.Ignored == nil {
			out.Ignored = map[string]int{}
		}
		out.Ignored[ig.Reason]++
		if h.Counted != nil {
			h.Counted("ignored_" + ig.Reason)
		}
	}
	if res.SMN != nil && res.SMN.Type == obsevent.SMNSubscriptionConfirmation && h.SMN != nil && h.Confirm {
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		err := h.SMN.Confirm(ctx, res.SMN)
		cancel()
		if err != nil {
			log.Warn("SMN subscription not confirmed", "topic", res.SMN.TopicURN, "err", err)
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		log.Info("SMN subscription confirmed", "topic", res.SMN.TopicURN)
		out.Confirmed = true
	}
	for _, o := range res.Objects {
		e, err := o.Event()
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := h.Store(r.Context(), events.ObsSubject(o.Bucket), e); err != nil {
			log.Warn("object event not stored", "bucket", o.Bucket, "key", o.Key, "err", err)
			w.Header().Set("Retry-After", "5")
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error(), "stored": out.Stored})
			return
		}
		out.Stored = append(out.Stored, e.ID())
	}
	status := http.StatusAccepted
	if len(out.Stored) == 0 {
		status = http.StatusOK
	}
	writeJSON(w, status, out)
}
