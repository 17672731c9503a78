package obsimport

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/functions/obsimport/obsevent"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/eventstest"
	"github.com/dlibot/dlibot/pkg/events/natstest"
	"github.com/dlibot/dlibot/pkg/host"
)

// webhookServer serves the webhook storing into an embedded JetStream, as
// a service does.
func webhookServer(t *testing.T, wh *Webhook) (*httptest.Server, jetstream.JetStream) {
	t.Helper()
	_, js := natstest.StartJS(t)
	ctx := context.Background()
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	in := &host.Ingester{JS: js}
	wh.Store = func(ctx context.Context, subject string, e events.Event) error {
		_, err := in.Store(ctx, subject, e)
		return err
	}
	wh.Logger = quietLogger()
	srv := httptest.NewServer(wh)
	t.Cleanup(srv.Close)
	return srv, js
}

func post(t *testing.T, url string, header map[string]string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(string(body)))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestWebhookStoresNormalisedEvents(t *testing.T) {
	srv, js := webhookServer(t, &Webhook{})
	ctx := context.Background()
	for _, f := range []string{"obs-native.json", "fg-s3.json", "aws-s3.json", "eventgrid.json", "dlibot.json", "smn-notification.json", "obs-mixed.json"} {
		b, err := os.ReadFile("testdata/events/" + f)
		if err != nil {
			t.Fatal(err)
		}
		status, out := post(t, srv.URL, nil, b)
		if status != http.StatusAccepted {
			t.Errorf("%s: %d %v", f, status, out)
		}
	}
	// Ignored shapes answer 200 without storing anything.
	for _, f := range []string{"s3-test.json", "obs-delete.json", "obs-folder.json"} {
		b, _ := os.ReadFile("testdata/events/" + f)
		if status, out := post(t, srv.URL, nil, b); status != http.StatusOK || len(out["stored"].([]any)) != 0 {
			t.Errorf("%s: %d %v", f, status, out)
		}
	}
	// Posting the same notification again stores nothing new (Nats-Msg-Id).
	b, _ := os.ReadFile("testdata/events/obs-native.json")
	post(t, srv.URL, nil, b)
	st, err := js.Stream(ctx, events.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	if info.State.Msgs != 8 { // 6 single-object notifications + 2 objects of obs-mixed
		t.Fatalf("%d messages stored, want 8", info.State.Msgs)
	}
	m, err := st.GetLastMsgForSubject(ctx, events.ObsSubject("raw-data"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := events.Decode(m.Header, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	res, err := obsevent.FromCloudEvent(e)
	if err != nil || len(res.Objects) != 1 || res.Objects[0].Key != "landing/events/dt=2026-11-26/c.csv" {
		t.Errorf("stored event %+v %v", res, err)
	}
}

func TestWebhookMalformed(t *testing.T) {
	srv, _ := webhookServer(t, &Webhook{})
	for name, body := range map[string]string{
		"not json":   "hello",
		"bad escape": `{"Records":[{"eventName":"ObjectCreated:Put","obs":{"bucket":{"name":"b"},"object":{"key":"%zz","size":1}}}]}`,
		"other ce":   `{"specversion":"1.0","id":"1","source":"/x","type":"com.example"}`,
	} {
		status, out := post(t, srv.URL, nil, []byte(body))
		if status != http.StatusBadRequest || !strings.Contains(out["error"].(string), "malformed") {
			t.Errorf("%s: %d %v", name, status, out)
		}
	}
}

func TestWebhookUnavailable(t *testing.T) {
	wh := &Webhook{Store: func(context.Context, string, events.Event) error { return host.ErrUnavailable }, Logger: quietLogger()}
	srv := httptest.NewServer(wh)
	defer srv.Close()
	b, _ := os.ReadFile("testdata/events/obs-native.json")
	if status, _ := post(t, srv.URL, nil, b); status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", status)
	}
}

// smnSigner is a fake SMN: it serves a signing certificate (and counts
// subscription confirmations) over TLS; sign signs a message with it.
type smnSigner struct {
	srv      *httptest.Server
	key      *rsa.PrivateKey
	confirms atomic.Int32
}

func newSMNSigner(t *testing.T) *smnSigner {
	t.Helper()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smn"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	s := &smnSigner{key: key}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cert.pem" {
			_, _ = w.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
			return
		}
		s.confirms.Add(1)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *smnSigner) sign(m *obsevent.SMNMessage) []byte {
	m.SigningCertURL = s.srv.URL + "/cert.pem"
	h := sha256.Sum256([]byte(m.StringToSign()))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, h[:])
	m.Signature = base64.StdEncoding.EncodeToString(sig)
	b, _ := json.Marshal(m)
	return b
}

func (s *smnSigner) verifier(topics ...string) *obsevent.SMNVerifier {
	return &obsevent.SMNVerifier{CertHosts: []string{"127.0.0.1"}, Client: s.srv.Client(), TopicURNs: topics}
}

func TestWebhookSMN(t *testing.T) {
	signer := newSMNSigner(t)
	smn, sign, confirms := signer.srv, signer.sign, &signer.confirms
	v := signer.verifier()
	srv, _ := webhookServer(t, &Webhook{SMN: v, Verify: true, Confirm: true})

	sub := &obsevent.SMNMessage{Type: obsevent.SMNSubscriptionConfirmation, TopicURN: "urn:smn:x:p:obs", MessageID: "m1",
		Message: "confirm", SubscribeURL: smn.URL + "/confirm?token=t", Timestamp: "2026-11-26T08:00:00Z"}
	status, out := post(t, srv.URL, map[string]string{"X-SMN-MESSAGE-TYPE": "SubscriptionConfirmation"}, sign(sub))
	if status != http.StatusOK || out["confirmed"] != true || confirms.Load() != 1 {
		t.Fatalf("confirmation: %d %v (%d GETs)", status, out, confirms.Load())
	}
	b, _ := os.ReadFile("testdata/events/smn-notification.json")
	var n obsevent.SMNMessage
	_ = json.Unmarshal(b, &n)
	signed := sign(&n)
	if status, out := post(t, srv.URL, nil, signed); status != http.StatusAccepted {
		t.Fatalf("signed notification: %d %v", status, out)
	}
	n.Message = strings.Replace(n.Message, "smn+file", "evil", 1) // tampered after signing
	tampered, _ := json.Marshal(n)
	if status, _ := post(t, srv.URL, nil, tampered); status != http.StatusForbidden {
		t.Errorf("tampered notification: %d, want 403", status)
	}
}

// TestConformance runs the event-handling checks every dlibot handler must
// pass.
func TestConformance(t *testing.T) {
	eventstest.Conformance(t, func(t *testing.T) eventstest.Setup {
		h := newHarness(t, nil)
		var fail atomic.Pointer[error]
		h.im.faultHook = func() error {
			if p := fail.Load(); p != nil {
				return *p
			}
			return nil
		}
		set := func(err error) func() {
			fail.Store(&err)
			return func() { fail.Store(nil) }
		}
		return eventstest.Setup{
			Handler: h.im.Handle,
			Event: func(i int) (string, events.Event) {
				return events.ObsSubject("raw-data"), objectEvent(t, keyName(1000+i), "c")
			},
			Effects:        func() int { return len(h.importRequests()) },
			FailRetryable:  func() func() { return set(errors.New("ledger unavailable")) },
			FailPermanent:  func() func() { return set(errDropped) },
			WantDropReason: "dropped",
			BadEvent: func(i int) (string, events.Event) {
				e, _ := events.NewEvent("bad-"+string(rune('a'+i)), "/x", events.TypeObjectCreated, map[string]any{"key": "no bucket"})
				return events.ObsSubject("raw-data"), e
			},
			RetryDelayCap: 200 * time.Millisecond,
			Logger:        quietLogger(),
		}
	})
}

// TestWebhookVerifyIngest: the webhook vouches for a token-less request
// only when it is an SMN message whose signature verifies, with
// verification on and the topics restricted.
func TestWebhookVerifyIngest(t *testing.T) {
	signer := newSMNSigner(t)
	const topic = "urn:smn:eu-de:0123456789abcdef:obs-events"
	b, _ := os.ReadFile("testdata/events/smn-notification.json")
	var n obsevent.SMNMessage
	_ = json.Unmarshal(b, &n)
	signed := signer.sign(&n)
	other := n
	other.TopicURN = "urn:smn:eu-de:attacker:their-topic"
	otherSigned := signer.sign(&other)
	tampered := n
	tampered.Message = strings.Replace(n.Message, "smn+file", "evil", 1)
	tamperedBody, _ := json.Marshal(tampered)
	native, _ := os.ReadFile("testdata/events/obs-native.json")
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		wh     *Webhook
		body   []byte
		scheme string
		err    error // nil: no error; host.ErrNotSigned; errSig: a signature error
	}{
		{"verify off", &Webhook{SMN: signer.verifier(topic)}, signed, "", host.ErrNotSigned},
		{"no topics: a signature alone proves nothing", &Webhook{SMN: signer.verifier(), Verify: true}, signed, "", host.ErrNotSigned},
		{"signed, allowed topic", &Webhook{SMN: signer.verifier(topic), Verify: true}, signed, SchemeSMNSignature, nil},
		{"signed, other topic", &Webhook{SMN: signer.verifier(topic), Verify: true}, otherSigned, "", obsevent.ErrSignature},
		{"tampered", &Webhook{SMN: signer.verifier(topic), Verify: true}, tamperedBody, "", obsevent.ErrSignature},
		{"not SMN", &Webhook{SMN: signer.verifier(topic), Verify: true}, native, "", host.ErrNotSigned},
		{"not JSON", &Webhook{SMN: signer.verifier(topic), Verify: true}, []byte("nope"), "", host.ErrNotSigned},
	} {
		t.Run(tt.name, func(t *testing.T) {
			scheme, err := tt.wh.VerifyIngest(ctx, http.Header{}, tt.body)
			if scheme != tt.scheme || (tt.err == nil) != (err == nil) || (tt.err != nil && !errors.Is(err, tt.err)) {
				t.Fatalf("VerifyIngest = %q, %v; want %q, %v", scheme, err, tt.scheme, tt.err)
			}
		})
	}
}

// TestWebhookBehindIngestAuth serves the webhook through the host, as
// `dlibot serve` does, with an ingest token configured: a token (header or
// ?access_token=) or a verified SMN signature from an allowed topic stores;
// anything else is 401 and stores nothing.
func TestWebhookBehindIngestAuth(t *testing.T) {
	const token = "webhook-test-ingest-token-0123"
	const topic = "urn:smn:eu-de:0123456789abcdef:obs-events"
	signer := newSMNSigner(t)
	_, js := natstest.StartJS(t)
	ctx := context.Background()
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	in := &host.Ingester{JS: js}
	wh := &Webhook{SMN: signer.verifier(topic), Verify: true, Confirm: true, Logger: quietLogger(),
		Store: func(ctx context.Context, subject string, e events.Event) error {
			_, err := in.Store(ctx, subject, e)
			return err
		}}
	hs, err := host.NewServer(host.ServerOptions{Metrics: host.NewMetrics(), Logger: quietLogger(), IngestTokens: []string{token},
		Routes: []host.Route{{Method: "POST", Path: WebhookPath, Handler: wh}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hs)
	defer srv.Close()
	stored := func() uint64 {
		st, err := js.Stream(ctx, events.StreamIn)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := st.Info(ctx)
		return info.State.Msgs
	}
	native, _ := os.ReadFile("testdata/events/obs-native.json")
	fg, _ := os.ReadFile("testdata/events/fg-s3.json")
	eg, _ := os.ReadFile("testdata/events/eventgrid.json")
	b, _ := os.ReadFile("testdata/events/smn-notification.json")
	var n obsevent.SMNMessage
	_ = json.Unmarshal(b, &n)
	signed := signer.sign(&n)
	unsignedSMN := b
	for _, tt := range []struct {
		name   string
		query  string
		header map[string]string
		body   []byte
		status int
	}{
		{"OBS native, no token", "", nil, native, 401},
		{"OBS native, wrong token", "?access_token=webhook-test-wrong-token-00", nil, native, 401},
		{"OBS native, query token", "?access_token=" + token, nil, native, 202},
		{"FunctionGraph S3, bearer", "", map[string]string{"Authorization": "Bearer " + token}, fg, 202},
		{"EventGrid, query token", "?access_token=" + token, nil, eg, 202},
		{"SMN unsigned, no token", "", nil, unsignedSMN, 401},
		{"SMN signed, allowed topic, no token", "", nil, signed, 202},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := stored()
			status, out := post(t, srv.URL+WebhookPath+tt.query, tt.header, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, out)
			}
			if got := stored() - before; (status == 202) != (got > 0) {
				t.Fatalf("status %d but %d events stored", status, got)
			}
		})
	}
}
