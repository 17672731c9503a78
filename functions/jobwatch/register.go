package jobwatch

import (
	"context"
	"errors"

	"github.com/dlibot/dlibot/pkg/host"
	"github.com/sethvargo/go-envconfig"
)

// Registration plugs jobwatch into the host: ticks every JOBWATCH_INTERVAL,
// state in the KV bucket dlibot_jobwatch (NATS required).
func Registration() host.Registration {
	return host.Registration{
		Name: Name,
		New: func(ctx context.Context, env host.Env) (*host.Function, error) {
			cfg, err := LoadConfig(ctx, nil)
			if err != nil {
				return nil, err
			}
			if env.DLI == nil {
				return nil, errors.New("jobwatch: no DLI client configured (HUAWEICLOUD_SDK_* and DLI_REGION or DLI_ENDPOINT)")
			}
			if env.JS == nil {
				return nil, errors.New("jobwatch: needs NATS (NATS_URL): incidents live in the KV bucket " + Bucket)
			}
			w, err := New(ctx, Options{Config: cfg, DLI: env.DLI, JS: env.JS, Notifier: env.Notifier, Logger: env.Logger})
			if err != nil {
				return nil, err
			}
			return &host.Function{Name: Name, Handler: w.Handle, Tick: cfg.Interval, NeedsNATS: true}, nil
		},
		Config: func(ctx context.Context, l envconfig.Lookuper) (any, error) {
			c, err := LoadConfig(ctx, l)
			return &prefixed{Config: c}, err
		},
	}
}

// prefixed shows Config's variables with their JOBWATCH_ prefix in
// `dlibot config check`.
type prefixed struct {
	Config Config `env:",prefix=JOBWATCH_"`
}
