package yamlfile

import (
	"errors"
	"testing"

	"github.com/goccy/go-yaml"
)

func TestUnmarshalTurnsParserPanicIntoError(t *testing.T) {
	var v struct {
		Rules []struct{ Name string } `yaml:"rules"`
	}
	err := Unmarshal([]byte("rules:\n  ! #00000000000000000000000000000"), &v, yaml.DisallowUnknownField())
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
}

func TestUnmarshalKeepsPositionedErrors(t *testing.T) {
	var v struct {
		Rules []struct{ Name string } `yaml:"rules"`
	}
	err := Unmarshal([]byte("rules:\n  - name: a\n    bogus: 1\n"), &v, yaml.DisallowUnknownField())
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil || ye.GetToken().Position.Line != 3 {
		t.Fatalf("err = %v, want a yaml.Error at line 3", err)
	}
}

func TestUnmarshalDecodes(t *testing.T) {
	var v struct {
		Rules []struct{ Name string } `yaml:"rules"`
	}
	if err := Unmarshal([]byte("rules:\n  - name: a\n"), &v); err != nil || len(v.Rules) != 1 || v.Rules[0].Name != "a" {
		t.Fatalf("v = %+v, err = %v", v, err)
	}
}
