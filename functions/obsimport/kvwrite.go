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
// own subject mapping must be used (or the bucket's configuration cannot
// be read to tell).
func newDirectWriter(ctx context.Context, m jetstream.KeyValueManager, kv jetstream.KeyValue) *directWriter {
	js, ok := m.(interface {
		Conn() *nats.Conn
		Options() jetstream.JetStreamOptions
	})
	if !ok {
		return nil
	}
	o := js.Options()
	if (o.APIPrefix != "" && o.APIPrefix != jetstream.DefaultAPIPrefix) || o.Domain != "" || js.Conn() == nil {
		return nil
	}
	st, err := kv.Status(ctx)
	if err != nil {
		// Not worth failing the start for: the KV client writes instead.
		return nil
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return nil
	}
	cfg := bs.StreamInfo().Config
	prefix := "$KV." + Bucket + "."
	if cfg.Mirror != nil || len(cfg.Subjects) != 1 || cfg.Subjects[0] != prefix+">" {
		return nil
	}
	timeout := o.DefaultTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &directWriter{nc: js.Conn(), prefix: prefix, timeout: timeout}
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
	ackStream  = []byte(`{"stream":"`)
	ackSeq     = []byte(`,"seq":`)
	ackError   = []byte(`"error"`)
	errCode    = []byte(`{"error":{"code":`)
	errErrCode = []byte(`,"err_code":`)
	errDesc    = []byte(`,"description":"`)
	errEnd     = []byte(`"}}`)
	errAck     = []byte(`"},"stream":"`)
)

// plainErrorTail says t, what follows an error's description from its
// closing quote, ends the response: `"}}`, or `"},"stream":"…","seq":N}`
// as nats-server appends to a refused publish.
func plainErrorTail(t []byte) bool {
	if bytes.Equal(t, errEnd) {
		return true
	}
	rest, ok := bytes.CutPrefix(t, errAck)
	if !ok {
		return false
	}
	q := bytes.IndexByte(rest, '"')
	if q < 0 {
		return false
	}
	rest, ok = bytes.CutPrefix(rest[q:], []byte(`",`+`"seq":`))
	if !ok {
		return false
	}
	_, k, ok := readUint(rest, 0)
	return ok && k == len(rest)-1 && rest[k] == '}'
}

// parsePubAck returns the sequence of a JetStream publish acknowledgement
// ({"stream":"KV_…","seq":N[,…]}) or its API error
// ({"error":{"code":…,"err_code":…,"description":"…"}}, e.g. a failed
// revision expectation). These two shapes, as nats-server writes them, are
// read by hand; anything else goes through encoding/json.
func parsePubAck(b []byte) (uint64, error) {
	if bytes.HasPrefix(b, ackStream) && !bytes.Contains(b, ackError) {
		if i := bytes.Index(b, ackSeq); i > 0 {
			if n, k, ok := readUint(b, i+len(ackSeq)); ok && k < len(b) && (b[k] == ',' || b[k] == '}') {
				return n, nil
			}
		}
	}
	if rest, ok := bytes.CutPrefix(b, errCode); ok {
		if code, k, ok := readUint(rest, 0); ok && code < 1000 {
			if rest, ok := bytes.CutPrefix(rest[k:], errErrCode); ok {
				if ec, k, ok := readUint(rest, 0); ok && ec <= 0xffff {
					if rest, ok := bytes.CutPrefix(rest[k:], errDesc); ok {
						if q := bytes.IndexByte(rest, '"'); q >= 0 && bytes.IndexByte(rest, '\\') < 0 && plainErrorTail(rest[q:]) {
							return 0, fmt.Errorf("nats: %w", &jetstream.APIError{Code: int(code),
								ErrorCode: jetstream.ErrorCode(ec), Description: string(rest[:q])})
						}
					}
				}
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

// readUint reads the decimal digits at b[i:] (at most 19, so no overflow)
// and returns the value and the index after them; ok is false without a
// digit.
func readUint(b []byte, i int) (n uint64, end int, ok bool) {
	k := i
	for k < len(b) && k-i < 19 && b[k] >= '0' && b[k] <= '9' {
		n = n*10 + uint64(b[k]-'0')
		k++
	}
	return n, k, k > i
}
