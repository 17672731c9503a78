package obsimport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// directWriter writes KV values the way the KV client does — a JetStream
// publish to the key's subject, with Nats-Expected-Last-Subject-Sequence
// for create-only and revision-checked writes — but in one request on the
// connection and with the acknowledgement parsed by hand. On the intake
// path (two or more writes per object) the KV client's per-call work (a
// regular expression checking the key, publish options, a JSON decode of
// every acknowledgement) was a tenth of obsimport's CPU time.
//
// It is used only where the KV client itself would publish to
// "$KV.<bucket>.<key>": a JetStream handle with the default API prefix
// and no domain, and a bucket that is not a mirror. obsimport's keys are
// built from hex hashes ([FileKey], [TableKey]), always valid KV keys.
type directWriter struct {
	nc      *nats.Conn
	prefix  string        // "$KV.<bucket>."
	timeout time.Duration // when ctx has no deadline (the KV client's default)
}

// errNoStream: no stream answered the publish; nothing was stored.
var errNoStream = errors.New("obsimport: no stream answered")

// newDirectWriter returns a writer for kv, or nil when the KV client's
// own subject mapping must be used.
func newDirectWriter(ctx context.Context, m jetstream.KeyValueManager, kv jetstream.KeyValue) (*directWriter, error) {
	js, ok := m.(interface {
		Conn() *nats.Conn
		Options() jetstream.JetStreamOptions
	})
	if !ok {
		return nil, nil
	}
	o := js.Options()
	if (o.APIPrefix != "" && o.APIPrefix != jetstream.DefaultAPIPrefix) || o.Domain != "" || js.Conn() == nil {
		return nil, nil
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("obsimport: KV bucket %s status: %w", Bucket, err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return nil, nil
	}
	cfg := bs.StreamInfo().Config
	prefix := "$KV." + Bucket + "."
	if cfg.Mirror != nil || len(cfg.Subjects) != 1 || cfg.Subjects[0] != prefix+">" {
		return nil, nil
	}
	timeout := o.DefaultTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &directWriter{nc: js.Conn(), prefix: prefix, timeout: timeout}, nil
}

// write publishes b as key's new value, if expect only while key's
// revision is rev, and returns the new revision. A failed expectation is
// the stream's API error (wrong last sequence), as from the KV client.
func (w *directWriter) write(ctx context.Context, key string, b []byte, rev uint64, expect bool) (uint64, error) {
	if !validKey(key) {
		return 0, jetstream.ErrInvalidKey
	}
	m := &nats.Msg{Subject: w.prefix + key, Data: b}
	if expect {
		m.Header = nats.Header{}
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.timeout)
		defer cancel()
	}
	resp, err := w.nc.RequestMsgWithContext(ctx, m)
	if errors.Is(err, nats.ErrNoResponders) {
		return 0, errNoStream
	}
	if err != nil {
		return 0, err
	}
	return parsePubAck(resp.Data)
}

// validKey is the KV client's key rule (letters, digits, - / _ = .; no
// leading or trailing dot), without a regular expression.
func validKey(k string) bool {
	if k == "" || k[0] == '.' || k[len(k)-1] == '.' {
		return false
	}
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '/', c == '_', c == '=', c == '.':
		default:
			return false
		}
	}
	return true
}

var (
	ackStream = []byte(`{"stream":"`)
	ackSeq    = []byte(`,"seq":`)
	ackError  = []byte(`"error"`)
)

// parsePubAck returns the sequence of a JetStream publish acknowledgement
// ({"stream":"KV_…","seq":N[,…]}) or its API error. The common shape is
// read by hand; anything else goes through encoding/json.
func parsePubAck(b []byte) (uint64, error) {
	if bytes.HasPrefix(b, ackStream) && !bytes.Contains(b, ackError) {
		if i := bytes.Index(b, ackSeq); i > 0 {
			j := i + len(ackSeq)
			var n uint64
			k := j
			for k < len(b) && k-j < 19 && b[k] >= '0' && b[k] <= '9' {
				n = n*10 + uint64(b[k]-'0')
				k++
			}
			if k > j && k < len(b) && (b[k] == ',' || b[k] == '}') {
				return n, nil
			}
		}
	}
	var r struct {
		Error  *jetstream.APIError `json:"error"`
		Stream string              `json:"stream"`
		Seq    uint64              `json:"seq"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, jetstream.ErrInvalidJSAck
	}
	if r.Error != nil {
		return 0, fmt.Errorf("nats: %w", r.Error)
	}
	if strings.TrimSpace(r.Stream) == "" {
		return 0, jetstream.ErrInvalidJSAck
	}
	return r.Seq, nil
}
