package jobwatch

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/dlibot/dlibot/pkg/yamlfile"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Rules are the route and mute rules: which channel an alert goes to, and
// which alerts are not posted at all.
type Rules struct {
	// Routes are tried in order; the first match names the channel.
	Routes []Route `yaml:"routes"`
	// Mutes: an incident matching any of them is recorded and evented
	// (with muted: true) but not posted to Slack.
	Mutes []Match `yaml:"mute"`
}

// Match selects incidents. Empty fields match anything; Name and Queue are
// globs (path.Match syntax: *, ?, [a-z]).
type Match struct {
	// Name is a glob on the job name.
	Name string `yaml:"name"`
	// Queue is a glob on the queue name.
	Queue string `yaml:"queue"`
	// Kind is the job kind: flink, spark or sql.
	Kind string `yaml:"kind"`
	// Incident is the incident kind: failed, billing, unknown, stuck,
	// flapping, slow or stopped.
	Incident string `yaml:"incident"`
}

// Route sends matching incidents to Channel.
type Route struct {
	Match `yaml:",inline"`
	// Channel is a Slack channel ID or #name. Required.
	Channel string `yaml:"channel"`
}

var incidentKinds = []string{IncidentFailed, IncidentBilling, IncidentUnknown, IncidentStuck, IncidentFlapping, IncidentSlow, IncidentStopped}

func (m Match) validate() error {
	for _, g := range []struct{ field, v string }{{"name", m.Name}, {"queue", m.Queue}} {
		if g.v == "" {
			continue
		}
		if _, err := path.Match(g.v, ""); err != nil {
			return fmt.Errorf("%s: bad glob %q", g.field, g.v)
		}
	}
	switch m.Kind {
	case "", KindFlink, KindSpark, KindSQL:
	default:
		return fmt.Errorf("kind: %q is not flink, spark or sql", m.Kind)
	}
	if m.Incident != "" {
		ok := false
		for _, k := range incidentKinds {
			ok = ok || k == m.Incident
		}
		if !ok {
			return fmt.Errorf("incident: %q is not one of %s", m.Incident, strings.Join(incidentKinds, ", "))
		}
	}
	return nil
}

func (m Match) empty() bool { return m == Match{} }

func globMatch(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	ok, _ := path.Match(pattern, s)
	return ok
}

// Matches reports whether an incident of kind incident about a job of kind
// jobKind, named name, on queue matches m.
func (m Match) Matches(jobKind, incident, name, queue string) bool {
	return globMatch(m.Name, name) && globMatch(m.Queue, queue) &&
		(m.Kind == "" || m.Kind == jobKind) && (m.Incident == "" || m.Incident == incident)
}

// Muted reports whether a mute rule matches.
func (r *Rules) Muted(jobKind, incident, name, queue string) bool {
	if r == nil {
		return false
	}
	for _, m := range r.Mutes {
		if m.Matches(jobKind, incident, name, queue) {
			return true
		}
	}
	return false
}

// Channel returns the channel of the first matching route, or "".
func (r *Rules) Channel(jobKind, incident, name, queue string) string {
	if r == nil {
		return ""
	}
	for _, rt := range r.Routes {
		if rt.Matches(jobKind, incident, name, queue) {
			return rt.Channel
		}
	}
	return ""
}

// ParseInlineRules parses JOBWATCH_ROUTES: rules separated by ";", each a
// list of key=value words; a rule starting with the word "mute" is a mute
// rule, any other needs channel=. Keys: name, queue, kind, incident, channel.
func ParseInlineRules(s string) (*Rules, error) {
	r := &Rules{}
	for i, part := range strings.Split(s, ";") {
		words := strings.Fields(part)
		if len(words) == 0 {
			continue
		}
		mute := words[0] == "mute"
		if mute {
			words = words[1:]
		}
		var rt Route
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok || v == "" {
				return nil, fmt.Errorf("rule %d: %q is not key=value", i+1, w)
			}
			switch k {
			case "name":
				rt.Name = v
			case "queue":
				rt.Queue = v
			case "kind":
				rt.Kind = v
			case "incident":
				rt.Incident = v
			case "channel":
				rt.Channel = v
			default:
				return nil, fmt.Errorf("rule %d: unknown key %q (want name, queue, kind, incident, channel)", i+1, k)
			}
		}
		if err := rt.Match.validate(); err != nil {
			return nil, fmt.Errorf("rule %d: %v", i+1, err)
		}
		switch {
		case mute && rt.Channel != "":
			return nil, fmt.Errorf("rule %d: a mute rule takes no channel", i+1)
		case mute && rt.Match.empty():
			return nil, fmt.Errorf("rule %d: a mute rule needs name, queue, kind or incident (muting everything is not allowed)", i+1)
		case mute:
			r.Mutes = append(r.Mutes, rt.Match)
		case rt.Channel == "":
			return nil, fmt.Errorf("rule %d: a route needs channel=", i+1)
		default:
			r.Routes = append(r.Routes, rt)
		}
	}
	return r, nil
}

// ParseRulesYAML parses a rules file. Errors name the file and the line:
// "routes.yaml:4: routes[1].channel: required".
func ParseRulesYAML(file string, data []byte) (*Rules, error) {
	var r Rules
	if err := yamlfile.Unmarshal(data, &r, yaml.DisallowUnknownField()); err != nil {
		var se yaml.Error
		if errors.As(err, &se) && se.GetToken() != nil {
			return nil, fmt.Errorf("%s:%d: %s", file, se.GetToken().Position.Line, se.GetMessage())
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	f, _ := parser.ParseBytes(data, 0)
	line := func(p string) int {
		pp, err := yaml.PathString(p)
		if err != nil || f == nil {
			return 0
		}
		n, err := pp.FilterFile(f)
		if err != nil || n == nil {
			return 0
		}
		return nodeLine(n)
	}
	fail := func(p, msg string) error {
		if l := line(p); l > 0 {
			return fmt.Errorf("%s:%d: %s: %s", file, l, strings.TrimPrefix(p, "$."), msg)
		}
		return fmt.Errorf("%s: %s: %s", file, strings.TrimPrefix(p, "$."), msg)
	}
	for i, rt := range r.Routes {
		p := fmt.Sprintf("$.routes[%d]", i)
		if rt.Channel == "" {
			return nil, fail(p, "channel is required")
		}
		if err := rt.Match.validate(); err != nil {
			return nil, fail(p, err.Error())
		}
	}
	for i, m := range r.Mutes {
		p := fmt.Sprintf("$.mute[%d]", i)
		if m.empty() {
			return nil, fail(p, "a mute rule needs name, queue, kind or incident")
		}
		if err := m.validate(); err != nil {
			return nil, fail(p, err.Error())
		}
	}
	return &r, nil
}

func nodeLine(n ast.Node) int {
	if t := n.GetToken(); t != nil && t.Position != nil {
		return t.Position.Line
	}
	return 0
}
