package main

import (
	"github.com/dlibot/dlibot/functions/obsimport"
	"github.com/dlibot/dlibot/pkg/host"
)

func init() { host.Register(obsimport.Registration()) }
