// Package yamlfile decodes dlibot's YAML configuration files (obsimport
// rules, chatops policy, jobwatch routes, autoscale queues) with
// github.com/goccy/go-yaml, so that every loader gets the same protection
// from the parser's failure modes.
package yamlfile

import (
	"errors"
	"fmt"

	"github.com/goccy/go-yaml"
)

// ErrMalformed reports a document the YAML parser could not decode at all
// (it panicked); the error says so instead of crashing the process.
var ErrMalformed = errors.New("not valid YAML")

// Unmarshal decodes data into v like yaml.UnmarshalWithOptions. goccy/go-yaml
// v1.19.2 panics with a nil dereference on some malformed documents (for
// example a tag where a sequence is expected: "rules:\n  ! #0", found by
// fuzzing); Unmarshal turns that into an error wrapping ErrMalformed. Other
// errors are returned unchanged, so callers can still read positions from
// yaml.Error.
func Unmarshal(data []byte, v any, opts ...yaml.DecodeOption) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w (the parser failed on this document: %v)", ErrMalformed, r)
		}
	}()
	return yaml.UnmarshalWithOptions(data, v, opts...)
}
