package main

import (
	"github.com/dlibot/dlibot/functions/autoscale"
	"github.com/dlibot/dlibot/pkg/host"
)

func init() { host.Register(autoscale.Registration()) }
