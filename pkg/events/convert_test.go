package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/eventstest"
	"github.com/dlibot/dlibot/pkg/events/natstest"
)

// convertS3 is a toy converter of S3-style notifications (the real one
// lives with obsimport).
func convertS3(_ string, _ nats.Header, body []byte) ([]events.Event, error) {
	var n struct {
		Records []struct {
			S3 struct {
				Bucket struct{ Name string } `json:"bucket"`
				Object struct{ Key string }  `json:"object"`
			} `json:"s3"`
		}
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, err
	}
	if len(n.Records) == 0 {
		return nil, errors.New("no Records")
	}
	var out []events.Event
	for _, r := range n.Records {
		e, err := events.NewEvent(r.S3.Bucket.Name+"/"+r.S3.Object.Key, events.SourceObs, events.TypeObjectCreated,
			events.ObjectCreated{Bucket: r.S3.Bucket.Name, Key: r.S3.Object.Key})
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func TestConvertRawNotification(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	cfg := baseConfig(rec)
	cfg.Convert = convertS3
	var mu sync.Mutex
	runs := map[string]int{}
	failOnce := map[string]bool{"b/k2": true}
	eventstest.RunConsumer(t, js, cfg, func(_ context.Context, e events.Event) events.Outcome {
		mu.Lock()
		defer mu.Unlock()
		if failOnce[e.ID()] {
			delete(failOnce, e.ID())
			return events.Retry(10 * time.Millisecond)
		}
		runs[e.ID()]++
		return events.Ack()
	})
	dlq := eventstest.NewDLQReader(t, js, "toy")
	raw := `{"Records":[{"s3":{"bucket":{"name":"b"},"object":{"key":"k1"}}},{"s3":{"bucket":{"name":"b"},"object":{"key":"k2"}}}]}`
	if _, err := js.Publish(context.Background(), events.ObsSubject("b"), []byte(raw)); err != nil {
		t.Fatal(err)
	}
	// k1 succeeds, k2 asks to retry: the message is redelivered, k1 is then
	// a duplicate, k2 succeeds.
	eventstest.Eventually(t, wait, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return runs["b/k1"] == 1 && runs["b/k2"] == 1
	}, "both records handled")
	settledAll(t, js, "dlibot_toy")
	mu.Lock()
	if runs["b/k1"] != 1 || runs["b/k2"] != 1 {
		t.Errorf("runs = %v, want each record once", runs)
	}
	mu.Unlock()
	if rec.Count(events.ResultDuplicate) != 1 {
		t.Errorf("duplicates = %d, want 1 (k1 on the redelivery)", rec.Count(events.ResultDuplicate))
	}

	// Neither a CloudEvent nor convertible: DLQ, with both reasons.
	if _, err := js.Publish(context.Background(), events.ObsSubject("b"), []byte(`{"hello":1}`)); err != nil {
		t.Fatal(err)
	}
	dl := dlq.Next(wait)
	if !strings.HasPrefix(dl.Reason, "malformed: ") || !strings.Contains(dl.Reason, "not convertible either: no Records") {
		t.Errorf("reason = %q", dl.Reason)
	}
}
