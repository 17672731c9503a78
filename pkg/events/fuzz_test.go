package events

import (
	"errors"
	"strings"
	"testing"
)

// FuzzDecodeStructured: any body either decodes to a valid event that
// re-encodes and decodes to the same attributes, or fails with ErrMalformed;
// it never panics. Seeds: testdata/fuzz/FuzzDecodeStructured.
func FuzzDecodeStructured(f *testing.F) {
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"a":1}}`))
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"aGk="}`))
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"text/plain","data":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := Decode(map[string][]string{"Content-Type": {ContentType}}, body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		b, err := Marshal(e)
		if err != nil {
			t.Fatalf("decoded event does not re-encode: %v", err)
		}
		e2, err := Decode(nil, b)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v\n%s", err, b)
		}
		if e2.ID() != e.ID() || e2.Source() != e.Source() || e2.Type() != e.Type() {
			t.Fatalf("attributes changed in round trip")
		}
	})
}

// FuzzDecodeBinary: header values and body from the fuzzer in binary mode;
// never panics, errors wrap ErrMalformed, and a decoded event round-trips
// through BinaryHeaders. Seeds: testdata/fuzz/FuzzDecodeBinary.
func FuzzDecodeBinary(f *testing.F) {
	f.Add("1.0", "id-1", "/src", "dlibot.tick", "2026-11-26T10:00:00Z", "application/json", "ext", "v", []byte(`{"a":1}`))
	f.Add("1.0", "a%20b", "%2Fs", "t", "", "", "CORRELATIONID", "x%25", []byte{})
	f.Fuzz(func(t *testing.T, spec, id, source, typ, tm, ct, extName, extVal string, body []byte) {
		h := map[string][]string{"CE-SpecVersion": {spec}, "ce-ID": {id}, "Ce-Source": {source}, "ce-type": {typ}}
		if tm != "" {
			h["ce-time"] = []string{tm}
		}
		if ct != "" {
			h["content-type"] = []string{ct}
		}
		if extName != "" {
			h["ce-"+extName] = []string{extVal}
		}
		e, err := Decode(h, body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if strings.HasPrefix(strings.ToLower(e.DataContentType()), "application/cloudevents") {
			return // a structured content type was decoded as structured
		}
		e2, err := Decode(BinaryHeaders(e), e.Data())
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if e2.ID() != e.ID() || e2.Source() != e.Source() || e2.Type() != e.Type() || string(e2.Data()) != string(e.Data()) {
			t.Fatalf("round trip changed the event: %q/%q/%q vs %q/%q/%q", e.ID(), e.Source(), e.Type(), e2.ID(), e2.Source(), e2.Type())
		}
	})
}

// FuzzMetricSamples: DecodeMetricSamples never panics and returns only
// valid samples.
func FuzzMetricSamples(f *testing.F) {
	f.Add([]byte(`{"namespace":"SYS.DLI","metric_name":"queue_cu_num","dimensions":[{"name":"queue_name","value":"etl"}],"value":16,"timestamp":1764151200000}`))
	f.Add([]byte(`[{"metric_name":"m","dimensions":[{"name":"queue","value":"q"}],"value":1,"timestamp":"2026-11-26T10:00:00Z"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ss, err := DecodeMetricSamples(data)
		if err != nil {
			return
		}
		for _, s := range ss {
			if s.Validate() != nil {
				t.Fatal("invalid sample returned")
			}
		}
	})
}

// FuzzUnescapeToken: unescaping never panics, and whatever unescapes
// escapes back to the same token.
func FuzzUnescapeToken(f *testing.F) {
	f.Add("raw%2Edata")
	f.Add("%")
	f.Fuzz(func(t *testing.T, tok string) {
		s, err := UnescapeToken(tok)
		if err != nil {
			return
		}
		if EscapeToken(s) != tok {
			t.Fatalf("EscapeToken(UnescapeToken(%q)) = %q", tok, EscapeToken(s))
		}
	})
}
