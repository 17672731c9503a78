package dli

import (
	"encoding/json"
	"iter"
	"time"
)

// Conversions between the SDK's pointer-heavy models and dlibot's types.

// deref returns *p, or the zero value when p is nil.
func deref[T any](p *T) T {
	if p == nil {
		var z T
		return z
	}
	return *p
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// opt returns a pointer to v, or nil when v is the zero value (an omitted
// optional field).
func opt[T comparable](v T) *T {
	var z T
	if v == z {
		return nil
	}
	return &v
}

// optSlice returns a pointer to s, or nil when s is empty.
func optSlice[T any](s []T) *[]T {
	if len(s) == 0 {
		return nil
	}
	return &s
}

// enumOf builds one of the SDK's enum values (a struct with an unexported
// string) from any string, through its UnmarshalJSON. It returns nil for "".
func enumOf[E any, P interface {
	*E
	UnmarshalJSON([]byte) error
}](s string) *E {
	if s == "" {
		return nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	var e E
	if err := P(&e).UnmarshalJSON(b); err != nil {
		return nil
	}
	return &e
}

// enumValue returns an SDK enum's string, "" for nil.
func enumValue[E interface{ Value() string }](p *E) string {
	if p == nil {
		return ""
	}
	return (*p).Value()
}

// msTime converts a millisecond UNIX timestamp; nil, 0 and negative values
// (DLI's "not started") give the zero time.
func msTime(p *int64) time.Time {
	if p == nil || *p <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(*p).UTC()
}

// msDuration converts milliseconds to a duration.
func msDuration(p *int64) time.Duration {
	if p == nil || *p <= 0 {
		return 0
	}
	return time.Duration(*p) * time.Millisecond
}

// toMS converts a time to a millisecond timestamp, nil for the zero time.
func toMS(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	return ptr(t.UnixMilli())
}

// Collect drains a paging iterator into a slice, stopping at the first
// error (returned with the items collected so far).
func Collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// failedSeq is an iteration that yields only err.
func failedSeq[T any](err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var z T
		yield(z, err)
	}
}

// offsetPages drives a listing addressed by item offset (Flink's offset,
// Spark's from): list returns the items from the given offset and the
// total count of the whole listing; pages hold size items and start at
// first.
func offsetPages[T any, K comparable](first, size int, list func(offset int) ([]T, int, error), key func(T) K) iter.Seq2[T, error] {
	return pages(func(page int) ([]T, int, error) {
		items, total, err := list(first + page*size)
		return items, max(0, total-first), err
	}, key, size)
}

// pages drives an offset-paged listing: fetch returns the page starting at
// the given item offset (or page index, per API) and the total count when
// the API reports one (-1 otherwise). Items whose key was already yielded
// (a job started meanwhile shifted the pages) are skipped.
func pages[T any, K comparable](next func(page int) ([]T, int, error), key func(T) K, pageSize int) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		seen := make(map[K]struct{})
		fetched := 0
		for page := 0; ; page++ {
			items, total, err := next(page)
			if err != nil {
				var z T
				yield(z, err)
				return
			}
			fetched += len(items)
			for _, it := range items {
				k := key(it)
				if _, dup := seen[k]; dup {
					continue
				}
				seen[k] = struct{}{}
				if !yield(it, nil) {
					return
				}
			}
			if len(items) == 0 || len(items) < pageSize || (total >= 0 && fetched >= total) {
				return
			}
		}
	}
}
