package host

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/sethvargo/go-envconfig"

	"github.com/dlibot/dlibot/pkg/dli"
)

// ConfigReport is the result of CheckConfig: the effective settings by
// section (secrets redacted) and every problem found.
type ConfigReport struct {
	// Sections are the settings groups, in print order.
	Sections []ConfigSection
	// Problems name the variable (or file) and what is wrong.
	Problems []string
}

// ConfigSection is one group of settings (hosting, DLI, a function).
type ConfigSection struct {
	// Name titles the section.
	Name string
	// Settings are the variables with their effective values.
	Settings []Setting
}

// OK reports whether no problem was found.
func (r *ConfigReport) OK() bool { return len(r.Problems) == 0 }

// Write prints the report: "# section" headers, NAME=value lines, then the
// problems.
func (r *ConfigReport) Write(w io.Writer) error {
	for i, s := range r.Sections {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "# %s\n", s.Name)
		if err := WriteSettings(w, s.Settings); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	if r.OK() {
		_, err := fmt.Fprintln(w, "configuration OK")
		return err
	}
	fmt.Fprintln(w, "configuration INVALID:")
	for _, p := range r.Problems {
		if _, err := fmt.Fprintf(w, "  - %s\n", p); err != nil {
			return err
		}
	}
	return nil
}

// CheckConfig reads and validates the whole configuration through l (nil:
// the process environment): the hosting Config, the DLI client's and each
// registered function's (Registration.Config). It never stops at the first
// problem.
func CheckConfig(ctx context.Context, l envconfig.Lookuper) *ConfigReport {
	if l == nil {
		l = envconfig.OsLookuper()
	}
	l = NonEmpty(l)
	rep := &ConfigReport{}
	problems := func(prefix string, err error) {
		if err == nil {
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasSuffix(line, ErrInvalidConfig.Error()+":") {
				continue
			}
			rep.Problems = append(rep.Problems, prefix+line)
		}
	}

	var hc Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &hc, Lookuper: l}); err != nil {
		problems("", fmt.Errorf("%s", scrubEnvError(err, &hc)))
	} else {
		problems("", hc.Validate())
	}
	rep.Sections = append(rep.Sections, ConfigSection{Name: "hosting (NATS, HTTP, Slack, logs)", Settings: Settings(&hc)})

	var raw dli.Config
	_ = envconfig.ProcessWith(ctx, &envconfig.Config{Target: &raw, Lookuper: l})
	if _, err := dli.ConfigFromLookuper(ctx, l); err != nil {
		problems("", err)
	}
	rep.Sections = append(rep.Sections, ConfigSection{Name: "DLI", Settings: Settings(&raw)})

	for _, name := range DefaultRegistry.Names() {
		r, _ := DefaultRegistry.Lookup(name)
		if r.Config == nil {
			continue
		}
		c, err := r.Config(ctx, l)
		problems(name+": ", err)
		rep.Sections = append(rep.Sections, ConfigSection{Name: name, Settings: Settings(c)})
	}
	return rep
}

// redactURLs hides passwords and tokens in URL user info (NATS_URL may be
// nats://user:password@host).
func redactURLs(v string) string {
	if !strings.Contains(v, "@") || !strings.Contains(v, "://") {
		return v
	}
	parts := strings.Split(v, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			if err != nil && strings.Contains(p, "@") {
				parts[i] = "<unparseable URL with user info>"
			}
			continue
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		} else {
			u.User = url.User("REDACTED")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
