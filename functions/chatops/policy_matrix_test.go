package chatops

import (
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/functions/chatops/command"
)

// TestRoleCommandMatrix sends every command as every role of
// testdata/policy.yaml and checks the policy's answer end to end: denied
// exactly when the role does not list it, and a denied command makes no
// DLI call.
func TestRoleCommandMatrix(t *testing.T) {
	e := newEnv(t, envOpts{noNATS: true, cfg: func(c *Config) { c.SQLPoll = time.Hour }})
	samples := map[string]string{
		"help": "help", "whoami": "whoami", "queues": "queues", "queue": "queue etl", "scale": "scale etl 128",
		"plans": "plans etl", "plan add": "plan add etl x 32 01:00 mon", "plan rm": "plan rm etl 5",
		"flink list": "flink list", "flink show": "flink show 13", "flink stop": "flink stop 13", "flink start": "flink start 17",
		"spark list": "spark list", "spark show": "spark show x", "spark logs": "spark logs x", "spark cancel": "spark cancel x",
		"sql": "sql SELECT 1", "sql status": "sql status x", "sql result": "sql result x", "sql cancel": "sql cancel x",
		"jobs": "jobs", command.SQLWrite: "sql DROP TABLE demo.t",
	}
	users := map[string]string{"viewer": uViewer, "operator": uOperator, "analyst": uAnalyst, "admin": uAdmin, "": uNobody}
	for roleName, user := range users {
		role := e.svc.pol.Role(roleName)
		for _, name := range command.Names() {
			text, ok := samples[name]
			if !ok {
				t.Fatalf("no sample for %q", name)
			}
			e.settle()
			before := len(e.emu.Requests())
			_, a := e.run(t, user, text)
			refused := strings.Contains(a.Text, "does not allow") || strings.Contains(a.Text, "no dlibot role") ||
				strings.Contains(a.Text, "are allowed for your role")
			if refused == role.Allows(name) {
				t.Errorf("role %q, %q: refused=%v but policy allows=%v (%q)", roleName, text, refused, role.Allows(name), a.Text)
			}
			e.settle()
			if refused && len(e.emu.Requests()) != before {
				t.Errorf("role %q, %q: denied command called DLI", roleName, text)
			}
			if last := e.aud.last(t); refused && last.Decision != DecisionDenied {
				t.Errorf("role %q, %q: audit decision %q", roleName, text, last.Decision)
			}
		}
	}
	e.settle()
	for _, r := range e.emu.Requests() {
		if r.Method != "GET" && !(r.Method == "POST" && strings.HasSuffix(r.Path, "/jobs/submit-job") && strings.Contains(r.Body, "SELECT 1")) {
			t.Errorf("matrix changed DLI without a confirmation: %s %s %s", r.Method, r.Path, r.Body)
		}
	}
}
