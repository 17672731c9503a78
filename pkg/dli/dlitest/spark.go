package dlitest

import "time"

// STUB: replaced by the Spark batch implementation (reference 10.1.x).

// BatchState is a Spark batch in the state snapshot.
type BatchState struct{}

type sparkState struct{}

func (s *sparkState) init()                              {}
func (s *sparkState) catchUp(e *Emulator, now time.Time) {}
func (s *sparkState) snapshot() []BatchState             { return nil }
func (e *Emulator) registerSpark()                       {}
func (s *sparkState) seed(e *Emulator)                   {}
