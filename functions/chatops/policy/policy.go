// Package policy is chatops' access policy: roles with command allow-lists
// (inheriting from each other), per-role CU ceilings, grants of roles to
// Slack users, user groups and channels, and protected queues whose changes
// need a second person's approval. Anything not granted is denied.
//
// The policy is a YAML file (CHATOPS_POLICY), validated when it is loaded:
// every error names the file, the line and the field.
package policy

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/dlibot/dlibot/pkg/yamlfile"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/dlibot/dlibot/functions/chatops/command"
)

// MaxFileBytes is the largest policy file accepted (1 MiB).
const MaxFileBytes = 1 << 20

// Wildcard in a command list allows every command, SQLWrite included.
const Wildcard = "*"

// file is the YAML document.
type file struct {
	Roles           map[string]roleDef `yaml:"roles"`
	Grants          []grantDef         `yaml:"grants"`
	ProtectedQueues []string           `yaml:"protected_queues"`
}

type roleDef struct {
	Inherits string   `yaml:"inherits"`
	Commands []string `yaml:"commands"`
	MaxCU    *int     `yaml:"max_cu"`
}

type grantDef struct {
	User    string `yaml:"user"`
	Group   string `yaml:"group"`
	Channel string `yaml:"channel"`
	Role    string `yaml:"role"`
}

// Role is a resolved role: its own commands plus those it inherits.
type Role struct {
	// Name is the role's name.
	Name string
	// All is set when the role (or one it inherits) lists "*".
	All bool
	// Commands are the allowed command names (without inherited "*").
	Commands map[string]bool
	// MaxCU is the most CUs the role may scale a queue to or plan; 0 means
	// no ceiling of the role's own (the queue's scale-out limit still
	// applies). Inherited when the role does not set it.
	MaxCU int
}

// Allows reports whether the role may run the command named name ("flink
// stop", command.SQLWrite). A nil role allows nothing.
func (r *Role) Allows(name string) bool {
	if r == nil {
		return false
	}
	return r.All || r.Commands[name]
}

// AllowsCU reports whether the role may set a queue to cu CUs.
func (r *Role) AllowsCU(cu int) bool {
	return r != nil && (r.MaxCU == 0 || cu <= r.MaxCU)
}

// higher reports whether r ranks above o: "*" first, then more commands,
// then a higher CU ceiling (none above any), then the name (for a stable
// order).
func (r *Role) higher(o *Role) bool {
	if r.All != o.All {
		return r.All
	}
	if len(r.Commands) != len(o.Commands) {
		return len(r.Commands) > len(o.Commands)
	}
	rc, oc := r.MaxCU, o.MaxCU
	if rc == 0 {
		rc = int(^uint(0) >> 1)
	}
	if oc == 0 {
		oc = int(^uint(0) >> 1)
	}
	if rc != oc {
		return rc > oc
	}
	return r.Name < o.Name
}

// Grant gives a role to a Slack user (U…/W…), user group (S…) or channel
// (C…/G…/D…).
type Grant struct {
	User, Group, Channel string
	Role                 string
}

// Policy is a validated policy. It is immutable and safe for concurrent
// use.
type Policy struct {
	roles     map[string]*Role
	grants    []Grant
	protected map[string]bool
	hasGroups bool
}

// Load reads and validates the policy file at path.
func Load(path string) (*Policy, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("CHATOPS_POLICY: %w", err)
	}
	if st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s: policy file is %d bytes, at most %d", path, st.Size(), MaxFileBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CHATOPS_POLICY: %w", err)
	}
	return Parse(path, data)
}

// Error is one policy validation problem.
type Error struct {
	// File is the policy file's name.
	File string
	// Line is the 1-based line, 0 when unknown.
	Line int
	// Field is the YAML path of the field, e.g. "roles.viewer.commands[2]".
	Field string
	// Msg says what is wrong.
	Msg string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += fmt.Sprintf(":%d", e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Errors is every problem found in one policy file.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// ErrInvalid is matched (errors.Is) by every validation error.
var ErrInvalid = errors.New("invalid chatops policy")

// Is matches ErrInvalid.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

// Is matches ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Parse validates the policy in data; name (the file path) is used in
// errors.
func Parse(name string, data []byte) (*Policy, error) {
	var f file
	if err := yamlfile.Unmarshal(data, &f, yaml.Strict()); err != nil {
		e := &Error{File: name, Msg: err.Error()}
		var ye yaml.Error
		if errors.As(err, &ye) {
			e.Msg = ye.GetMessage()
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				e.Line = tk.Position.Line
			}
		}
		return nil, Errors{e}
	}
	ast, _ := parser.ParseBytes(data, 0)
	v := &validator{name: name, ast: ast}
	p := v.build(&f)
	if len(v.errs) > 0 {
		sort.SliceStable(v.errs, func(i, j int) bool { return v.errs[i].Line < v.errs[j].Line })
		return nil, v.errs
	}
	return p, nil
}

type validator struct {
	name string
	ast  *ast.File
	errs Errors
}

// line finds the line of a field by its path segments (strings are
// mapping keys, ints sequence indexes).
func (v *validator) line(path ...any) int {
	if v.ast == nil {
		return 0
	}
	b := (&yaml.PathBuilder{}).Root()
	for _, p := range path {
		switch p := p.(type) {
		case string:
			b = b.Child(p)
		case int:
			b = b.Index(uint(p))
		}
	}
	n, err := b.Build().FilterFile(v.ast)
	if err != nil || n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		if len(path) > 1 {
			return v.line(path[:len(path)-1]...)
		}
		return 0
	}
	return n.GetToken().Position.Line
}

