package chaos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Request is one HTTP request the load generator sends until a replica
// accepts it.
type Request struct {
	// Key identifies the request in the results (a CloudEvent id, an
	// object key).
	Key string
	// Path is the route, e.g. "/events".
	Path string
	// ContentType is the request content type.
	ContentType string
	// Body is the request body.
	Body []byte
	// Header adds request headers (e.g. Slack signatures), computed per
	// attempt when set.
	Header func() http.Header
}

// LoadOptions bounds a burst.
type LoadOptions struct {
	// Concurrency is the number of senders; default 8.
	Concurrency int
	// MaxAttempts bounds the attempts per request; default 30.
	MaxAttempts int
	// Timeout is the per-attempt HTTP timeout; default 2s.
	Timeout time.Duration
	// Deadline bounds the whole burst; default 2m.
	Deadline time.Duration
	// Accept says which statuses mean "stored"; default 2xx.
	Accept func(status int) bool
	// Pace, if set, is the minimum interval between requests started by
	// one sender.
	Pace time.Duration
	// Observe, if set, is called after every attempt with its status (0
	// for a transport error) and whether it was accepted; attacks use it
	// to strike mid-burst.
	Observe func(status int, accepted bool)
}

// LoadResult is what a burst saw.
type LoadResult struct {
	// Accepted maps each accepted request's key to the attempts it took.
	Accepted map[string]int
	// Failed lists the keys never accepted within the bounds.
	Failed []string
	// Statuses counts answers by HTTP status; 0 counts transport errors
	// (refused, reset, timeout).
	Statuses map[int]int
	// Latencies are the durations of accepted attempts.
	Latencies []time.Duration
	// Took is the wall time of the burst.
	Took time.Duration
	// Retried counts requests that needed more than one attempt.
	Retried int
}

// Percentile returns the p-th percentile (0–100) of the accepted
// latencies.
func (r *LoadResult) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	l := append([]time.Duration(nil), r.Latencies...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	i := int(p / 100 * float64(len(l)-1))
	return l[i]
}

// Send sends every request to the cluster's live replicas (round robin,
// moving to the next replica after a failed attempt) until each is
// accepted or the bounds run out. targets is called per attempt so
// restarted replicas (new ports) are picked up.
func Send(ctx context.Context, targets func() []string, reqs []Request, o LoadOptions) *LoadResult {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 30
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Deadline <= 0 {
		o.Deadline = 2 * time.Minute
	}
	if o.Accept == nil {
		o.Accept = func(s int) bool { return s >= 200 && s < 300 }
	}
	ctx, cancel := context.WithTimeout(ctx, o.Deadline)
	defer cancel()
	client := &http.Client{Timeout: o.Timeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: o.Concurrency, IdleConnTimeout: 5 * time.Second,
	}}
	defer client.CloseIdleConnections()

	res := &LoadResult{Accepted: map[string]int{}, Statuses: map[int]int{}}
	var mu sync.Mutex
	var rr atomic.Int64
	start := time.Now()
	work := make(chan Request)
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for req := range work {
				accepted := false
				attempt := 0
				for attempt < o.MaxAttempts && ctx.Err() == nil {
					attempt++
					ts := targets()
					if len(ts) == 0 {
						wait(ctx, 100*time.Millisecond)
						continue
					}
					base := ts[int(rr.Add(1))%len(ts)]
					t0 := time.Now()
					status := post(ctx, client, base, req)
					took := time.Since(t0)
					mu.Lock()
					res.Statuses[status]++
					if o.Accept(status) {
						res.Accepted[req.Key] = attempt
						res.Latencies = append(res.Latencies, took)
						if attempt > 1 {
							res.Retried++
						}
						accepted = true
					}
					mu.Unlock()
					if o.Observe != nil {
						o.Observe(status, accepted)
					}
					if accepted {
						break
					}
					wait(ctx, time.Duration(min(attempt, 10))*50*time.Millisecond)
				}
				if !accepted {
					mu.Lock()
					res.Failed = append(res.Failed, req.Key)
					mu.Unlock()
				}
				if o.Pace > 0 {
					wait(ctx, o.Pace)
				}
			}
		}()
	}
	for _, r := range reqs {
		work <- r
	}
	close(work)
	wg.Wait()
	res.Took = time.Since(start)
	return res
}

func post(ctx context.Context, client *http.Client, base string, r Request) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+r.Path, bytes.NewReader(r.Body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", r.ContentType)
	if r.Header != nil {
		for k, v := range r.Header() {
			req.Header[k] = v
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Eventually polls cond every 100 ms until it returns nil or timeout
// passes, and returns its last error.
func Eventually(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CheckExactlyOnce compares what a burst had accepted with what is stored
// (key → copies) and describes every lost or doubled key.
func CheckExactlyOnce(accepted map[string]int, stored map[string]int) error {
	var lost, doubled, unexpected []string
	for k := range accepted {
		switch n := stored[k]; {
		case n == 0:
			lost = append(lost, k)
		case n > 1:
			doubled = append(doubled, fmt.Sprintf("%s×%d", k, n))
		}
	}
	for k := range stored {
		if _, ok := accepted[k]; !ok {
			unexpected = append(unexpected, k)
		}
	}
	if len(lost)+len(doubled) == 0 {
		return nil
	}
	sort.Strings(lost)
	sort.Strings(doubled)
	return fmt.Errorf("%d lost %v, %d doubled %v (%d stored but never acknowledged, which is allowed)",
		len(lost), head(lost, 10), len(doubled), head(doubled, 10), len(unexpected))
}

func head(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "…")
	}
	return s
}
