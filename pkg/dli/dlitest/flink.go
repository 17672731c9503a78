package dlitest

import "time"

// STUB: replaced by the Flink implementation (reference 9.6–9.10).

// FlinkJobState is a Flink job in the state snapshot.
type FlinkJobState struct{}

type flinkState struct{}

func (s *flinkState) init()                              {}
func (s *flinkState) catchUp(e *Emulator, now time.Time) {}
func (s *flinkState) snapshot() []FlinkJobState          { return nil }
func (e *Emulator) registerFlink()                       {}
func (s *flinkState) seed(e *Emulator)                   {}
