package policy

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary YAML to the policy loader: it must return a
// policy or an error wrapping ErrInvalid that names the file, never
// panic; a policy it accepts must answer every question without panicking,
// and deny by default a subject no grant names.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/policy.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"roles: {}",
		"roles:\n  a: {commands: [help]}\ngrants:\n  - {user: U1, role: a}\n",
		"roles:\n  a: {inherits: b, commands: [help]}\n  b: {inherits: a}\n",
		"roles:\n  a: {commands: [\"*\"], max_cu: -1}\n",
		"roles: [1, 2]\ngrants: {x: y}\n",
		"protected_queues: [PROD, prod, \"\"]\n",
		"roles:\n  a: &x {commands: *x}\n",
		"\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if p == nil {
			t.Fatal("nil policy without an error")
		}
		if r := p.Resolve(Subject{User: "U0NOBODY-FUZZ", Channel: "C0NOWHERE-FUZZ"}); r != nil && !strings.Contains(string(data), "-FUZZ") {
			t.Fatalf("a subject no grant names got role %v", r)
		}
		for _, name := range p.Roles() {
			r := p.Role(name)
			if r == nil {
				t.Fatalf("Roles lists %q but Role returns nil", name)
			}
			_ = r.Allows("help")
			_ = r.Allows("scale")
			_ = r.AllowsCU(64)
		}
		_ = p.Protected("prod")
		_ = p.HasGroupGrants()
	})
}
