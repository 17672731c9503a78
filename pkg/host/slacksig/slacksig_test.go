package slacksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
const (
	docSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	docTS     = "1531420618"
	docBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	docSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestSignMatchesSlackExample(t *testing.T) {
	if got := SignTimestamp(docSecret, docTS, []byte(docBody)); got != docSig {
		t.Fatalf("got %s, want %s", got, docSig)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte("command=%2Fdli&text=queues")
	signed := func(secret string, at time.Time) http.Header {
		h := http.Header{}
		SetHeaders(h, secret, at, body)
		return h
	}
	// An independent HMAC to be sure SetHeaders is the v0 scheme.
	m := hmac.New(sha256.New, []byte("cur"))
	m.Write([]byte("v0:1700000000:" + string(body)))
	if want := "v0=" + hex.EncodeToString(m.Sum(nil)); signed("cur", now).Get(HeaderSignature) != want {
		t.Fatal("SetHeaders does not produce the v0 signature")
	}
	tests := []struct {
		name    string
		h       http.Header
		body    []byte
		secrets []string
		want    error
	}{
		{"current", signed("cur", now), body, []string{"cur", "old"}, nil},
		{"previous during rotation", signed("old", now), body, []string{"cur", "old"}, nil},
		{"wrong secret", signed("other", now), body, []string{"cur", "old"}, ErrSignatureInvalid},
		{"tampered body", signed("cur", now), []byte("command=%2Fdli&text=scale"), []string{"cur"}, ErrSignatureInvalid},
		{"stale", signed("cur", now.Add(-6*time.Minute)), body, []string{"cur"}, ErrStaleTimestamp},
		{"future", signed("cur", now.Add(6*time.Minute)), body, []string{"cur"}, ErrStaleTimestamp},
		{"no headers", http.Header{}, body, []string{"cur"}, ErrMissingHeaders},
		{"bad timestamp", http.Header{HeaderSignature: {"v0=00"}, HeaderTimestamp: {"yesterday"}}, body, []string{"cur"}, ErrBadTimestamp},
		{"no secret", signed("cur", now), body, nil, ErrNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.h, tt.body, tt.secrets, now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), "cur") || strings.Contains(err.Error(), "old")) {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}
