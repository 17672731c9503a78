package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
)

// ContentType is the media type of a structured-mode CloudEvent in JSON.
const ContentType = "application/cloudevents+json"

// MaxEventSize is the largest encoded event the codec accepts (1 MiB, the
// default NATS max_payload).
const MaxEventSize = 1 << 20

// ErrMalformed reports input that is not a valid CloudEvent 1.0. Decode
// errors wrap it; the message says what is wrong.
var ErrMalformed = errors.New("events: malformed CloudEvent")

// Event is the CloudEvent type dlibot uses: the CloudEvents Go SDK's
// event.Event, so the SDK's HTTP client and receivers interoperate.
type Event = event.Event

// NewEvent returns a CloudEvent 1.0 with id, source and type set, the time
// set to now (UTC) and data encoded as JSON (datacontenttype
// application/json). data may be nil for an event without data.
func NewEvent(id, source, typ string, data any) (Event, error) {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(id)
	e.SetSource(source)
	e.SetType(typ)
	e.SetTime(time.Now().UTC())
	if data != nil {
		if err := e.SetData(event.ApplicationJSON, data); err != nil {
			return Event{}, fmt.Errorf("events: encode data of %s: %w", typ, err)
		}
	}
	if err := Validate(e); err != nil {
		return Event{}, err
	}
	return e, nil
}

// Validate checks e against CloudEvents 1.0: specversion "1.0" and non-empty
// id, source and type (plus the SDK's checks of the optional attributes).
func Validate(e Event) error {
	if e.Context == nil {
		return fmt.Errorf("%w: no attributes", ErrMalformed)
	}
	if e.SpecVersion() != event.CloudEventsVersionV1 {
		return fmt.Errorf("%w: specversion %q, want \"1.0\"", ErrMalformed, e.SpecVersion())
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// Marshal encodes e as a structured-mode JSON CloudEvent ([ContentType]).
func Marshal(e Event) ([]byte, error) {
	if err := Validate(e); err != nil {
		return nil, err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("events: encode event %s: %w", e.ID(), err)
	}
	return b, nil
}

// NewMsg builds the NATS message carrying e on subject: structured JSON with
// header Content-Type: application/cloudevents+json.
func NewMsg(subject string, e Event) (*nats.Msg, error) {
	b, err := Marshal(e)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(subject)
	m.Header.Set("Content-Type", ContentType)
	m.Data = b
	return m, nil
}

// DecodeMsg decodes a CloudEvent from a NATS message (structured or binary
// mode, see [Decode]).
func DecodeMsg(m *nats.Msg) (Event, error) { return Decode(m.Header, m.Data) }

// Decode decodes a CloudEvent from message headers and body. It serves NATS
// (nats.Header) and HTTP (http.Header) alike; header names are matched
// case-insensitively.
//
// The mode follows the CloudEvents NATS and HTTP bindings: a Content-Type
// of application/cloudevents+json (or application/cloudevents) means
// structured mode; otherwise a ce-specversion header means binary mode,
// where ce-* headers carry the attributes (values percent-decoded),
// datacontenttype comes from ce-datacontenttype or Content-Type and the
// body is the data. With neither, the body is tried as a structured event
// (what publishers without headers send). Batch mode is refused. The
// result is validated; every error wraps [ErrMalformed].
func Decode(header map[string][]string, body []byte) (Event, error) {
	if len(body) > MaxEventSize {
		return Event{}, fmt.Errorf("%w: %d bytes exceeds the %d byte limit", ErrMalformed, len(body), MaxEventSize)
	}
	ct := headerGet(header, "content-type")
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err == nil {
			switch {
			case mt == "application/cloudevents-batch+json":
				return Event{}, fmt.Errorf("%w: batch mode is not supported", ErrMalformed)
			case mt == ContentType || mt == "application/cloudevents":
				return decodeStructured(body)
			case strings.HasPrefix(mt, "application/cloudevents+"):
				return Event{}, fmt.Errorf("%w: unsupported event format %q (only JSON)", ErrMalformed, mt)
			}
		}
	}
	if headerGet(header, "ce-specversion") != "" {
		return decodeBinary(header, body)
	}
	if hasCEHeader(header) {
		return Event{}, fmt.Errorf("%w: ce-* headers without ce-specversion", ErrMalformed)
	}
	return decodeStructured(body)
}

func decodeStructured(body []byte) (Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return Event{}, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if body[0] != '{' {
		return Event{}, fmt.Errorf("%w: structured event is not a JSON object", ErrMalformed)
	}
	var e Event
	if err := e.UnmarshalJSON(body); err != nil {
		// Say what is wrong with the version when that is the problem.
		var probe struct {
			SpecVersion *string `json:"specversion"`
		}
		if json.Unmarshal(body, &probe) == nil {
			if probe.SpecVersion == nil {
				return Event{}, fmt.Errorf("%w: missing specversion", ErrMalformed)
			}
			if *probe.SpecVersion != event.CloudEventsVersionV1 {
				return Event{}, fmt.Errorf("%w: specversion %q, want \"1.0\"", ErrMalformed, *probe.SpecVersion)
			}
		}
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := Validate(e); err != nil { // also refuses 0.3, which the SDK reads
		return Event{}, err
	}
	return e, nil
}

func decodeBinary(header map[string][]string, body []byte) (Event, error) {
	e := event.New(event.CloudEventsVersionV1)
	var ctFromCE bool
	for k, vs := range header {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "ce-") || len(vs) == 0 {
			continue
		}
		name := lk[3:]
		v, err := url.PathUnescape(vs[0])
		if err != nil {
			return Event{}, fmt.Errorf("%w: header %s: bad percent-encoding", ErrMalformed, k)
		}
		switch name {
		case "specversion":
			if v != event.CloudEventsVersionV1 {
				return Event{}, fmt.Errorf("%w: specversion %q, want \"1.0\"", ErrMalformed, v)
			}
		case "id":
			e.SetID(v)
		case "source":
			e.SetSource(v)
		case "type":
			e.SetType(v)
		case "subject":
			e.SetSubject(v)
		case "dataschema":
			e.SetDataSchema(v)
		case "datacontenttype":
			e.SetDataContentType(v)
			ctFromCE = true
		case "time":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return Event{}, fmt.Errorf("%w: ce-time %q is not RFC 3339", ErrMalformed, v)
			}
			e.SetTime(t)
		default:
			if !event.IsExtensionNameValid(name) {
				return Event{}, fmt.Errorf("%w: header %s: bad extension name", ErrMalformed, k)
			}
			e.SetExtension(name, v)
		}
	}
	if !ctFromCE {
		if ct := headerGet(header, "content-type"); ct != "" {
			e.SetDataContentType(ct)
		}
	}
	if len(body) > 0 {
		e.DataEncoded = bytes.Clone(body)
	}
	if err := Validate(e); err != nil {
		return Event{}, err
	}
	return e, nil
}

