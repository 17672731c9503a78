package chatops

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/host/slacksig"
)

// TestSlackVector checks the signature scheme against Slack's published
// example, recomputed here with crypto/hmac independently of slacksig,
// and verified through the service with a clock set to the vector's time.
func TestSlackVector(t *testing.T) {
	const (
		ts   = "1531420618"
		body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
		want = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	)
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write([]byte("v0:" + ts + ":" + body))
	if got := "v0=" + hex.EncodeToString(m.Sum(nil)); got != want {
		t.Fatalf("independent HMAC %s, want Slack's %s", got, want)
	}
	e := newEnv(t, envOpts{noNATS: true})
	sec, _ := strconv.ParseInt(ts, 10, 64)
	e.clock.t = time.Unix(sec, 0).Add(30 * time.Second)
	r := httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader(body))
	r.Header.Set(slacksig.HeaderTimestamp, ts)
	r.Header.Set(slacksig.HeaderSignature, want)
	rec := httptest.NewRecorder()
	e.svc.ServeCommand(rec, r)
	// U2CERLKJA has no role: the request is verified, then denied by policy
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if a := e.aud.last(t); a.User != "U2CERLKJA" || a.Decision != DecisionDenied {
		t.Errorf("audit %+v", a)
	}
}

// TestRefusedRequestsRunNothing: bad, missing, stale, future, replayed and
// oversized requests are answered 401 (413) and no DLI call is made.
func TestRefusedRequestsRunNothing(t *testing.T) {
	for _, nats := range []bool{true, false} {
		t.Run(map[bool]string{true: "kv", false: "memory"}[nats], func(t *testing.T) {
			e := newEnv(t, envOpts{noNATS: !nats})
			e.emu.ClearRequests()
			form := e.commandForm(uAdmin, "queues", "x").Encode()
			now := e.clock.Now()
			cases := []struct {
				name   string
				req    func() *http.Request
				status int
			}{
				{"bad signature", func() *http.Request { return signedReq("/slack/commands", form, "wrong-secret", now) }, 401},
				{"tampered body", func() *http.Request {
					r := signedReq("/slack/commands", form, testSecret, now)
					r.Body = httptestBody(strings.Replace(form, "queues", "queue+prod", 1))
					return r
				}, 401},
				{"missing signature", func() *http.Request {
					r := signedReq("/slack/commands", form, testSecret, now)
					r.Header.Del(slacksig.HeaderSignature)
					return r
				}, 401},
				{"missing timestamp", func() *http.Request {
					r := signedReq("/slack/commands", form, testSecret, now)
					r.Header.Del(slacksig.HeaderTimestamp)
					return r
				}, 401},
				{"stale", func() *http.Request { return signedReq("/slack/commands", form, testSecret, now.Add(-6*time.Minute)) }, 401},
				{"future", func() *http.Request { return signedReq("/slack/commands", form, testSecret, now.Add(6*time.Minute)) }, 401},
				{"too large", func() *http.Request {
					big := form + "&pad=" + strings.Repeat("a", int(e.cfg.MaxBodyBytes))
					return signedReq("/slack/commands", big, testSecret, now)
				}, 413},
			}
			for _, c := range cases {
				rec := httptest.NewRecorder()
				e.svc.ServeCommand(rec, c.req())
				if rec.Code != c.status {
					t.Errorf("%s: status %d, want %d (%s)", c.name, rec.Code, c.status, rec.Body)
				}
				rec = httptest.NewRecorder()
				e.svc.ServeInteraction(rec, c.req())
				if rec.Code != c.status {
					t.Errorf("%s (interaction): status %d, want %d", c.name, rec.Code, c.status)
				}
			}
			// replay: the first one runs, the same signed request again does not
			r1 := signedReq("/slack/commands", form, testSecret, now)
			r2 := signedReq("/slack/commands", form, testSecret, now)
			rec := httptest.NewRecorder()
			e.svc.ServeCommand(rec, r1)
			if rec.Code != 200 {
				t.Fatalf("first: %d %s", rec.Code, rec.Body)
			}
			e.settle()
			n := len(e.emu.Requests())
			if n == 0 {
				t.Fatal("the valid request made no DLI call")
			}
			rec = httptest.NewRecorder()
			e.svc.ServeCommand(rec, r2)
			if rec.Code != 401 || !strings.Contains(rec.Body.String(), "replay") {
				t.Errorf("replay: %d %s", rec.Code, rec.Body)
			}
			if got := len(e.emu.Requests()); got != n {
				t.Errorf("refused requests reached DLI: %d calls, want %d", got, n)
			}
			if got := len(e.aud.list()); got != 1 {
				t.Errorf("%d audit records, want 1 (refused requests run no command)", got)
			}
		})
	}
}

