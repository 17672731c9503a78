package events

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dlibot/dlibot/internal/golden"
)

func sampleEvent(t testing.TB) Event {
	t.Helper()
	e, err := NewEvent("obj-1", "/dlibot/obs/raw-data", TypeObjectCreated, ObjectCreated{
		Bucket: "raw-data", Key: "landing/events/dt=2026-11-26/a b.csv", Size: 1234, ETag: "5d41402abc4b2a76b9719d911017c592",
		EventName: "ObjectCreated:Put", EventTime: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.SetTime(time.Date(2026, 11, 26, 10, 0, 1, 500, time.UTC))
	e.SetSubject("landing/events/dt=2026-11-26/a b.csv")
	e.SetExtension("correlationid", "c-42")
	return e
}

func TestMarshalGolden(t *testing.T) {
	b, err := Marshal(sampleEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "object-created.structured.golden.json", b)
}

func TestNewMsgIsStructured(t *testing.T) {
	m, err := NewMsg(ObsSubject("raw-data"), sampleEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("Content-Type"); got != ContentType {
		t.Errorf("Content-Type = %q", got)
	}
	if m.Subject != "dlibot.in.obs.raw-data" {
		t.Errorf("subject = %q", m.Subject)
	}
}

func sameEvent(t *testing.T, got, want Event) {
	t.Helper()
	for _, c := range []struct{ name, g, w string }{
		{"id", got.ID(), want.ID()}, {"source", got.Source(), want.Source()}, {"type", got.Type(), want.Type()},
		{"subject", got.Subject(), want.Subject()}, {"datacontenttype", got.DataContentType(), want.DataContentType()},
		{"data", string(got.Data()), string(want.Data())},
	} {
		if c.g != c.w {
			t.Errorf("%s = %q, want %q", c.name, c.g, c.w)
		}
	}
	if !got.Time().Equal(want.Time()) {
		t.Errorf("time = %v, want %v", got.Time(), want.Time())
	}
	if g, w := got.Extensions()["correlationid"], want.Extensions()["correlationid"]; g != w {
		t.Errorf("extension = %v, want %v", g, w)
	}
}

func TestRoundTripStructured(t *testing.T) {
	want := sampleEvent(t)
	m, err := NewMsg("s", want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMsg(m)
	if err != nil {
		t.Fatal(err)
	}
	sameEvent(t, got, want)

	// Without any header (a publisher that sets none).
	got, err = Decode(nil, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	sameEvent(t, got, want)
}

// headerCase rewrites header names with f.
func headerCase(h map[string][]string, f func(string) string) map[string][]string {
	out := map[string][]string{}
	for k, v := range h {
		out[f(k)] = v
	}
	return out
}

func TestRoundTripBinary(t *testing.T) {
	want := sampleEvent(t)
	cases := map[string]func(string) string{
		"as written": func(s string) string { return s },
		"upper":      strings.ToUpper,
		"canonical":  http.CanonicalHeaderKey,
		"mixed":      func(s string) string { return strings.Replace(strings.ToUpper(s[:1])+s[1:], "e-", "E-", 1) },
	}
	for name, f := range cases {
		t.Run(name+"/nats", func(t *testing.T) {
			m := nats.NewMsg("s")
			m.Header = nats.Header(headerCase(BinaryHeaders(want), f))
			m.Data = want.Data()
			got, err := DecodeMsg(m)
			if err != nil {
				t.Fatal(err)
			}
			sameEvent(t, got, want)
		})
		t.Run(name+"/http", func(t *testing.T) {
			h := http.Header{}
			for k, vs := range headerCase(BinaryHeaders(want), f) {
				for _, v := range vs {
					h.Add(k, v) // canonicalises the name, as net/http does
				}
			}
			got, err := Decode(h, want.Data())
			if err != nil {
				t.Fatal(err)
			}
			sameEvent(t, got, want)
		})
	}
}

func TestBinaryPercentEncoding(t *testing.T) {
	h := map[string][]string{
		"ce-specversion": {"1.0"}, "ce-id": {"a%20b%22c%25"}, "ce-source": {"/x"}, "ce-type": {"t"},
		"Content-Type": {"text/plain"},
	}
	e, err := Decode(h, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if e.ID() != `a b"c%` {
		t.Errorf("id = %q", e.ID())
	}
	if e.DataContentType() != "text/plain" || string(e.Data()) != "hello" {
		t.Errorf("data %q of %q", e.Data(), e.DataContentType())
	}
	if got := BinaryHeaders(e)["ce-id"][0]; got != "a%20b%22c%25" {
		t.Errorf("encoded id = %q", got)
	}
}

func TestDecodeMalformed(t *testing.T) {
	ce := func(kv ...string) map[string][]string {
		h := map[string][]string{}
		for i := 0; i < len(kv); i += 2 {
			h[kv[i]] = []string{kv[i+1]}
		}
		return h
	}
	structured := ce("Content-Type", ContentType)
	tests := []struct {
		name   string
		header map[string][]string
		body   string
		want   string
	}{
		{"empty body", structured, "", "empty body"},
		{"not json", structured, "hello", "not a JSON object"},
		{"json array", nil, `[{"specversion":"1.0"}]`, "not a JSON object"},
		{"truncated", structured, `{"specversion":"1.0","id":`, "malformed"},
		{"no specversion", structured, `{"id":"1","source":"/s","type":"t"}`, "missing specversion"},
		{"specversion 0.3", structured, `{"specversion":"0.3","id":"1","source":"/s","type":"t"}`, `specversion "0.3"`},
		{"specversion number", structured, `{"specversion":1.0,"id":"1","source":"/s","type":"t"}`, "malformed"},
		{"no id", structured, `{"specversion":"1.0","source":"/s","type":"t"}`, "id"},
		{"no source", structured, `{"specversion":"1.0","id":"1","type":"t"}`, "source"},
		{"no type", structured, `{"specversion":"1.0","id":"1","source":"/s"}`, "type"},
		{"empty id", structured, `{"specversion":"1.0","id":"","source":"/s","type":"t"}`, "id"},
		{"bad time", structured, `{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"yesterday"}`, "malformed"},
		{"batch", ce("content-type", "application/cloudevents-batch+json"), `[]`, "batch mode"},
		{"xml format", ce("Content-Type", "application/cloudevents+xml"), `<x/>`, "only JSON"},
		{"binary no id", ce("ce-specversion", "1.0", "ce-source", "/s", "ce-type", "t"), "", "id"},
		{"binary 0.3", ce("ce-specversion", "0.3", "ce-id", "1", "ce-source", "/s", "ce-type", "t"), "", `specversion "0.3"`},
		{"binary bad escape", ce("ce-specversion", "1.0", "ce-id", "%zz", "ce-source", "/s", "ce-type", "t"), "", "percent-encoding"},
		{"binary bad time", ce("ce-specversion", "1.0", "ce-id", "1", "ce-source", "/s", "ce-type", "t", "ce-time", "noon"), "", "RFC 3339"},
		{"binary bad extension", ce("ce-specversion", "1.0", "ce-id", "1", "ce-source", "/s", "ce-type", "t", "ce-bad_name", "x"), "", "extension name"},
		{"ce headers without specversion", ce("ce-id", "1", "ce-source", "/s", "ce-type", "t"), "x", "without ce-specversion"},
		{"too large", nil, strings.Repeat(" ", MaxEventSize+1), "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.header, []byte(tt.body))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestDecodeTestdataSamples(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.golden.json")
	if len(files) == 0 {
		t.Fatal("no samples")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(nil, b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestMarshalRejectsInvalid(t *testing.T) {
	if _, err := Marshal(Event{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("zero event: %v", err)
	}
	if _, err := NewEvent("", "/s", "t", nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("no id: %v", err)
	}
}
