package dlitest

import (
	"container/heap"
	"slices"
	"sort"
	"time"
)

// Scheduled transitions of the Flink jobs and Spark batches: each job
// holds a jobTimer, the area a dueQueue of the transitions to come.

// dueItem is a scheduled transition of the resource key; gen must still
// match the resource's gen when it pops, otherwise it was superseded.
type dueItem[K comparable] struct {
	at  time.Time
	gen uint64
	key K
}

// dueQueue is a min-heap of dueItems by time (container/heap).
type dueQueue[K comparable] struct{ items []dueItem[K] }

func (q dueQueue[K]) Len() int { return len(q.items) }
func (q dueQueue[K]) Less(i, j int) bool {
	return q.items[i].at.Before(q.items[j].at)
}
func (q dueQueue[K]) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *dueQueue[K]) Push(x any)   { q.items = append(q.items, x.(dueItem[K])) }
func (q *dueQueue[K]) Pop() any {
	n := len(q.items)
	it := q.items[n-1]
	q.items = q.items[:n-1]
	return it
}

// jobTimer is a job's pending transition.
type jobTimer struct {
	// gen identifies the scheduled transition; a queued item whose gen
	// differs is stale.
	gen uint64
	due time.Time // zero: nothing scheduled
}

// unschedule drops the pending transition.
func (t *jobTimer) unschedule() {
	t.gen++
	t.due = time.Time{}
}

// timer returns t itself, so that a job embedding a jobTimer is timed.
func (t *jobTimer) timer() *jobTimer { return t }

// timed is a job (a pointer) that embeds a jobTimer.
type timed interface {
	comparable
	timer() *jobTimer
}

// schedule arranges for the transition of the job with key at t, replacing
// any other the job's timer tm has pending.
func (q *dueQueue[K]) schedule(tm *jobTimer, key K, t time.Time) {
	tm.gen++
	tm.due = t
	heap.Push(q, dueItem[K]{at: t, gen: tm.gen, key: key})
}

// catchUpDue pops every transition of q due at or before now and, unless
// its job is gone or has been rescheduled since, clears the job's timer
// and calls step with the job and the transition's own instant. It is O(1)
// when nothing is due.
func catchUpDue[K comparable, J timed](q *dueQueue[K], byID map[K]J, now time.Time, step func(J, time.Time)) {
	var none J
	for q.Len() > 0 && !q.items[0].at.After(now) {
		it := heap.Pop(q).(dueItem[K])
		j := byID[it.key]
		if j == none || j.timer().gen != it.gen {
			continue
		}
		j.timer().due = time.Time{}
		step(j, it.at)
	}
}

// insertByCreateTime inserts j into jobs, ordered by create time, after
// every job created at the same instant.
func insertByCreateTime[J any](jobs []J, j J, created func(J) time.Time) []J {
	n := len(jobs)
	if n == 0 || !created(j).Before(created(jobs[n-1])) {
		return append(jobs, j)
	}
	i := sort.Search(n, func(i int) bool { return created(jobs[i]).After(created(j)) })
	return slices.Insert(jobs, i, j)
}
