package chatops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/host/slacksig"
)

// replayTTL is how long a seen signature is remembered: twice the
// timestamp window, so a request is refused either as stale or as seen.
const replayTTL = 2 * slacksig.MaxSkew

// replayCheckTimeout bounds the KV round trip of the replay check, so a
// slow NATS cannot push the answer past Slack's 3 seconds.
const replayCheckTimeout = time.Second

// ErrReplayed reports a request whose signature was already seen.
var ErrReplayed = errors.New("chatops: request already received (replay)")

// replayGuard remembers signatures. Seen records key and reports whether
// it was recorded before.
type replayGuard interface {
	Seen(ctx context.Context, key string, now time.Time) (bool, error)
}

// kvReplay keeps seen signatures in the KV bucket (create-only keys with a
// TTL), so every replica refuses a replay.
type kvReplay struct{ kv jetstream.KeyValue }

func (g kvReplay) Seen(ctx context.Context, key string, _ time.Time) (bool, error) {
	_, err := g.kv.Create(ctx, "replay."+key, nil, jetstream.KeyTTL(replayTTL))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true, nil
	}
	return false, err
}

// memReplay is the in-process fallback without NATS: a map bounded to max
// entries, oldest dropped first. Entries are inserted in time order with
// the same TTL, so a FIFO is also expiry order. Under a flood of more than
// max distinct valid requests in 10 minutes the oldest are forgotten early;
// a replica does not see another's signatures (Lambda without NATS runs
// one request per instance at a time, so replays across instances are
// possible there: configure NATS_URL to close that gap).
type memReplay struct {
	mu   sync.Mutex
	max  int
	seen map[string]time.Time
	fifo []string
}

func newMemReplay(max int) *memReplay {
	return &memReplay{max: max, seen: make(map[string]time.Time, max)}
}

func (g *memReplay) Seen(_ context.Context, key string, now time.Time) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.fifo) > 0 {
		k := g.fifo[0]
		if exp, ok := g.seen[k]; ok && now.Before(exp) && len(g.fifo) < g.max {
			break
		}
		delete(g.seen, k)
		g.fifo = g.fifo[1:]
	}
	if exp, ok := g.seen[key]; ok && now.Before(exp) {
		return true, nil
	}
	g.seen[key] = now.Add(replayTTL)
	g.fifo = append(g.fifo, key)
	return false, nil
}

// verifyError is why a request was refused; the message is safe to show.
type verifyError struct {
	status int
	err    error
}

func (e *verifyError) Error() string { return e.err.Error() }
func (e *verifyError) Unwrap() error { return e.err }

// readVerified reads the body (at most MaxBodyBytes), checks the Slack
// signature with any configured secret and refuses a replay. Nothing about
// the request is acted on before it returns nil.
func (s *Service) readVerified(r *http.Request) ([]byte, error) {
	if len(s.secrets) == 0 {
		return nil, &verifyError{http.StatusServiceUnavailable, errors.New("SLACK_SIGNING_SECRET is not configured")}
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, &verifyError{http.StatusRequestEntityTooLarge, errors.New("request body too large")}
	}
	body, err := readBody(r.Body, r.ContentLength, s.cfg.MaxBodyBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &verifyError{http.StatusRequestEntityTooLarge, errors.New("request body too large")}
		}
		return nil, &verifyError{http.StatusBadRequest, errors.New("reading request body failed")}
	}
	if int64(len(body)) > s.cfg.MaxBodyBytes {
		return nil, &verifyError{http.StatusRequestEntityTooLarge, errors.New("request body too large")}
	}
	now := s.now()
	if err := slacksig.Verify(r.Header, body, s.secrets, now); err != nil {
		return nil, &verifyError{http.StatusUnauthorized, err}
	}
	sum := sha256.Sum256([]byte(r.Header.Get(slacksig.HeaderSignature)))
	rctx, cancel := context.WithTimeout(r.Context(), replayCheckTimeout)
	defer cancel()
	seen, err := s.replay.Seen(rctx, hex.EncodeToString(sum[:16]), now)
	if err != nil {
		// Cannot tell whether it is a replay: refuse, Slack's user retries.
		return nil, &verifyError{http.StatusServiceUnavailable, errors.New("replay check unavailable")}
	}
	if seen {
		return nil, &verifyError{http.StatusUnauthorized, ErrReplayed}
	}
	return body, nil
}

// readBody reads at most max+1 bytes, in one allocation when the length is
// known.
func readBody(rd io.Reader, length, max int64) ([]byte, error) {
	if length > 0 && length <= max {
		buf := make([]byte, length, length+1)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		// anything past the declared length makes the body too large
		var one [1]byte
		if n, _ := rd.Read(one[:]); n > 0 {
			return append(buf, one[0]), nil
		}
		return buf, nil
	}
	return io.ReadAll(io.LimitReader(rd, max+1))
}
