package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validEnv is a complete, valid configuration with planted secrets.
var validEnv = map[string]string{
	"NATS_URL":                       "nats://dlibot:planted-nats-password@127.0.0.1:4222",
	"HTTP_ADDR":                      "127.0.0.1:9999",
	"SLACK_BOT_TOKEN":                "xoxb-planted-bot-token",
	"SLACK_SIGNING_SECRET":           "planted-signing-secret",
	"SLACK_SIGNING_SECRET_PREVIOUS":  "planted-previous-secret",
	"HUAWEICLOUD_SDK_AK":             "PLANTEDACCESSKEY",
	"HUAWEICLOUD_SDK_SK":             "planted-secret-key",
	"HUAWEICLOUD_SDK_SECURITY_TOKEN": "planted-security-token",
	"HUAWEICLOUD_SDK_PROJECT_ID":     "proj-1",
	"DLI_REGION":                     "ap-southeast-1",
}

var plantedSecrets = []string{"planted-nats-password", "xoxb-planted-bot-token", "planted-signing-secret",
	"planted-previous-secret", "PLANTEDACCESSKEY", "planted-secret-key", "planted-security-token"}

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for _, k := range []string{"NATS_URL", "NATS_CREDS", "NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY", "HTTP_ADDR",
		"HTTP_MAX_BODY_BYTES", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET_PREVIOUS", "SLACK_API_URL",
		"SLACK_CHANNEL", "LOG_LEVEL", "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN",
		"HUAWEICLOUD_SDK_PROJECT_ID", "DLI_REGION", "DLI_ENDPOINT", "AWS_LAMBDA_RUNTIME_API"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	for k, v := range env {
		if v != "" {
			t.Setenv(k, v)
		}
	}
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// withFunctionFiles adds the functions' configuration files (DESIGN.md's
// examples) to env.
func withFunctionFiles(t *testing.T, env map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for name, f := range map[string]struct{ env, body string }{
		"policy.yaml": {"CHATOPS_POLICY", `roles:
  viewer:   {commands: [help, whoami, queues, queue, plans, "flink list", "flink show", "spark list",
                        "spark show", "spark logs", jobs, "sql status", "sql result", sql]}
  operator: {inherits: viewer, commands: [scale, "plan add", "plan rm", "flink stop", "flink start",
                        "spark cancel", "sql cancel"], max_cu: 256}
  admin:    {commands: ["*"]}
grants:
  - {user: U0123ABCD, role: admin}
  - {group: S0456EFGH, role: operator}
  - {channel: C0789IJKL, role: viewer}
protected_queues: [prod]
`},
		"rules.yaml": {"OBSIMPORT_RULES", `rules:
  - name: events
    bucket: raw-data
    key: "landing/events/dt={dt}/*.csv"
    database: analytics
    table: events
    format: csv
    csv: {header: true, delimiter: ",", quote: "\"", escape: "\\"}
    partition: {dt: "{dt}"}
    queue: etl
    trigger: each
    on_reupload: reload
`},
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(f.body), 0o600); err != nil {
			t.Fatal(err)
		}
		out[f.env] = p
	}
	return out
}

func TestConfigCheckRedactsSecrets(t *testing.T) {
	code, out, errOut := runCLI(t, withFunctionFiles(t, validEnv), "config", "check")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"SLACK_BOT_TOKEN=<set>", "SLACK_SIGNING_SECRET=<set>", "HUAWEICLOUD_SDK_SK=<set>",
		"HUAWEICLOUD_SDK_AK=<set>", "HUAWEICLOUD_SDK_SECURITY_TOKEN=<set>", "HTTP_ADDR=127.0.0.1:9999",
		"HTTP_MAX_BODY_BYTES=1048576", "NATS_URL=nats://dlibot:REDACTED@127.0.0.1:4222", "DLI_REGION=ap-southeast-1",
		"configuration OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, s := range plantedSecrets {
		if strings.Contains(out+errOut, s) {
			t.Errorf("output contains the secret %q", s)
		}
	}
}

func TestConfigCheckInvalid(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		want []string
	}{
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, []string{"LOG_LEVEL"}},
		{"bad body limit", map[string]string{"HTTP_MAX_BODY_BYTES": "lots"}, []string{"HTTP_MAX_BODY_BYTES"}},
		{"negative body limit", map[string]string{"HTTP_MAX_BODY_BYTES": "-1"}, []string{"HTTP_MAX_BODY_BYTES", "positive"}},
		{"creds file missing", map[string]string{"NATS_CREDS": "/nonexistent/dlibot.creds"}, []string{"NATS_CREDS", "/nonexistent/dlibot.creds"}},
		{"cert without key", map[string]string{"NATS_TLS_CERT": "/etc/hostname"}, []string{"NATS_TLS_KEY"}},
		{"bad NATS scheme", map[string]string{"NATS_URL": "http://planted-nats-password@x"}, []string{"NATS_URL", "scheme"}},
		{"bad token", map[string]string{"SLACK_BOT_TOKEN": "planted-not-a-token"}, []string{"SLACK_BOT_TOKEN"}},
		{"no DLI credentials", map[string]string{"HUAWEICLOUD_SDK_AK": ""}, []string{"HUAWEICLOUD_SDK_AK"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range validEnv {
				env[k] = v
			}
			for k, v := range tt.set {
				env[k] = v
			}
			code, out, errOut := runCLI(t, env, "config", "check")
			if code == 0 {
				t.Fatalf("exit 0 on invalid configuration:\n%s", out)
			}
			problems := out[strings.Index(out, "configuration INVALID"):]
			for _, w := range tt.want {
				if !strings.Contains(problems, w) {
					t.Errorf("problems do not mention %q:\n%s", w, problems)
				}
			}
			for _, s := range append(plantedSecrets, "planted-not-a-token") {
				if strings.Contains(out+errOut, s) {
					t.Errorf("output contains the secret %q:\n%s", s, out+errOut)
				}
			}
		})
	}
}

func TestHelpOnEveryHostingCommand(t *testing.T) {
	for _, args := range [][]string{{"serve", "--help"}, {"slack", "--help"}, {"config", "--help"}, {"config", "check", "-h"}} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "Usage: dlibot "+args[0]) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}
