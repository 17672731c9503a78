package jobwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the JetStream KV bucket holding jobwatch's state: the poll
// metadata, the last state of every job (in shards), and the incidents.
const Bucket = "dlibot_jobwatch"

// shards is the number of state shards per job kind. A shard is one KV value
// (a few KB for thousands of jobs), written only when one of its jobs changed,
// with a revision check.
const shards = 16

// Record states: the posting protocol of an alert.
const (
	// StateNew: claimed (created) but not posted yet.
	StateNew = "new"
	// StatePosting: a replica is posting it until Lease; another may take
	// over after that.
	StatePosting = "posting"
	// StateOpen: posted (Ref recorded) or muted; the incident is open.
	StateOpen = "open"
	// StateResolved: recovered, reply and edit done, event published.
	StateResolved = "resolved"
)

// meta is the poll metadata (key "meta").
type meta struct {
	// FirstPoll is when the very first poll started.
	FirstPoll time.Time `json:"first_poll"`
	// Baselined lists the kinds whose first listing is recorded (quiet
	// start is over for them).
	Baselined map[string]bool `json:"baselined,omitempty"`
	// Summary collects the jobs found failed during the quiet start.
	Summary []summaryItem `json:"summary,omitempty"`
	// SummaryCount counts them all (Summary is capped).
	SummaryCount int `json:"summary_count,omitempty"`
	// SummaryDone is set once the summary record is created.
	SummaryDone bool `json:"summary_done,omitempty"`
	// LastPoll is when the last poll in which every kind listed started.
	LastPoll time.Time `json:"last_poll,omitzero"`
	// Listed is when each kind was last listed successfully.
	Listed map[string]time.Time `json:"listed,omitempty"`
	// LastAttempt is when the last poll started (successful or not).
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// SQLCursor is the start filter of the next SQL listing.
	SQLCursor time.Time `json:"sql_cursor,omitzero"`
	// SparkCursor is the start (creation time) filter of the next Spark
	// listing; zero lists every batch (the first poll).
	SparkCursor time.Time `json:"spark_cursor,omitzero"`
	// FailingSince is when polling DLI started failing (zero when fine).
	FailingSince time.Time `json:"failing_since,omitzero"`
	// Outages counts the self-watch messages (it numbers their keys).
	Outages int `json:"outages,omitempty"`
	// SelfWatch is the key of the open self-watch record.
	SelfWatch string `json:"self_watch,omitempty"`
	// Backoff is the throttling level: the poll period is Interval·2^Backoff.
	Backoff int `json:"backoff,omitempty"`
	// PollAfter: no listing before this instant (throttling).
	PollAfter time.Time `json:"poll_after,omitzero"`
	// Pending are message records to deliver (summary, self-watch).
	Pending []string `json:"pending,omitempty"`
}

type summaryItem struct {
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	Name   string `json:"name"`
	Queue  string `json:"queue"`
	Status string `json:"status"`
}

// shardState is one shard of one kind's job states.
type shardState struct {
	Jobs map[string]*jobRec  `json:"jobs"`
	Subj map[string]*subjRec `json:"subj"`
}

// jobRec is the last observation of one job.
type jobRec struct {
	// S is the last status; T when it was first seen in it (Unix ms).
	S string `json:"s"`
	T int64  `json:"t"`
	// U is the job's subject when it is not the job id.
	U string `json:"u,omitempty"`
	// Start is when the run started (Unix ms), for SQL pruning.
	Start int64 `json:"st,omitempty"`
	// R: seen running since its last stop; C: seen stopping (a user stop).
	R bool `json:"r,omitempty"`
	C bool `json:"c,omitempty"`
	// K: a stuck or slow incident was raised for the current stint.
	K bool `json:"k,omitempty"`
}

// subjRec is what jobwatch remembers about one job identity: the Flink job,
// or every run of a Spark batch name or a SQL statement.
type subjRec struct {
	// Ep is the episode counter: the last incident's episode.
	Ep int `json:"e,omitempty"`
	// Inc is the key of the open incident.
	Inc string `json:"i,omitempty"`
	// Fails are the recent failure instants (Unix ms), within FlapWindow.
	Fails []int64 `json:"f,omitempty"`
	// Runs are the durations (ms) of the last successful runs.
	Runs []int64 `json:"d,omitempty"`
	// OK is when the open incident's job was first seen healthy again
	// (Unix ms; 0: not healthy).
	OK int64 `json:"ok,omitempty"`
	// Seen is the last change of one of its jobs (Unix ms).
	Seen int64 `json:"s,omitempty"`
	// L: the recovery was found by a catch-up poll (late).
	L bool `json:"l,omitempty"`
	// G: the (Flink) job is gone from DLI's listing.
	G bool `json:"g,omitempty"`
}

