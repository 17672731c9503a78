package dli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

const (
	testAK    = "AKIDEXAMPLE0123"
	testSK    = "sk-secret-value-4567"
	testToken = "token-secret-value-89ab"
)

func env(kv ...string) envconfig.Lookuper {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return envconfig.MapLookuper(m)
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := ConfigFromLookuper(context.Background(), env(
		"HUAWEICLOUD_SDK_AK", testAK, "HUAWEICLOUD_SDK_SK", testSK, "HUAWEICLOUD_SDK_PROJECT_ID", "proj1",
		"DLI_REGION", "ap-southeast-1"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{AK: testAK, SK: testSK, ProjectID: "proj1", Region: "ap-southeast-1",
		Endpoint: "https://dli.ap-southeast-1.myhuaweicloud.com", QPS: DefaultQPS, Timeout: DefaultTimeout, MaxAttempts: DefaultMaxAttempts}
	if cfg != want {
		t.Errorf("config %+v, want %+v", cfg, want)
	}
}

func TestConfigExplicit(t *testing.T) {
	cfg, err := ConfigFromLookuper(context.Background(), env(
		"HUAWEICLOUD_SDK_AK", testAK, "HUAWEICLOUD_SDK_SK", testSK, "HUAWEICLOUD_SDK_PROJECT_ID", "proj1",
		"HUAWEICLOUD_SDK_SECURITY_TOKEN", testToken, "DLI_REGION", "ap-southeast-1",
		"DLI_ENDPOINT", "http://127.0.0.1:8080/", "DLI_QPS", "2.5", "DLI_TIMEOUT", "5s", "DLI_MAX_ATTEMPTS", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Endpoint != "http://127.0.0.1:8080" || cfg.QPS != 2.5 || cfg.Timeout != 5*time.Second ||
		cfg.MaxAttempts != 1 || cfg.SecurityToken != testToken {
		t.Errorf("config %+v: want the endpoint (without its trailing slash), QPS 2.5, 5s, 1 attempt, the token", cfg)
	}
	cfg, err = ConfigFromLookuper(context.Background(), env(
		"HUAWEICLOUD_SDK_AK", testAK, "HUAWEICLOUD_SDK_SK", testSK, "HUAWEICLOUD_SDK_PROJECT_ID", "p", "DLI_ENDPOINT", "https://x", "DLI_QPS", "0"))
	if err != nil || cfg.QPS != 0 {
		t.Errorf("DLI_QPS=0 (no limit): %+v, %v", cfg, err)
	}
}

func TestConfigErrors(t *testing.T) {
	base := []string{"HUAWEICLOUD_SDK_AK", testAK, "HUAWEICLOUD_SDK_SK", testSK, "HUAWEICLOUD_SDK_PROJECT_ID", "proj1", "DLI_REGION", "r1"}
	with := func(kv ...string) []string {
		out := append([]string(nil), base...)
		for i := 0; i+1 < len(kv); i += 2 {
			found := false
			for j := 0; j+1 < len(out); j += 2 {
				if out[j] == kv[i] {
					out[j+1], found = kv[i+1], true
				}
			}
			if !found {
				out = append(out, kv[i], kv[i+1])
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		env  []string
		want []string // substrings of the error
	}{
		{"nothing set", nil, []string{"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_PROJECT_ID", "DLI_ENDPOINT nor DLI_REGION"}},
		{"no AK", with("HUAWEICLOUD_SDK_AK", ""), []string{"HUAWEICLOUD_SDK_AK is not set"}},
		{"no SK", with("HUAWEICLOUD_SDK_SK", " "), []string{"HUAWEICLOUD_SDK_SK is not set"}},
		{"no project", with("HUAWEICLOUD_SDK_PROJECT_ID", ""), []string{"HUAWEICLOUD_SDK_PROJECT_ID is not set"}},
		{"no region or endpoint", with("DLI_REGION", ""), []string{"DLI_ENDPOINT nor DLI_REGION"}},
		{"endpoint scheme", with("DLI_ENDPOINT", "ftp://x"), []string{"DLI_ENDPOINT", "http(s)"}},
		{"endpoint path", with("DLI_ENDPOINT", "https://x/v1.0"), []string{"DLI_ENDPOINT", "path"}},
		{"negative QPS", with("DLI_QPS", "-1"), []string{"DLI_QPS"}},
		{"bad QPS", with("DLI_QPS", "fast"), []string{"DLI_QPS"}},
		{"bad timeout", with("DLI_TIMEOUT", "soon"), []string{"DLI_TIMEOUT"}},
		{"negative timeout", with("DLI_TIMEOUT", "-1s"), []string{"DLI_TIMEOUT"}},
		{"negative attempts", with("DLI_MAX_ATTEMPTS", "-2"), []string{"DLI_MAX_ATTEMPTS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ConfigFromLookuper(context.Background(), env(tc.env...))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testSK) {
				t.Errorf("error %q contains the SK", err)
			}
		})
	}
	// New validates a configuration built in code the same way.
	if _, err := New(Config{Endpoint: "http://x"}); err == nil || !strings.Contains(err.Error(), "HUAWEICLOUD_SDK_AK") {
		t.Errorf("New(no credentials) = %v, want an error naming HUAWEICLOUD_SDK_AK", err)
	}
	for _, o := range []Option{WithHTTPTransport(nil), WithClock(nil), WithSleep(nil), WithLogger(nil), WithBackoff(Backoff{Base: -1})} {
		if _, err := New(Config{AK: testAK, SK: testSK, ProjectID: "p", Endpoint: "http://x"}, o); err == nil {
			t.Error("New accepted an invalid option")
		}
	}
}

func TestConfigRedaction(t *testing.T) {
	cfg := Config{AK: testAK, SK: testSK, SecurityToken: testToken, ProjectID: "proj1", Endpoint: "https://dli.example", QPS: 10}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "dli", cfg)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{
		cfg.String(), fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(&cfg),
		fmt.Sprintf("%v", c.Config()), buf.String(),
	} {
		for _, secret := range []string{testAK, testSK, testToken} {
			if strings.Contains(out, secret) {
				t.Errorf("%q reveals a secret", out)
			}
		}
		if !strings.Contains(out, "proj1") || !strings.Contains(out, "REDACTED") {
			t.Errorf("%q: want the project id and REDACTED markers", out)
		}
	}
}

// TestErrorScrubsSecrets: a DLI message echoing a credential is scrubbed.
func TestErrorScrubsSecrets(t *testing.T) {
	c, err := New(Config{AK: testAK, SK: testSK, SecurityToken: testToken, ProjectID: "p", Endpoint: "http://x"})
	if err != nil {
		t.Fatal(err)
	}
	msg := c.scrub("bad key " + testAK + " sk " + testSK + " token " + testToken)
	for _, s := range []string{testAK, testSK, testToken} {
		if strings.Contains(msg, s) {
			t.Errorf("scrubbed %q still contains %q", msg, s)
		}
	}
}
