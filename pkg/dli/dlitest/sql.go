package dlitest

import "time"

// STUB: replaced by the SQL jobs and imports implementation (reference 7.3.x).

// SQLJobState is a SQL job in the state snapshot.
type SQLJobState struct{}

// ImportState is an import job in the state snapshot.
type ImportState struct{}

type sqlState struct{}

func (s *sqlState) init()                                    {}
func (s *sqlState) catchUp(e *Emulator, now time.Time)       {}
func (s *sqlState) snapshot() ([]SQLJobState, []ImportState) { return nil, nil }
func (e *Emulator) registerSQL()                             {}
func (s *sqlState) seed(e *Emulator)                         {}
