package main

// Checks of the service deployment examples in deploy/ against the code:
// the variables they set are ones the configuration reads, the probes hit
// the server's health routes, the shutdown grace covers the drain, and the
// example rules and policy files load.

import (
	"bufio"
	"errors"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/dlibot/dlibot/functions/chatops/policy"
	"github.com/dlibot/dlibot/functions/obsimport/rules"
	"github.com/dlibot/dlibot/pkg/host"
)

// knownVariables is every variable a configuration of this binary reads:
// hosting, DLI and each registered function's.
func knownVariables() map[string]bool {
	known := hostVariables()
	for _, r := range functionRegistrations() {
		vars, _ := functionVariables(r.Name)
		for k := range vars {
			known[k] = true
		}
	}
	return known
}

type k8sDoc struct {
	Kind     string                `yaml:"kind"`
	Metadata struct{ Name string } `yaml:"metadata"`
	Data     map[string]string     `yaml:"data"`
	Spec     struct {
		Replicas int `yaml:"replicas"`
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				Containers                    []struct {
					Args  []string `yaml:"args"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					Env []struct {
						Name string `yaml:"name"`
					} `yaml:"env"`
					LivenessProbe  k8sProbe `yaml:"livenessProbe"`
					ReadinessProbe k8sProbe `yaml:"readinessProbe"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

func TestDeployKubernetes(t *testing.T) {
	f, err := os.Open("../../deploy/kubernetes/dlibot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []k8sDoc
	for {
		var d k8sDoc
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("deploy/kubernetes/dlibot.yaml: %v", err)
		}
		docs = append(docs, d)
	}
	known := knownVariables()
	var dep *k8sDoc
	for i, d := range docs {
		switch {
		case d.Kind == "Deployment":
			dep = &docs[i]
		case d.Kind == "ConfigMap" && d.Metadata.Name == "dlibot":
			for k, v := range d.Data {
				if !known[k] {
					t.Errorf("ConfigMap dlibot sets %s, which no configuration reads", k)
				}
				if k == "HTTP_ADDR" && v != ":8080" {
					t.Errorf("HTTP_ADDR = %q, but the container port and probes use 8080", v)
				}
			}
		case d.Kind == "ConfigMap" && d.Metadata.Name == "dlibot-files":
			if _, err := policy.Parse("chatops-policy.yaml", []byte(d.Data["chatops-policy.yaml"])); err != nil {
				t.Errorf("example chatops policy: %v", err)
			}
			if _, err := rules.Parse("obsimport-rules.yaml", []byte(d.Data["obsimport-rules.yaml"])); err != nil {
				t.Errorf("example obsimport rules: %v", err)
			}
		}
	}
	if dep == nil {
		t.Fatal("no Deployment")
	}
	if dep.Spec.Replicas < 2 {
		t.Errorf("replicas = %d; the example shows replicas sharing the work", dep.Spec.Replicas)
	}
	if g := time.Duration(dep.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second; g <= host.ShutdownTimeout {
		t.Errorf("terminationGracePeriodSeconds %v does not cover the %v shutdown", g, host.ShutdownTimeout)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Errorf("container args %v, want serve …", c.Args)
	}
	if _, ok := commands["serve"]; !ok {
		t.Error("dlibot has no serve command")
	}
	ingestTokens := false
	for _, e := range c.Env {
		if !known[e.Name] {
			t.Errorf("container env %s: no configuration reads it", e.Name)
		}
		ingestTokens = ingestTokens || e.Name == "DLIBOT_INGEST_TOKENS"
	}
	// The replicas listen on :8080: without ingest tokens they refuse to
	// start (host.IngestPolicy).
	if !ingestTokens {
		t.Errorf("the Deployment sets no DLIBOT_INGEST_TOKENS: `dlibot serve` on :8080 refuses to start without it")
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 || c.Ports[0].Name != "http" {
		t.Errorf("ports %+v, want http 8080", c.Ports)
	}
	if p := c.LivenessProbe.HTTPGet; p.Path != "/healthz" || p.Port != "http" {
		t.Errorf("liveness probe %+v, want GET /healthz on http", p)
	}
	if p := c.ReadinessProbe.HTTPGet; p.Path != "/readyz" || p.Port != "http" {
		t.Errorf("readiness probe %+v, want GET /readyz on http", p)
	}
}

func TestDeploySystemd(t *testing.T) {
	unit, err := os.ReadFile("../../deploy/systemd/dlibot.service")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^ExecStart=\S*dlibot serve\b`).Match(unit) {
		t.Error("ExecStart does not run `dlibot serve`")
	}
	if !regexp.MustCompile(`(?m)^ExecStartPre=\S*dlibot config check$`).Match(unit) {
		t.Error("no ExecStartPre `dlibot config check` (bad configuration should stop the start with its message)")
	}
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("no TimeoutStopSec")
	}
	if s, _ := strconv.Atoi(string(m[1])); time.Duration(s)*time.Second <= host.ShutdownTimeout {
		t.Errorf("TimeoutStopSec=%ds does not cover the %v shutdown", s, host.ShutdownTimeout)
	}
	env, err := os.Open("../../deploy/systemd/dlibot.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	known := knownVariables()
	vars := map[string]string{}
	sc := bufio.NewScanner(env)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !known[k] {
			t.Errorf("dlibot.env.example: %q sets a variable no configuration reads", line)
		}
		vars[k] = v
	}
	// Listening beyond loopback, serve needs ingest tokens: the example
	// must show where they go.
	if _, ok := vars["DLIBOT_INGEST_TOKENS"]; !ok && !host.LoopbackAddr(vars["HTTP_ADDR"]) {
		t.Errorf("dlibot.env.example listens on %q without a DLIBOT_INGEST_TOKENS line: serve would refuse to start", vars["HTTP_ADDR"])
	}
}

func TestDeployLambdaExamples(t *testing.T) {
	if _, err := policy.Load("../../deploy/lambda/chatops-policy.yaml.example"); err != nil {
		t.Error(err)
	}
	if _, err := rules.Load("../../deploy/lambda/obsimport-rules.yaml.example"); err != nil {
		t.Error(err)
	}
}