// headerGet returns the first value of the header named name (lower case),
// matching names case-insensitively.
func headerGet(h map[string][]string, name string) string {
	if vs, ok := h[name]; ok && len(vs) > 0 {
		return vs[0]
	}
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return vs[0]
		}
	}
	return ""
}

func hasCEHeader(h map[string][]string) bool {
	for k := range h {
		if len(k) > 3 && strings.EqualFold(k[:3], "ce-") {
			return true
		}
	}
	return false
}

// BinaryHeaders returns the binary-mode headers of e (ce-* with
// percent-encoded values, and Content-Type from datacontenttype) for
// senders that want binary mode; the body is e.Data().
func BinaryHeaders(e Event) map[string][]string {
	h := map[string][]string{
		"ce-specversion": {e.SpecVersion()},
		"ce-id":          {ceEscape(e.ID())},
		"ce-source":      {ceEscape(e.Source())},
		"ce-type":        {ceEscape(e.Type())},
	}
	if s := e.Subject(); s != "" {
		h["ce-subject"] = []string{ceEscape(s)}
	}
	if s := e.DataSchema(); s != "" {
		h["ce-dataschema"] = []string{ceEscape(s)}
	}
	if t := e.Time(); !t.IsZero() {
		h["ce-time"] = []string{t.UTC().Format(time.RFC3339Nano)}
	}
	if ct := e.DataContentType(); ct != "" {
		h["Content-Type"] = []string{ct}
	}
	for k, v := range e.Extensions() {
		h["ce-"+k] = []string{ceEscape(fmt.Sprint(v))}
	}
	return h
}

// ceEscape percent-encodes space, '"', '%' and bytes outside printable
// ASCII, as the CloudEvents bindings require for header values.
func ceEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
