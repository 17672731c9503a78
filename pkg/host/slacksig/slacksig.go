// Package slacksig signs and verifies Slack request signatures (the v0
// scheme): the X-Slack-Signature header is "v0=" + hex(HMAC-SHA256(secret,
// "v0:" + X-Slack-Request-Timestamp + ":" + body)).
package slacksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Header names Slack uses.
const (
	HeaderSignature = "X-Slack-Signature"
	HeaderTimestamp = "X-Slack-Request-Timestamp"
)

// MaxSkew is how far a request timestamp may be from now (Slack's advice:
// five minutes, against replays).
const MaxSkew = 5 * time.Minute

// Sentinel errors of Verify; none of them carries the secret or the body.
var (
	ErrNoSecret         = errors.New("slacksig: no signing secret configured")
	ErrMissingHeaders   = errors.New("slacksig: missing X-Slack-Signature or X-Slack-Request-Timestamp")
	ErrBadTimestamp     = errors.New("slacksig: X-Slack-Request-Timestamp is not a Unix time")
	ErrStaleTimestamp   = errors.New("slacksig: X-Slack-Request-Timestamp is more than 5 minutes from now")
	ErrSignatureInvalid = errors.New("slacksig: signature does not match")
)

// Sign returns the X-Slack-Signature value for body sent at ts.
func Sign(secret string, ts time.Time, body []byte) string {
	return SignTimestamp(secret, strconv.FormatInt(ts.Unix(), 10), body)
}

// SignTimestamp is Sign with the timestamp header value as sent.
func SignTimestamp(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%s:", ts)
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// SetHeaders signs body with secret at now and sets both headers on h.
func SetHeaders(h http.Header, secret string, now time.Time, body []byte) {
	ts := strconv.FormatInt(now.Unix(), 10)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, SignTimestamp(secret, ts, body))
}

// Verify checks the signature headers in h against body with any of
// secrets (current and previous, for rotation) at time now.
func Verify(h http.Header, body []byte, secrets []string, now time.Time) error {
	if len(secrets) == 0 {
		return ErrNoSecret
	}
	sig, ts := h.Get(HeaderSignature), h.Get(HeaderTimestamp)
	if sig == "" || ts == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return ErrStaleTimestamp
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if hmac.Equal([]byte(sig), []byte(SignTimestamp(s, ts, body))) {
			return nil
		}
	}
	return ErrSignatureInvalid
}
