package rules

import (
	"strings"
	"testing"
)

// The YAML parser panics on this document; Parse must answer an error naming
// the file instead (regression: found by fuzzing a sibling loader).
func TestParseMalformedIsAnError(t *testing.T) {
	_, err := Parse("rules.yaml", []byte("rules:\n  ! #00000000000000000000000000000"))
	if err == nil || !strings.Contains(err.Error(), "rules.yaml") {
		t.Fatalf("err = %v, want an error naming rules.yaml", err)
	}
}
