package chatops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/dlibot/dlibot/pkg/notify/blockkit"
)

// Errors of the responder.
var (
	// ErrResponseURL reports a response_url outside the allowed hosts or
	// schemes; it is never contacted.
	ErrResponseURL = errors.New("chatops: response_url not allowed")
	// ErrResponseBudget reports a response_url whose uses (5 in 30
	// minutes) are spent or whose window is over.
	ErrResponseBudget = errors.New("chatops: response_url budget spent")
)

// message is a reply as Slack takes it, in the HTTP answer or on a
// response_url.
type message struct {
	ResponseType    string        `json:"response_type,omitempty"`
	ReplaceOriginal bool          `json:"replace_original,omitempty"`
	Text            string        `json:"text"`
	Blocks          []slack.Block `json:"blocks,omitempty"`
}

// responder posts to response URLs: only to allowed hosts, without
// following redirects, at most budget times per URL within window, keeping
// the last use for a final message.
type responder struct {
	client    *http.Client
	hosts     []string
	allowHTTP bool
	budget    int
	window    time.Duration
	now       func() time.Time

	mu     sync.Mutex
	uses   map[string]*use
	pruned time.Time
}

type use struct {
	first time.Time
	n     int
}

func newResponder(cfg *Config, client *http.Client, now func() time.Time) *responder {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &responder{client: &c, hosts: cfg.ResponseURLHosts, allowHTTP: cfg.ResponseURLAllowHTTP,
		budget: cfg.ResponseBudget, window: cfg.ResponseWindow, now: now, uses: map[string]*use{}}
}

// allowed checks the URL's scheme and host.
func (r *responder) allowed(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" {
		return ErrResponseURL
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !r.allowHTTP {
			return ErrResponseURL
		}
	default:
		return ErrResponseURL
	}
	h := strings.ToLower(u.Hostname())
	for _, a := range r.hosts {
		if h == a || (strings.HasPrefix(a, ".") && strings.HasSuffix(h, a)) {
			return nil
		}
	}
	return ErrResponseURL
}

// prune forgets URLs whose window is over, at most once a minute (the map
// only holds URLs that were used: most commands answer inline).
func (r *responder) prune(now time.Time) {
	if now.Sub(r.pruned) < time.Minute {
		return
	}
	r.pruned = now
	for k, u := range r.uses {
		if now.Sub(u.first) > 2*r.window { // kept a while to refuse late uses
			delete(r.uses, k)
		}
	}
}

// reserve takes one use of raw; a non-final message may not take the last
// one. The window counts from the first use (the command itself is a bit
// older; Slack refuses a late post, and callers then fall back to the
// channel).
func (r *responder) reserve(raw string, final bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.prune(now)
	u, ok := r.uses[raw]
	if !ok {
		u = &use{first: now}
		r.uses[raw] = u
	}
	if now.Sub(u.first) > r.window {
		return ErrResponseBudget
	}
	limit := r.budget
	if !final && limit > 1 {
		limit--
	}
	if u.n >= limit {
		return ErrResponseBudget
	}
	u.n++
	return nil
}

// remaining reports how many uses raw has left (for tests and decisions).
func (r *responder) remaining(raw string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u, ok := r.uses[raw]; ok {
		if r.now().Sub(u.first) > r.window {
			return 0
		}
		return r.budget - u.n
	}
	return r.budget
}

// post sends m to raw.
func (r *responder) post(ctx context.Context, raw string, m message, final bool) error {
	if err := r.allowed(raw); err != nil {
		return err
	}
	if err := r.reserve(raw, final); err != nil {
		return err
	}
	m.Blocks = blockkit.Fit(m.Blocks)
	m.Text = blockkit.FitText(m.Text)
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, raw, bytes.NewReader(b))
	if err != nil {
		return ErrResponseURL
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("chatops: posting to response_url: %w", scrubURL(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("chatops: response_url answered %s", resp.Status)
	}
	return nil
}

// scrubURL drops the URL (a bearer capability) from a client error.
func scrubURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
