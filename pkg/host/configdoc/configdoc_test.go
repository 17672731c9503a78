package configdoc

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// exampleConfig is a fixture with every shape the generator handles.
type exampleConfig struct {
	// Interval is the poll period. Default 30s.
	Interval time.Duration `env:"INTERVAL, default=30s"`
	// Hosts are the allowed hosts, comma-separated; <host> or `<host>`.
	Hosts []string `env:"HOSTS, default=a.example,b.example"`
	// Token authenticates | pipes are escaped.
	Token  string      `env:"API_TOKEN, required" secret:"true"`
	Count  int         `env:"COUNT"` // Count has a line comment.
	Inner  innerConfig `env:", prefix=INNER_"`
	hidden string
}

type innerConfig struct {
	// Enabled turns it on.
	Enabled bool `env:"ENABLED, default=true"`
}

func TestVariables(t *testing.T) {
	got, err := Variables("../../..", Section{Title: "x", Config: &exampleConfig{}, Prefix: "EX_", Names: []string{"EX_EXTRA", "EX_COUNT"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Variable{
		{Name: "EX_INTERVAL", Type: "duration", Default: "30s", Doc: "Interval is the poll period. Default 30s."},
		{Name: "EX_HOSTS", Type: "list of string", Default: "a.example,b.example", Doc: "Hosts are the allowed hosts, comma-separated; <host> or `<host>`."},
		{Name: "EX_API_TOKEN", Type: "string", Required: true, Secret: true, Doc: "Token authenticates | pipes are escaped."},
		{Name: "EX_COUNT", Type: "integer", Doc: "Count has a line comment."},
		{Name: "EX_INNER_ENABLED", Type: "bool", Default: "true", Doc: "Enabled turns it on."},
		{Name: "EX_EXTRA"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d variables, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("variable %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestWrite(t *testing.T) {
	var b bytes.Buffer
	err := Write(&b, "../../..", "Configuration", "Intro.", []Section{
		{Title: "Example", Intro: "Some vars.", Config: exampleConfig{}},
		{Title: "Empty"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range []string{
		"# Configuration\n\nIntro.\n\n## Example\n\nSome vars.\n\n| Variable | Type | Default | Description |",
		"| `INTERVAL` | duration | `30s` | Interval is the poll period. Default 30s. |",
		"| `API_TOKEN` | string | required | **Secret** (never logged). Token authenticates \\| pipes are escaped. |",
		"| `COUNT` | integer | — | Count has a line comment. |",
		"comma-separated; &lt;host&gt; or `<host>`. |",
		"## Empty\n\nNo variables.",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := Variables("../../..", Section{Title: "bad", Config: 3}); err == nil || !strings.Contains(err.Error(), `section "bad"`) {
		t.Errorf("non-struct Config: err = %v", err)
	}
	if _, err := Variables("/nonexistent", Section{Title: "x", Config: exampleConfig{}}); err == nil {
		t.Error("missing go.mod: no error")
	}
	anon := struct {
		A string `env:"A"`
	}{}
	if _, err := Variables("../../..", Section{Title: "x", Config: anon}); err == nil || !strings.Contains(err.Error(), "not a named type") {
		t.Errorf("anonymous struct: err = %v", err)
	}
}
