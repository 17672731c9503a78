package events

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestKVConflict(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"key exists", fmt.Errorf("create: %w", jetstream.ErrKeyExists), true},
		{"revision mismatch", jetstream.ErrKeyRevisionMismatch, true},
		{"wrong last sequence", &jetstream.APIError{ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence, Description: "wrong last sequence: 7"}, true},
		{"wrong last sequence (constant)", &jetstream.APIError{ErrorCode: jetstream.JSErrCodeStreamWrongLastSequenceConstant}, true},
		{"the text only", errors.New("nats: wrong last sequence: 3"), true},
		{"not found", jetstream.ErrKeyNotFound, false},
		{"other", errors.New("timeout"), false},
	} {
		if got := KVConflict(tc.err); got != tc.want {
			t.Errorf("%s: KVConflict = %v, want %v", tc.name, got, tc.want)
		}
	}
}
