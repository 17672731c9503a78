package events

import (
	"errors"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// KVConflict reports whether err is a JetStream KV write refused because
// the key is not at the revision the write expected: a create of a key
// that exists, an update or delete against an older revision, or the
// stream's "wrong last sequence" answer to a publish with
// Nats-Expected-Last-Subject-Sequence (however it is wrapped). Every
// revision-checked write in dlibot treats this as "someone else wrote
// first": read again and decide.
func KVConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return true
	}
	return strings.Contains(err.Error(), "wrong last sequence")
}