// Incident is an incident record in KV (key inc/<kind>/<job id>/<episode>),
// and also the record of the summary and self-watch messages (msg/…).
type Incident struct {
	Key string `json:"key"`
	// Kind is the incident kind (IncidentFailed, …), or "summary",
	// "selfwatch" or "digest" for those messages.
	Kind       string    `json:"kind"`
	JobKind    string    `json:"job_kind,omitempty"`
	JobID      string    `json:"job_id,omitempty"`
	JobName    string    `json:"job_name,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	Queue      string    `json:"queue,omitempty"`
	Owner      string    `json:"owner,omitempty"`
	Status     string    `json:"status,omitempty"`
	StatusDesc string    `json:"status_desc,omitempty"`
	Started    time.Time `json:"started,omitzero"`
	// FailedAt is when the problem began (the job's end time when DLI
	// tells it, else when jobwatch saw it).
	FailedAt time.Time `json:"failed_at,omitzero"`
	Detected time.Time `json:"detected"`
	// Late: found by a catch-up poll after jobwatch was down.
	Late bool `json:"late,omitempty"`
	// Muted: a mute rule matched; recorded and evented, never posted.
	Muted   bool   `json:"muted,omitempty"`
	Channel string `json:"channel,omitempty"`
	// Detail is extra text (the stuck threshold, the slow baseline…).
	Detail  string   `json:"detail,omitempty"`
	LogTail []string `json:"log_tail,omitempty"`
	LogDone bool     `json:"log_done,omitempty"`
	// Failures counts the failures in this incident.
	Failures int `json:"failures,omitempty"`
	// Summary holds the summary's jobs (Kind "summary").
	Summary      []summaryItem `json:"summary,omitempty"`
	SummaryCount int           `json:"summary_count,omitempty"`
	// Digest, on an incident, is the key of the digest record it was (or
	// is being) posted in; its Ref is then the digest message.
	Digest string `json:"digest,omitempty"`
	// Members, on a digest record (Kind "digest"), are the incidents it
	// lists: the ones whose posting claim it won.
	Members []string `json:"members,omitempty"`

	// State is the posting protocol state (StateNew, …).
	State string `json:"state"`
	// Lease is how long the replica posting it holds it.
	Lease time.Time `json:"lease,omitzero"`
	// RetryAt delays the next post attempt (Slack 429).
	RetryAt time.Time `json:"retry_at,omitzero"`
	// Attempts counts post attempts.
	Attempts int `json:"attempts,omitempty"`
	// Ref is the Slack message.
	Ref *notify.Ref `json:"ref,omitempty"`
	// PostedAt is when it was posted.
	PostedAt time.Time `json:"posted_at,omitzero"`
	// OpenedSent: incident.opened published.
	OpenedSent bool `json:"opened_sent,omitempty"`
	// Updates counts changes of Kind after opening; UpdatesSent those
	// delivered (edit, thread note, incident.updated).
	Updates     int    `json:"updates,omitempty"`
	UpdatesSent int    `json:"updates_sent,omitempty"`
	UpdateNote  string `json:"update_note,omitempty"`
	// UpdLease and ReplyLease hold the update and recovery thread replies
	// for the replica doing them.
	UpdLease   time.Time `json:"upd_lease,omitzero"`
	ReplyLease time.Time `json:"reply_lease,omitzero"`
	// RemindedAt is the last reminder.
	RemindedAt time.Time `json:"reminded_at,omitzero"`
	// Recovered is when the recovery was detected; RecoveredLate marks it
	// late; RecoveryNote says how.
	Recovered     time.Time `json:"recovered,omitzero"`
	RecoveredLate bool      `json:"recovered_late,omitempty"`
	RecoveryNote  string    `json:"recovery_note,omitempty"`
	// ReplyRef is the recovery reply; Edited the original edited;
	// ResolvedSent the event published.
	ReplyRef     *notify.Ref `json:"reply_ref,omitempty"`
	Edited       bool        `json:"edited,omitempty"`
	ResolvedSent bool        `json:"resolved_sent,omitempty"`
}

// store wraps the KV bucket.
type store struct {
	kv jetstream.KeyValue
}

func openStore(ctx context.Context, js jetstream.KeyValueManager, replicas int) (*store, error) {
	if replicas < 1 {
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "jobwatch: poll metadata, job states, incidents",
		History:     1,
		Replicas:    replicas,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("jobwatch: KV bucket %s: %w", Bucket, err)
	}
	return &store{kv: kv}, nil
}

// get decodes key into v; found false when absent.
func (s *store) get(ctx context.Context, key string, v any) (rev uint64, found bool, err error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("jobwatch: KV get %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, false, fmt.Errorf("jobwatch: KV %s: corrupt value: %w", key, err)
	}
	return e.Revision(), true, nil
}

// errConflict: a revision check failed (another replica wrote first).
var errConflict = errors.New("jobwatch: concurrent update")

// put writes v at key: create-only when rev is 0, else only over rev.
func (s *store) put(ctx context.Context, key string, v any, rev uint64) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	var nrev uint64
	if rev == 0 {
		nrev, err = s.kv.Create(ctx, key, b)
	} else {
		nrev, err = s.kv.Update(ctx, key, b, rev)
	}
	if events.KVConflict(err) {
		return 0, errConflict
	}
	if err != nil {
		return 0, fmt.Errorf("jobwatch: KV put %s: %w", key, err)
	}
	return nrev, nil
}

// updateIncident applies f to the record at key under a revision check,
// retrying on conflicts. f returns false to leave the record unchanged.
func (s *store) updateIncident(ctx context.Context, key string, f func(*Incident) bool) (*Incident, error) {
	for range 8 {
		var inc Incident
		rev, found, err := s.get(ctx, key, &inc)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("jobwatch: incident %s vanished from KV", key)
		}
		if !f(&inc) {
			return &inc, nil
		}
		if _, err := s.put(ctx, key, &inc, rev); errors.Is(err, errConflict) {
			continue
		} else if err != nil {
			return nil, err
		}
		return &inc, nil
	}
	return nil, fmt.Errorf("jobwatch: incident %s: %w (gave up after 8 tries)", key, errConflict)
}

func shardKey(kind string, n int) string { return fmt.Sprintf("shard/%s/%02d", kind, n) }

func shardOf(subject string) int {
	h := fnv.New32a()
	h.Write([]byte(subject))
	return int(h.Sum32() % shards)
}

func incidentKey(kind, id string, ep int) string { return fmt.Sprintf("inc/%s/%s/%d", kind, id, ep) }
