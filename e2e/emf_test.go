//go:build linux

package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// emfValues returns, for every CloudWatch EMF line (a JSON object with an
// _aws member) in out, the metric metric's value in documents whose
// dimensions are exactly dims.
func emfValues(out, metric string, dims map[string]string) []float64 {
	var vals []float64
	for _, line := range strings.Split(out, "\n") {
		i := strings.Index(line, `{"_aws":`)
		if i < 0 {
			continue
		}
		var doc map[string]any
		if json.Unmarshal([]byte(line[i:]), &doc) != nil {
			continue
		}
		aws, _ := doc["_aws"].(map[string]any)
		cwm, _ := aws["CloudWatchMetrics"].([]any)
		if len(cwm) != 1 {
			continue
		}
		md, _ := cwm[0].(map[string]any)
		sets, _ := md["Dimensions"].([]any)
		if len(sets) != 1 {
			continue
		}
		keys, _ := sets[0].([]any)
		match := len(keys) == len(dims)
		for _, k := range keys {
			ks, _ := k.(string)
			if v, _ := doc[ks].(string); v != dims[ks] {
				match = false
			}
		}
		if v, ok := doc[metric].(float64); ok && match {
			vals = append(vals, v)
		}
	}
	return vals
}

// TestLambdaEMFMetrics: the bootstrap under the RIE writes the metrics as
// CloudWatch EMF lines on stdout: a malformed CloudEvent on POST /events
// appears as dlibot_ingress_events_total{result=malformed} = 1 after its
// invocation, and a later invocation does not report it again. With
// DLIBOT_EMF=false nothing is written.
func TestLambdaEMFMetrics(t *testing.T) {
	w := newWorld(t)
	malformed := map[string]string{"function": "autoscale", "type": "unknown", "result": "malformed"}
	bad := apiGatewayPost(t, "/events", "application/cloudevents+json", `{"specversion":"1.0","id":`)
	r, status, body := startFunction(t, "autoscale", w.autoscaleEnv(), bad)
	if resp := apiResponse(t, status, body); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed POST /events: status %d: %s", resp.StatusCode, resp.Body)
	}
	out, ok := r.WaitOutput(5*time.Second, func(o string) bool {
		return len(emfValues(o, "dlibot_ingress_events_total", malformed)) > 0
	})
	if !ok {
		t.Fatalf("no EMF line with dlibot_ingress_events_total{result=malformed}:\n%s", out)
	}
	if v := emfValues(out, "dlibot_ingress_events_total", malformed); len(v) != 1 || v[0] != 1 {
		t.Fatalf("malformed counts %v, want [1]", v)
	}
	// A refused request: its own line; the malformed event is not counted
	// again.
	status, body = invoke(t, r, apiGatewayRequest(t, "/events", "", "Bearer wrong-e2e-token-000000", "application/cloudevents+json", loadSample("e2e-emf", time.Now())))
	if resp := apiResponse(t, status, body); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: status %d: %s", resp.StatusCode, resp.Body)
	}
	refused := map[string]string{"function": "autoscale", "route": "POST /events", "reason": "invalid_token"}
	out, ok = r.WaitOutput(5*time.Second, func(o string) bool {
		return len(emfValues(o, "dlibot_ingress_auth_refused_total", refused)) > 0
	})
	if !ok {
		t.Fatalf("no EMF line with dlibot_ingress_auth_refused_total{reason=invalid_token}:\n%s", out)
	}
	if v := emfValues(out, "dlibot_ingress_events_total", malformed); len(v) != 1 {
		t.Errorf("the malformed event was reported %d times: %v", len(v), v)
	}
	if strings.Contains(out, ingestToken) || strings.Contains(out, "wrong-e2e-token") {
		t.Errorf("the output shows a token:\n%s", out)
	}

	off, status, body := startFunction(t, "autoscale", append(w.autoscaleEnv(), "DLIBOT_EMF=false"), bad)
	if resp := apiResponse(t, status, body); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("DLIBOT_EMF=false, malformed POST /events: status %d: %s", resp.StatusCode, resp.Body)
	}
	// The RIE's REPORT line follows the invocation's output.
	if out, ok := off.WaitOutput(5*time.Second, func(o string) bool { return strings.Contains(o, "REPORT RequestId") }); !ok || strings.Contains(out, `"_aws"`) {
		t.Errorf("DLIBOT_EMF=false: REPORT seen %v, output:\n%s", ok, out)
	}
}
