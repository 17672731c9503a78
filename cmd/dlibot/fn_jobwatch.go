package main

import (
	"github.com/dlibot/dlibot/functions/jobwatch"
	"github.com/dlibot/dlibot/pkg/host"
)

func init() { host.Register(jobwatch.Registration()) }
