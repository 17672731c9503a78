package jobwatch

import (
	"errors"
	"strings"
	"testing"

	"github.com/dlibot/dlibot/pkg/yamlfile"
)

// The YAML parser panics on this document; the loader must answer an error
// naming the file instead (regression: found by fuzzing a sibling loader).
func TestParseRulesYAMLMalformedIsAnError(t *testing.T) {
	_, err := ParseRulesYAML("routes.yaml", []byte("routes:\n  ! #0000000000000000"))
	if err == nil || !errors.Is(err, yamlfile.ErrMalformed) || !strings.Contains(err.Error(), "routes.yaml") {
		t.Fatalf("err = %v, want a malformed-YAML error naming routes.yaml", err)
	}
}
