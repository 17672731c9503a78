package dlitest

import (
	"errors"
	"net/http"
)

// STUB: replaced by the SDK-HMAC-SHA256 verifier.

func (e *Emulator) verifyAuth(r *http.Request, body []byte) error {
	if r.Header.Get("Authorization") == "" {
		return errors.New("missing Authorization header")
	}
	return nil
}
