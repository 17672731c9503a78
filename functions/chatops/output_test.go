package chatops

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/host"
	"github.com/dlibot/dlibot/pkg/host/slacksig"
)

// TestLongLogAsFile: a log tail longer than a section is cut in the answer
// ("… N earlier lines") and shared whole as a file in the channel.
func TestLongLogAsFile(t *testing.T) {
	e := newEnv(t, envOpts{noNATS: true})
	var lines []string
	for i := range 300 {
		lines = append(lines, fmt.Sprintf("2026-11-26 07:%02d:00,000 INFO Executor: finished task %d.0 in stage 3.0 (TID %d) in 1234 ms on host-%d", i%60, i, 1000+i, i%7))
	}
	id, err := e.emu.AddBatch(dlitest.BatchSpec{Name: "chatty", Queue: "etl", State: "running", Log: lines})
	if err != nil {
		t.Fatal(err)
	}
	_, a := e.run(t, uViewer, "spark logs "+id+" --lines 200")
	if !strings.Contains(string(a.Blocks), "earlier lines") || !strings.Contains(string(a.Blocks), "attached to the channel") {
		t.Fatalf("answer %s", a.Blocks)
	}
	files := e.slack.Files()
	if len(files) != 1 || files[0].Channel != chanTeam || strings.Count(string(files[0].Content), "\n") != 200 ||
		!strings.Contains(string(files[0].Content), "(TID 1299)") {
		t.Fatalf("%d files; first has %d lines", len(files), strings.Count(string(files[0].Content), "\n"))
	}
	if _, a := e.run(t, uViewer, "spark logs "+id+" --lines 5000"); !strings.Contains(a.Text, "1 to 1000") {
		t.Errorf("--lines over the limit: %q", a.Text)
	}
}

// TestResultAsCSV: a result with more rows than a table shows is shared as
// CSV.
func TestResultAsCSV(t *testing.T) {
	e := newEnv(t, envOpts{noNATS: true, cfg: func(c *Config) { c.TableRows = 3 }})
	var id string
	jobs, _ := e.svc.dli.ListSQLJobs(context.Background(), dliQuery("FINISHED"))
	for _, j := range jobs.Jobs {
		if j.Type == "QUERY" {
			id = j.ID
		}
	}
	_, a := e.run(t, uViewer, "sql result "+id)
	if !strings.Contains(string(a.Blocks), "2 more rows") || !strings.Contains(string(a.Blocks), "CSV") {
		t.Fatalf("answer %s", a.Blocks)
	}
	files := e.slack.Files()
	if len(files) != 1 || !strings.HasSuffix(files[0].Name, ".csv") || !strings.HasPrefix(string(files[0].Content), "id,name\n") {
		t.Fatalf("%d files", len(files))
	}
}

// TestAPIGatewayBase64Body: a command arriving base64-encoded through API
// Gateway (Lambda) is decoded by the host before the signature check and
// runs like any other.
func TestAPIGatewayBase64Body(t *testing.T) {
	e := newEnv(t, envOpts{noNATS: true})
	body := e.commandForm(uViewer, "queues", "apigw").Encode()
	h := map[string][]string{}
	slacksig.SetHeaders(h, testSecret, e.clock.Now(), []byte(body))
	ev := awsevents.APIGatewayV2HTTPRequest{RawPath: "/slack/commands", IsBase64Encoded: true,
		Body:    base64.StdEncoding.EncodeToString([]byte(body)),
		Headers: map[string]string{"content-type": "application/x-www-form-urlencoded", "x-slack-signature": h[slacksig.HeaderSignature][0], "x-slack-request-timestamp": h[slacksig.HeaderTimestamp][0]}}
	ev.RequestContext.HTTP.Method = "POST"
	req, err := host.APIGatewayRequest(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	e.svc.ServeCommand(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "4 queues") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}
