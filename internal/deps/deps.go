//go:build tools

// Package deps pins the project's chosen dependencies while their users are written.
package deps

import (
	_ "github.com/aws/aws-lambda-go/lambda"
	_ "github.com/cloudevents/sdk-go/v2"
	_ "github.com/goccy/go-yaml"
	_ "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	_ "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go/jetstream"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/sethvargo/go-envconfig"
	_ "github.com/slack-go/slack"
)
