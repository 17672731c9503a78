package chatops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/events"
)

// Bucket is the KV bucket holding chatops' state: seen signatures
// (replay.*), pending confirmations and approvals (pending.*), scheduled
// reverts (revert.*), watched SQL jobs (sqlwatch.*) and, in Lambda,
// commands and clicks whose answer follows later (deferred.*).
const Bucket = "dlibot_chatops"

// ErrNeedsNATS reports a command that needs a confirmation (stored in KV)
// while chatops runs without NATS.
var ErrNeedsNATS = errors.New("needs NATS: confirmations, approvals and reverts are stored in NATS KV; set NATS_URL")

// Errors of claiming a pending action.
var (
	errGone    = errors.New("unknown, expired or already used")
	errClaimed = errors.New("already used")
)

// Stage is where a pending action is.
type Stage string

// Stages of a pending action.
const (
	// StageConfirm waits for the requester's Confirm click.
	StageConfirm Stage = "confirm"
	// StageApprove waits for a second person's approval (protected queue).
	StageApprove Stage = "approve"
)

// pending is a command waiting for a click. It is stored under
// pending.<ID> with a TTL and consumed by deleting it at the revision read
// (single use).
type pending struct {
	ID        string    `json:"id"`
	Stage     Stage     `json:"stage"`
	Text      string    `json:"text"`
	User      string    `json:"user"`
	UserName  string    `json:"user_name,omitempty"`
	Channel   string    `json:"channel"`
	Team      string    `json:"team,omitempty"`
	Role      string    `json:"role"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	Queue     string    `json:"queue,omitempty"`
	Protected bool      `json:"protected,omitempty"`
	// FromCU is the queue's CUs when the scale was requested (the revert
	// target of --for).
	FromCU      int    `json:"from_cu,omitempty"`
	ResponseURL string `json:"response_url,omitempty"`
	// Since is when the command arrived (its response_url's window starts).
	Since   time.Time `json:"since"`
	Summary string    `json:"summary"`
}

// revert is a scheduled scale-back (`scale --for`), stored under
// revert.<ID> without TTL until it is performed.
type revert struct {
	ID          string    `json:"id"`
	Queue       string    `json:"queue"`
	ToCU        int       `json:"to_cu"`
	ExpectCU    int       `json:"expect_cu"`
	Due         time.Time `json:"due"`
	User        string    `json:"user"`
	Channel     string    `json:"channel"`
	ResponseURL string    `json:"response_url,omitempty"`
	Since       time.Time `json:"since"`
	Requested   string    `json:"requested"`
}

// sqlWatch is a submitted SQL job whose submitter is told when it ends,
// stored under sqlwatch.<job id>.
type sqlWatch struct {
	JobID       string    `json:"job_id"`
	Queue       string    `json:"queue,omitempty"`
	User        string    `json:"user"`
	Channel     string    `json:"channel"`
	ResponseURL string    `json:"response_url,omitempty"`
	Submitted   time.Time `json:"submitted"`
	Until       time.Time `json:"until"`
}

// store is the KV state; nil kv means no NATS.
type store struct{ kv jetstream.KeyValue }

func newID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func ensureBucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         Bucket,
		Description:    "dlibot chatops: replay guard, confirmations, reverts, SQL watches, deferred work",
		History:        1,
		LimitMarkerTTL: time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("chatops: KV bucket %s: %w", Bucket, err)
	}
	return kv, nil
}

func (s store) putPending(ctx context.Context, p *pending, ttl time.Duration) error {
	if s.kv == nil {
		return ErrNeedsNATS
	}
	b, _ := json.Marshal(p)
	// the key outlives Expires by a minute so an expired click is told so
	_, err := s.kv.Create(ctx, "pending."+p.ID, b, jetstream.KeyTTL(ttl+time.Minute))
	return err
}

// getPending reads a pending action and its revision.
func (s store) getPending(ctx context.Context, id string) (*pending, uint64, error) {
	if s.kv == nil {
		return nil, 0, ErrNeedsNATS
	}
	if !validID(id) {
		return nil, 0, errGone
	}
	e, err := s.kv.Get(ctx, "pending."+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, errGone
	}
	if err != nil {
		return nil, 0, err
	}
	var p pending
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		return nil, 0, fmt.Errorf("chatops: stored confirmation %s: %w", id, err)
	}
	return &p, e.Revision(), nil
}

// claim consumes a key read at rev: of concurrent clicks exactly one wins.
func (s store) claim(ctx context.Context, key string, rev uint64) error {
	err := s.kv.Delete(ctx, key, jetstream.LastRevision(rev))
	if events.KVConflict(err) {
		return errClaimed
	}
	return err
}

func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'f' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (s store) putRevert(ctx context.Context, r *revert) error {
	b, _ := json.Marshal(r)
	_, err := s.kv.Create(ctx, "revert."+r.ID, b)
	return err
}

func (s store) putWatch(ctx context.Context, w *sqlWatch, ttl time.Duration) error {
	if s.kv == nil {
		return nil
	}
	b, _ := json.Marshal(w)
	_, err := s.kv.Create(ctx, "sqlwatch."+keyToken(w.JobID), b, jetstream.KeyTTL(ttl))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil
	}
	return err
}

// keyToken makes a DLI id safe as a KV key token.
func keyToken(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// entries lists the keys under prefix with their values and revisions.
func (s store) entries(ctx context.Context, prefix string) ([]jetstream.KeyValueEntry, error) {
	if s.kv == nil {
		return nil, nil
	}
	lister, err := s.kv.ListKeysFiltered(ctx, prefix+".>")
	if err != nil {
		return nil, err
	}
	var out []jetstream.KeyValueEntry
	for k := range lister.Keys() {
		e, err := s.kv.Get(ctx, k)
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, e)
	}
	return out, nil
}
