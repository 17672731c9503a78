package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/dlibot/dlibot/functions/chatops/command"
)

func load(t *testing.T) *Policy {
	t.Helper()
	p, err := Load("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRoleCommandMatrix checks each role × each command of the DESIGN.md
// policy (plus a custom role and "no role").
func TestRoleCommandMatrix(t *testing.T) {
	p := load(t)
	viewer := []string{"help", "whoami", "queues", "queue", "plans", "flink list", "flink show", "spark list",
		"spark show", "spark logs", "jobs", "sql status", "sql result", "sql"}
	operatorExtra := []string{"scale", "plan add", "plan rm", "flink stop", "flink start", "spark cancel", "sql cancel"}
	want := map[string]map[string]bool{"viewer": {}, "operator": {}, "analyst": {}, "admin": {}, "": {}}
	for _, c := range viewer {
		want["viewer"][c], want["operator"][c], want["analyst"][c] = true, true, true
	}
	for _, c := range operatorExtra {
		want["operator"][c] = true
	}
	want["analyst"][command.SQLWrite], want["analyst"]["sql cancel"] = true, true
	for _, c := range command.Names() {
		want["admin"][c] = true
	}
	for _, role := range []string{"viewer", "operator", "analyst", "admin", ""} {
		r := p.Role(role)
		if role != "" && r == nil {
			t.Fatalf("role %s missing", role)
		}
		for _, c := range command.Names() {
			if got := r.Allows(c); got != want[role][c] {
				t.Errorf("role %q command %q: allowed=%v, want %v", role, c, got, want[role][c])
			}
		}
	}
}

func TestResolveHighestWins(t *testing.T) {
	p := load(t)
	cases := []struct {
		name string
		s    Subject
		want string
	}{
		{"nobody", Subject{User: "U0NOBODY", Channel: "C0OTHER"}, ""},
		{"channel grant", Subject{User: "U0NOBODY", Channel: "C0789IJKL"}, "viewer"},
		{"group beats channel", Subject{User: "U0NOBODY", Groups: []string{"S0456EFGH"}, Channel: "C0789IJKL"}, "operator"},
		{"user admin beats group", Subject{User: "U0123ABCD", Groups: []string{"S0456EFGH"}, Channel: "C0789IJKL"}, "admin"},
		{"custom role", Subject{User: "U0ANALYST", Channel: "C0789IJKL"}, "analyst"},
		{"operator beats analyst? more commands", Subject{User: "U0ANALYST", Groups: []string{"S0456EFGH"}}, "operator"},
		{"unknown group", Subject{User: "U0X", Groups: []string{"S0NOPE"}}, ""},
	}
	for _, c := range cases {
		r := p.Resolve(c.s)
		got := ""
		if r != nil {
			got = r.Name
		}
		if got != c.want {
			t.Errorf("%s: role %q, want %q", c.name, got, c.want)
		}
	}
}

func TestLimits(t *testing.T) {
	p := load(t)
	op := p.Role("operator")
	if op.MaxCU != 256 || !op.AllowsCU(256) || op.AllowsCU(272) {
		t.Errorf("operator max_cu %d", op.MaxCU)
	}
	if !p.Role("admin").AllowsCU(4096) {
		t.Error("admin has no ceiling")
	}
	if !p.Protected("PROD") || !p.Protected("finance") || p.Protected("etl") {
		t.Error("protected queues wrong")
	}
	if !p.HasGroupGrants() {
		t.Error("HasGroupGrants")
	}
	var nilRole *Role
	if nilRole.Allows("help") || nilRole.AllowsCU(16) {
		t.Error("nil role allows")
	}
}

func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown field", "roles:\n  viewer: {commands: [help]}\nprotected: [prod]\n", "policy.yaml:3:"},
		{"unknown command", "roles:\n  viewer:\n    commands:\n      - help\n      - qeues\n", `policy.yaml:5: roles.viewer.commands[1]: unknown command "qeues" (did you mean "queues"?)`},
		{"unknown inherits", "roles:\n  op:\n    inherits: viewr\n    commands: [scale]\n  viewer: {commands: [help]}\n", `policy.yaml:3: roles.op.inherits: unknown role "viewr" (did you mean "viewer"?)`},
		{"cycle", "roles:\n  a: {inherits: b}\n  b: {inherits: a}\n", "inheritance cycle"},
		{"bad max_cu", "roles:\n  op:\n    commands: [scale]\n    max_cu: 100\n", "policy.yaml:4: roles.op.max_cu: must be a positive multiple of 16"},
		{"grant two subjects", "roles:\n  v: {commands: [help]}\ngrants:\n  - {user: U1, channel: C1, role: v}\n", "policy.yaml:4: grants[0]: a grant names exactly one"},
		{"grant unknown role", "roles:\n  v: {commands: [help]}\ngrants:\n  - user: U1\n    role: x\n", `policy.yaml:5: grants[0].role: unknown role "x"`},
		{"grant bad user id", "roles:\n  v: {commands: [help]}\ngrants:\n  - {user: C123, role: v}\n", "not a Slack user ID"},
		{"grant missing role", "roles:\n  v: {commands: [help]}\ngrants:\n  - {user: U1}\n", "missing role"},
		{"no roles", "grants: []\n", "no roles defined"},
		{"duplicate key", "roles:\n  v: {commands: [help]}\n  v: {commands: [queues]}\n", "policy.yaml:3:"},
		{"syntax", "roles: [\n", "policy.yaml"},
		{"type", "roles:\n  v: {commands: help, max_cu: lots}\n", "policy.yaml:2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("policy.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\ndoes not contain %q", err, c.want)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	if _, err := Load("testdata/nope.yaml"); err == nil || !strings.Contains(err.Error(), "CHATOPS_POLICY") {
		t.Errorf("err %v", err)
	}
}
