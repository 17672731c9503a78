package events

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamOptions sizes the dlibot streams. The zero value gives the defaults.
type StreamOptions struct {
	// Replicas is the number of stream replicas in a NATS cluster.
	// Default 1.
	Replicas int
	// Storage is where streams keep messages. Default file storage
	// (jetstream.FileStorage); tests may use jetstream.MemoryStorage.
	Storage jetstream.StorageType
	// MaxAge is how long input and output events are kept. Default 7 days.
	MaxAge time.Duration
	// DLQMaxAge is how long dead letters are kept. Default 30 days.
	DLQMaxAge time.Duration
	// Duplicates is DLIBOT_IN's duplicate-detection window for Nats-Msg-Id.
	// Default 1 hour: it must be at least the longest tick period so that
	// one tick per period gets through however late a replica publishes
	// its tick for that period. The server keeps every Nats-Msg-Id seen in
	// the window in memory, so publishers set a message id only where they
	// need broker-side dedup (ticks, retried HTTP posts).
	Duplicates time.Duration
}

func (o StreamOptions) withDefaults() StreamOptions {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 7 * 24 * time.Hour
	}
	if o.DLQMaxAge <= 0 {
		o.DLQMaxAge = 30 * 24 * time.Hour
	}
	if o.Duplicates <= 0 {
		o.Duplicates = time.Hour
	}
	return o
}

// StreamConfigs returns the configurations of DLIBOT_IN, DLIBOT_OUT and
// DLIBOT_DLQ for o.
func StreamConfigs(o StreamOptions) []jetstream.StreamConfig {
	o = o.withDefaults()
	mk := func(name, subj, desc string, age time.Duration, dup time.Duration) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    []string{subj},
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      age,
			Storage:     o.Storage,
			Replicas:    o.Replicas,
			Duplicates:  dup,
		}
	}
	return []jetstream.StreamConfig{
		mk(StreamIn, SubjectsIn, "dlibot input events", o.MaxAge, o.Duplicates),
		mk(StreamOut, SubjectsOut, "dlibot output events", o.MaxAge, 2*time.Minute),
		mk(StreamDLQ, SubjectsDLQ, "dlibot dead letters", o.DLQMaxAge, 2*time.Minute),
	}
}

// EnsureStreams creates or updates DLIBOT_IN, DLIBOT_OUT and DLIBOT_DLQ.
// It is idempotent and safe when many replicas start at once (an identical
// concurrent create succeeds on the server).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	for _, cfg := range StreamConfigs(o) {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("events: create stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
