package host

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/host/slacksig"
)

// FuzzLambdaInvoke: any payload is dispatched or refused with an error,
// never a panic.
func FuzzLambdaInvoke(f *testing.F) {
	for _, name := range []string{"apigw-v2-slack-command-base64.json", "apigw-v2-events-structured.json",
		"eventbridge-scheduled.json", "s3-put.json"} {
		f.Add(fixture(f, name))
	}
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/x","type":"dlibot.tick","data":{"function":"probe"}}`))
	f.Add([]byte(`{"rawPath":"/events","requestContext":{}}`))
	f.Add([]byte(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{}}]}`))
	l := newTestLambda(f, &probe{}, nil, nil)
	f.Fuzz(func(t *testing.T, payload []byte) {
		_, _ = l.Invoke(context.Background(), payload)
	})
}

// FuzzEventsReceiver: POST /events answers a 2xx/4xx/5xx for any body and
// headers, never panics; a 202 means the event has an input subject.
func FuzzEventsReceiver(f *testing.F) {
	f.Add("application/cloudevents+json", structuredObj)
	f.Add("application/json", `{"specversion":"1.0","id":"1","source":"/x","type":"dlibot.metrics.sample","data":[{"metric_name":"m","dimensions":[{"name":"queue","value":"a"}],"value":1,"timestamp":1}]}`)
	f.Add("", "{")
	var stored []string
	s, err := NewServer(ServerOptions{Metrics: NewMetrics(), IngestOpen: true, Direct: func(ctx context.Context, subject string, e events.Event) (int, any) {
		stored = append(stored, subject)
		return http.StatusAccepted, nil
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		stored = stored[:0]
		req, _ := http.NewRequest("POST", "/events", strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := newRecorder()
		s.ServeHTTP(rec, req)
		if rec.status == 0 || (rec.status == http.StatusAccepted && len(stored) != 1) {
			t.Fatalf("status %d, stored %v", rec.status, stored)
		}
	})
}

// FuzzSlackVerify: verification never panics and never accepts a body the
// signature was not made for.
func FuzzSlackVerify(f *testing.F) {
	f.Add("v0=abc", "1795687620", "command=%2Fdli")
	f.Fuzz(func(t *testing.T, sig, ts, body string) {
		h := http.Header{slacksig.HeaderSignature: {sig}, slacksig.HeaderTimestamp: {ts}}
		if err := slacksig.Verify(h, []byte(body), []string{"secret"}, time.Unix(1795687620, 0)); err == nil {
			if sig != slacksig.SignTimestamp("secret", ts, []byte(body)) {
				t.Fatal("accepted a wrong signature")
			}
		}
	})
}