func httptestBody(s string) *readCloser { return &readCloser{strings.NewReader(s)} }

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// TestRotation: the previous secret still verifies; an unknown one does not.
func TestRotation(t *testing.T) {
	e := newEnv(t, envOpts{noNATS: true})
	for secret, want := range map[string]int{testSecret: 200, testSecretPrev: 200, "third": 401} {
		rec := httptest.NewRecorder()
		e.svc.ServeCommand(rec, signedReq("/slack/commands", e.commandForm(uViewer, "help", "r").Encode(), secret, e.clock.Now()))
		if rec.Code != want {
			t.Errorf("secret %.6s…: status %d, want %d", secret, rec.Code, want)
		}
	}
}

func TestNoSecretConfigured(t *testing.T) {
	e := newEnv(t, envOpts{noNATS: true})
	e.svc.secrets = nil
	rec := httptest.NewRecorder()
	e.svc.ServeCommand(rec, signedReq("/slack/commands", "text=help", testSecret, e.clock.Now()))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d", rec.Code)
	}
}

func TestSSLCheck(t *testing.T) {
	e := newEnv(t, envOpts{noNATS: true})
	rec := httptest.NewRecorder()
	e.svc.ServeCommand(rec, signedReq("/slack/commands", "ssl_check=1&token=x", testSecret, e.clock.Now()))
	if rec.Code != 200 || rec.Body.Len() != 0 || len(e.aud.list()) != 0 {
		t.Errorf("ssl_check: %d %q", rec.Code, rec.Body)
	}
}

func TestMemReplayBounded(t *testing.T) {
	g := newMemReplay(100)
	now := time.Now()
	for i := range 250 {
		if seen, _ := g.Seen(t.Context(), strconv.Itoa(i), now); seen {
			t.Fatalf("%d seen", i)
		}
	}
	if len(g.seen) > 100 || len(g.fifo) > 100 {
		t.Errorf("map grew to %d/%d", len(g.seen), len(g.fifo))
	}
	if seen, _ := g.Seen(t.Context(), "249", now); !seen {
		t.Error("recent key forgotten")
	}
	if seen, _ := g.Seen(t.Context(), "249", now.Add(replayTTL+time.Second)); seen {
		t.Error("expired key still seen")
	}
}

func TestReadBody(t *testing.T) {
	for _, c := range []struct {
		body   string
		length int64
		want   int // -1: error
	}{
		{"abcd", 4, 4}, {"abcd", -1, 4}, {"abcdef", 4, 5}, {"ab", 4, -1}, {strings.Repeat("x", 20), -1, 11},
	} {
		b, err := readBody(strings.NewReader(c.body), c.length, 10)
		if c.want < 0 {
			if err == nil {
				t.Errorf("%q/%d: no error", c.body, c.length)
			}
			continue
		}
		if err != nil || len(b) != c.want {
			t.Errorf("%q/%d: %d bytes, %v; want %d", c.body, c.length, len(b), err, c.want)
		}
	}
}

// failingReplay is a replay guard whose store is down.
type failingReplay struct{}

func (failingReplay) Seen(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("nats: timeout")
}

// TestReplayStoreDown: when the replay check cannot be made the request is
// refused (503) and nothing runs.
func TestReplayStoreDown(t *testing.T) {
	e := newEnv(t, envOpts{noNATS: true})
	e.svc.replay = failingReplay{}
	e.emu.ClearRequests()
	rec := httptest.NewRecorder()
	e.svc.ServeCommand(rec, signedReq("/slack/commands", e.commandForm(uAdmin, "queues", "x").Encode(), testSecret, e.clock.Now()))
	if rec.Code != http.StatusServiceUnavailable || len(e.emu.Requests()) != 0 {
		t.Errorf("status %d, %d DLI calls", rec.Code, len(e.emu.Requests()))
	}
}
