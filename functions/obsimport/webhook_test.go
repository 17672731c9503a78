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

func TestWebhookSMN(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smn"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	var confirms atomic.Int32
	smn := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cert.pem" {
			_, _ = w.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
			return
		}
		confirms.Add(1)
	}))
	defer smn.Close()
	sign := func(m *obsevent.SMNMessage) []byte {
		m.SigningCertURL = smn.URL + "/cert.pem"
		h := sha256.Sum256([]byte(m.StringToSign()))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
		m.Signature = base64.StdEncoding.EncodeToString(sig)
		b, _ := json.Marshal(m)
		return b
	}
	v := &obsevent.SMNVerifier{CertHosts: []string{"127.0.0.1"}, Client: smn.Client()}
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
