package chatops

import (
	"context"
	"errors"
	"net/http"

	"github.com/sethvargo/go-envconfig"

	"github.com/dlibot/dlibot/functions/chatops/policy"
	"github.com/dlibot/dlibot/pkg/host"
)

// DevUser is the Slack user `dlibot slack` sends as; `dlibot dev` without
// CHATOPS_POLICY makes it admin.
const DevUser = "U0DLIBOTDEV"

// devPolicy is the policy of `dlibot dev` when CHATOPS_POLICY is unset.
const devPolicy = `# dlibot dev: built-in policy (set CHATOPS_POLICY to use your own)
roles:
  viewer:   {commands: [help, whoami, queues, queue, plans, "flink list", "flink show", "spark list",
                        "spark show", "spark logs", jobs, "sql status", "sql result", sql]}
  operator: {inherits: viewer, commands: [scale, "plan add", "plan rm", "flink stop", "flink start",
                        "spark cancel", "sql cancel"], max_cu: 256}
  admin:    {commands: ["*"]}
grants:
  - {user: ` + DevUser + `, role: admin}
protected_queues: [prod]
`

// Registration is chatops' entry for the host registry.
func Registration() host.Registration {
	return host.Registration{
		Name:   "chatops",
		Routes: []string{"POST /slack/commands", "POST /slack/interactions"},
		New:    NewFunction,
		Config: CheckConfig,
	}
}

// Settings is chatops' configuration as `dlibot config check` lists it
// (CHATOPS_* names).
type Settings struct {
	// Config holds the CHATOPS_* variables.
	Config Config `env:",prefix=CHATOPS_"`
}

// CheckConfig reads and validates CHATOPS_* and the policy file, for
// `dlibot config check`. It always returns a *Settings (defaults where a
// variable did not parse).
func CheckConfig(ctx context.Context, l envconfig.Lookuper) (any, error) {
	cfg, err := LoadConfig(ctx, l)
	if err != nil {
		return &Settings{}, err
	}
	if cfg.Policy == "" {
		return &Settings{Config: *cfg}, errors.New("CHATOPS_POLICY: required (the policy YAML); only `dlibot dev` runs without it")
	}
	if _, err := policy.Load(cfg.Policy); err != nil {
		return &Settings{Config: *cfg}, err
	}
	return &Settings{Config: *cfg}, nil
}

// NewFunction builds chatops for a host: the two Slack routes and a tick
// for reverts and SQL watches. Without NATS it serves read-only commands.
func NewFunction(ctx context.Context, env host.Env) (*host.Function, error) {
	cfg, err := LoadConfig(ctx, envconfig.OsLookuper())
	if err != nil {
		return nil, err
	}
	log := env.Logger
	var pol *policy.Policy
	switch {
	case cfg.Policy != "":
		if pol, err = policy.Load(cfg.Policy); err != nil {
			return nil, err
		}
	case env.Mode == host.ModeDev:
		if pol, err = policy.Parse("(built-in dev policy)", []byte(devPolicy)); err != nil {
			return nil, err
		}
		if log != nil {
			log.Warn("chatops: CHATOPS_POLICY unset; dev policy makes " + DevUser + " (dlibot slack's user) admin")
		}
	default:
		return nil, errors.New("CHATOPS_POLICY is required: the path of the chatops policy YAML (see docs/chatops.md)")
	}
	if env.Mode == host.ModeDev {
		cfg.ResponseURLHosts = append(cfg.ResponseURLHosts, "127.0.0.1", "localhost")
		cfg.ResponseURLAllowHTTP = true
	}
	if env.DLI == nil {
		return nil, errors.New("chatops needs DLI access: set HUAWEICLOUD_SDK_AK/SK/PROJECT_ID and DLI_REGION or DLI_ENDPOINT")
	}
	var secrets []string
	var groups interface {
		Groups(ctx context.Context, user string) []string
	}
	if env.Config != nil {
		secrets = env.Config.SlackSecrets()
		if pol.HasGroupGrants() {
			if env.Config.SlackBotToken == "" {
				if log != nil {
					log.Warn("chatops: the policy grants roles to user groups, but SLACK_BOT_TOKEN is unset: group grants never match")
				}
			} else {
				groups = NewSlackGroups(cfg, env.Config.SlackBotToken, env.Config.SlackAPIURL, nil, log)
			}
		}
	}
	svc, err := New(ctx, Options{Config: cfg, Policy: pol, DLI: env.DLI, JS: env.JS, Secrets: secrets,
		Notifier: env.Notifier, Publish: env.Publish, Logger: log, Groups: groups,
		Lambda: env.Mode == host.ModeLambda})
	if err != nil {
		return nil, err
	}
	if svc.ReadOnly() && log != nil {
		log.Warn("chatops: no NATS: read-only commands only; changes answer \"needs NATS\"")
		if env.Mode == host.ModeLambda {
			log.Warn("chatops: no NATS in Lambda: a command slower than CHATOPS_ACK_BUDGET cannot be kept for later; its \"working…\" answer says the result may not follow")
		}
	}
	return &host.Function{
		Name: "chatops",
		Routes: []host.Route{
			{Method: http.MethodPost, Path: "/slack/commands", Handler: http.HandlerFunc(svc.ServeCommand)},
			{Method: http.MethodPost, Path: "/slack/interactions", Handler: http.HandlerFunc(svc.ServeInteraction)},
		},
		Handler:   svc.HandleTick,
		Tick:      cfg.Tick,
		NeedsNATS: false,
		Close:     svc.Close,
		Try:       &host.Try{Slack: "/dli queues"},
	}, nil
}
