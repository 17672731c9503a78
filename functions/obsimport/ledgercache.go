package obsimport

import (
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// entryCacheSize bounds the entries a process remembers (about 400 bytes
// each).
const entryCacheSize = 4096

// entryCache remembers the ledger entries (f.<object>) this process last
// wrote or read, with their revision. A revision names one value for
// good (it is the stream sequence of the message that stored it), so when
// the server reports an entry's current revision — a create-only write
// refused with "wrong last sequence: N" — and the cache holds revision N,
// the cached value is the stored one and the read can be skipped. A
// redelivered or duplicate event, and a re-upload, then cost one round
// trip less. Anything else (another replica wrote the entry, the number
// is missing) reads the entry as before.
type entryCache struct {
	mu   sync.Mutex
	m    map[string]cachedEntry
	ring []string // keys in insertion order, for eviction
	next int
}

type cachedEntry struct {
	rev uint64
	val []byte
}

func newEntryCache(size int) *entryCache {
	return &entryCache{m: make(map[string]cachedEntry, size), ring: make([]string, size)}
}

// put records that key holds val at revision rev (val is not modified
// afterwards by the caller).
func (c *entryCache) put(key string, rev uint64, val []byte) {
	if c == nil || rev == 0 || !strings.HasPrefix(key, "f.") {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok {
		if old := c.ring[c.next]; old != "" {
			delete(c.m, old)
		}
		c.ring[c.next] = key
		c.next = (c.next + 1) % len(c.ring)
	}
	c.m[key] = cachedEntry{rev, val}
}

// at returns key's value at revision rev, or nil when not remembered.
func (c *entryCache) at(key string, rev uint64) []byte {
	if c == nil || rev == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok && e.rev == rev {
		return e.val
	}
	return nil
}

// has says whether key is remembered (at any revision).
func (c *entryCache) has(key string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[key]
	return ok
}

// currentRevision is the key's revision a refused revision-checked write
// reports ("wrong last sequence: N"), or 0 when it does not say.
func currentRevision(err error) uint64 {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		return 0
	}
	n, ok := strings.CutPrefix(apiErr.Description, "wrong last sequence: ")
	if !ok {
		return 0
	}
	rev, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return 0
	}
	return rev
}
