package dlitest

import "time"

// STUB: replaced by the queues/plans implementation (reference 6.3–6.10).

// QueueState is a queue in the state snapshot.
type QueueState struct{}

// PlanState is a scheduled CU change in the state snapshot.
type PlanState struct{}

type queueState struct{}

func (s *queueState) init()                                 {}
func (s *queueState) catchUp(e *Emulator, now time.Time)    {}
func (s *queueState) snapshot() ([]QueueState, []PlanState) { return nil, nil }
func (e *Emulator) registerQueues()                         {}
func (s *queueState) seed(e *Emulator)                      {}

// queueExists reports whether a queue of that name exists. Caller holds e.mu.
func (e *Emulator) queueExists(name string) bool { return true }