func fieldName(path ...any) string {
	var b strings.Builder
	for i, p := range path {
		switch p := p.(type) {
		case string:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		}
	}
	return b.String()
}

func (v *validator) errf(path []any, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.name, Line: v.line(path...), Field: fieldName(path...), Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) build(f *file) *Policy {
	p := &Policy{roles: map[string]*Role{}, protected: map[string]bool{}}
	if len(f.Roles) == 0 {
		v.errf([]any{"roles"}, "no roles defined (e.g. viewer, operator, admin)")
	}
	known := map[string]bool{}
	for _, n := range command.Names() {
		known[n] = true
	}
	names := make([]string, 0, len(f.Roles))
	for n := range f.Roles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d := f.Roles[n]
		if strings.TrimSpace(n) == "" {
			v.errf([]any{"roles"}, "empty role name")
		}
		if d.Inherits != "" {
			if _, ok := f.Roles[d.Inherits]; !ok {
				v.errf([]any{"roles", n, "inherits"}, "unknown role %q%s", d.Inherits, hint(d.Inherits, names))
			}
		}
		if d.MaxCU != nil && (*d.MaxCU < 16 || *d.MaxCU%16 != 0) {
			v.errf([]any{"roles", n, "max_cu"}, "must be a positive multiple of 16, got %d", *d.MaxCU)
		}
		for i, c := range d.Commands {
			if c == Wildcard {
				continue
			}
			if !known[c] {
				v.errf([]any{"roles", n, "commands", i}, "unknown command %q%s", c, hint(c, command.Names()))
			}
		}
	}
	// resolve inheritance, detecting cycles
	var resolve func(n string, seen []string) *Role
	resolve = func(n string, seen []string) *Role {
		if r, ok := p.roles[n]; ok {
			return r
		}
		for _, s := range seen {
			if s == n {
				v.errf([]any{"roles", n, "inherits"}, "inheritance cycle: %s", strings.Join(append(seen, n), " → "))
				return nil
			}
		}
		d, ok := f.Roles[n]
		if !ok {
			return nil
		}
		r := &Role{Name: n, Commands: map[string]bool{}}
		if d.Inherits != "" {
			parent := resolve(d.Inherits, append(seen, n))
			if parent == nil {
				return nil
			}
			r.All = parent.All
			for c := range parent.Commands {
				r.Commands[c] = true
			}
			r.MaxCU = parent.MaxCU
		}
		for _, c := range d.Commands {
			if c == Wildcard {
				r.All = true
			} else {
				r.Commands[c] = true
			}
		}
		if d.MaxCU != nil {
			r.MaxCU = *d.MaxCU
		}
		p.roles[n] = r
		return r
	}
	for _, n := range names {
		resolve(n, nil)
	}
	for i, g := range f.Grants {
		set := 0
		for _, s := range []string{g.User, g.Group, g.Channel} {
			if s != "" {
				set++
			}
		}
		path := []any{"grants", i}
		switch {
		case set != 1:
			v.errf(path, "a grant names exactly one of user, group or channel (got %d)", set)
		case g.User != "" && !idLike(g.User, "UW"):
			v.errf(append(path, "user"), "%q is not a Slack user ID (U… or W…)", g.User)
		case g.Group != "" && !idLike(g.Group, "S"):
			v.errf(append(path, "group"), "%q is not a Slack user group ID (S…)", g.Group)
		case g.Channel != "" && !idLike(g.Channel, "CGD"):
			v.errf(append(path, "channel"), "%q is not a Slack channel ID (C…, G… or D…)", g.Channel)
		}
		if g.Role == "" {
			v.errf(path, "missing role")
		} else if _, ok := f.Roles[g.Role]; !ok {
			v.errf(append(path, "role"), "unknown role %q%s", g.Role, hint(g.Role, names))
		}
		p.grants = append(p.grants, Grant(g))
		p.hasGroups = p.hasGroups || g.Group != ""
	}
	for i, q := range f.ProtectedQueues {
		if strings.TrimSpace(q) == "" {
			v.errf([]any{"protected_queues", i}, "empty queue name")
		}
		p.protected[strings.ToLower(q)] = true
	}
	return p
}

func hint(w string, candidates []string) string {
	if s := command.Suggest(w, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

func idLike(s, prefixes string) bool {
	if len(s) < 2 || !strings.ContainsRune(prefixes, rune(s[0])) {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Subject is who runs a command: the Slack user, the user groups they are
// in, and the channel they type in.
type Subject struct {
	User    string
	Groups  []string
	Channel string
}

// Resolve returns the highest role granted to s (by user, any of its
// groups, or the channel), or nil when none is: deny by default.
func (p *Policy) Resolve(s Subject) *Role {
	var best *Role
	for _, g := range p.grants {
		match := (g.User != "" && g.User == s.User) || (g.Channel != "" && g.Channel == s.Channel)
		if g.Group != "" {
			for _, sg := range s.Groups {
				match = match || sg == g.Group
			}
		}
		if !match {
			continue
		}
		if r := p.roles[g.Role]; r != nil && (best == nil || r.higher(best)) {
			best = r
		}
	}
	return best
}

// Role returns the named role, or nil.
func (p *Policy) Role(name string) *Role { return p.roles[name] }

// Roles returns the role names, sorted.
func (p *Policy) Roles() []string {
	n := make([]string, 0, len(p.roles))
	for k := range p.roles {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Protected reports whether changes to queue need a second person's
// approval (queue names are case-insensitive).
func (p *Policy) Protected(queue string) bool { return p.protected[strings.ToLower(queue)] }

// HasGroupGrants reports whether any grant names a user group (only then
// must group membership be looked up).
func (p *Policy) HasGroupGrants() bool { return p.hasGroups }
