package main

import (
	"github.com/dlibot/dlibot/functions/chatops"
	"github.com/dlibot/dlibot/pkg/host"
)

// chatops: /dli in Slack (POST /slack/commands, POST /slack/interactions).
func init() { host.Register(chatops.Registration()) }
