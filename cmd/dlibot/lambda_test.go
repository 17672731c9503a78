package main

import (
	"strings"
	"testing"
)

func TestLambdaUnknownHandlerFailsClearly(t *testing.T) {
	env := map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:1", "_HANDLER": "nosuchfunction"}
	for k, v := range validEnv {
		env[k] = v
	}
	t.Setenv("_HANDLER", "")
	code, out, errOut := runCLI(t, env, "serve") // args are ignored under Lambda
	if code == 0 {
		t.Fatalf("exit 0: %s", out)
	}
	if !strings.Contains(errOut, "unknown Lambda handler") || !strings.Contains(errOut, "nosuchfunction") {
		t.Fatalf("stderr %q", errOut)
	}
	for _, s := range plantedSecrets {
		if strings.Contains(out+errOut, s) {
			t.Fatalf("secret %q printed", s)
		}
	}
}

func TestLambdaBadConfigFailsClearly(t *testing.T) {
	code, _, errOut := runCLI(t, map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:1", "_HANDLER": "chatops", "LOG_LEVEL": "shout"})
	if code == 0 || !strings.Contains(errOut, "LOG_LEVEL") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
