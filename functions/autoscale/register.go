package autoscale

import (
	"context"
	"errors"

	"github.com/sethvargo/go-envconfig"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/host"
)

// Registration plugs autoscale into the host: metrics on
// dlibot.in.metrics.*, a re-planning tick every AUTOSCALE_INTERVAL, state in
// the KV bucket dlibot_autoscale (NATS required).
func Registration() host.Registration {
	return host.Registration{
		Name: Name,
		New: func(ctx context.Context, env host.Env) (*host.Function, error) {
			cfg, err := LoadConfig(ctx, nil)
			if err != nil {
				return nil, err
			}
			if env.DLI == nil {
				return nil, errors.New("autoscale: no DLI client configured (HUAWEICLOUD_SDK_* and DLI_REGION or DLI_ENDPOINT)")
			}
			if env.JS == nil {
				return nil, errors.New("autoscale: needs NATS (NATS_URL): the load history lives in the KV bucket " + Bucket)
			}
			o := Options{Config: cfg, DLI: env.DLI, JS: env.JS, Notifier: env.Notifier, Logger: env.Logger}
			if env.Metrics != nil {
				o.Registerer = env.Metrics.Registry
				js, m := env.JS, env.Metrics
				o.Publish = func(ctx context.Context, subject string, e events.Event) error {
					_, err := events.Publish(ctx, js, subject, e, events.WithMsgID(e.Source()+" "+e.ID()))
					if err == nil {
						m.EventsOut.WithLabelValues(Name, e.Type()).Inc()
					}
					return err
				}
			}
			a, err := New(ctx, o)
			if err != nil {
				return nil, err
			}
			return &host.Function{Name: Name, Subjects: []string{events.SubjectsMetrics}, Handler: a.Handle,
				Tick: cfg.Interval, NeedsNATS: true}, nil
		},
		Config: func(ctx context.Context, l envconfig.Lookuper) (any, error) {
			c, err := LoadConfig(ctx, l)
			return &prefixed{Config: c}, err
		},
	}
}

// prefixed shows Config's variables with their AUTOSCALE_ prefix in
// `dlibot config check`.
type prefixed struct {
	Config Config `env:",prefix=AUTOSCALE_"`
}
