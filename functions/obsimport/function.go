package obsimport

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dlibot/dlibot/functions/obsimport/obsevent"
	"github.com/dlibot/dlibot/functions/obsimport/rules"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/host"
)

// Registration plugs obsimport into the host: cmd/dlibot registers it.
func Registration() host.Registration {
	return host.Registration{
		Name:   Name,
		Routes: []string{"POST " + WebhookPath},
		New:    NewFunction,
		Config: CheckConfig,
	}
}

// tryBody is the example notification `dlibot dev` prints.
const tryBody = `{"Records":[{"eventVersion":"3.0","eventSource":"OBS","eventRegion":"eu-de","eventTime":"2026-11-26T08:15:00.000Z","eventName":"ObjectCreated:Put","obs":{"Version":"1.0","bucket":{"name":"raw-data","bucket":"raw-data"},"object":{"key":"landing%2Fevents%2Fdt%3D2026-11-26%2Fpart-0001.csv","eTag":"0cc175b9c0f1b6a831c399e269772661","size":1024,"versionId":"null","sequencer":"1"}}}]}`

// devRules are the rules of `dlibot dev` when OBSIMPORT_RULES is unset:
// they match tryBody's object and import into the demo emulator's etl
// queue.
//
//go:embed devrules.yaml
var devRules []byte

// devRulesName names the built-in rules in errors and logs.
const devRulesName = "(built-in dev rules)"

// NewFunction builds obsimport for a host from OBSIMPORT_* and the rules
// file; bad configuration stops the start with a message naming the
// variable, file and line. Only `dlibot dev` (host.ModeDev) starts
// without OBSIMPORT_RULES: it uses built-in demo rules and logs a
// warning saying so.
func NewFunction(ctx context.Context, env host.Env) (*host.Function, error) {
	cfg, set, err := loadFunctionConfig(ctx, env)
	if err != nil {
		return nil, err
	}
	if env.JS == nil {
		return nil, errors.New("obsimport keeps its ledger in NATS KV and needs NATS_URL")
	}
	if env.DLI == nil {
		return nil, errors.New("obsimport needs DLI credentials (HUAWEICLOUD_SDK_AK/SK/PROJECT_ID, DLI_REGION or DLI_ENDPOINT)")
	}
	o := Options{
		Config: cfg, RuleSet: set, KV: env.JS, DLI: env.DLI, Notifier: env.Notifier, Publish: env.Publish,
		Logger: env.Logger, Background: env.Mode != host.ModeLambda,
	}
	if env.Metrics != nil {
		o.Registerer = env.Metrics.Registry
	}
	im, err := New(ctx, o)
	if err != nil {
		return nil, err
	}
	im.Start()
	var store func(ctx context.Context, subject string, e events.Event) error
	if env.Mode == host.ModeLambda {
		// A Lambda handles its events directly (no stream hop).
		store = func(ctx context.Context, subject string, e events.Event) error {
			out := im.Handle(ctx, e)
			if out.Kind() == events.KindRetry {
				return fmt.Errorf("%w: %s", host.ErrRetry, e.ID())
			}
			return nil
		}
	} else {
		in := &host.Ingester{JS: env.JS, Conn: env.NATS, Metrics: env.Metrics, Logger: env.Logger}
		store = func(ctx context.Context, subject string, e events.Event) error {
			_, err := in.Store(ctx, subject, e)
			return err
		}
	}
	wh := &Webhook{
		Store: store, Verify: cfg.SMNVerify, Confirm: cfg.SMNConfirm, Logger: env.Logger,
		SMN:     &obsevent.SMNVerifier{CertHosts: cfg.SMNHosts, TopicURNs: cfg.SMNTopics},
		Counted: func(result string) { im.m.objects.WithLabelValues(result).Inc() },
	}
	fn := &host.Function{
		Name:      Name,
		Subjects:  []string{events.SubjectsObs},
		Handler:   im.Handle,
		Routes:    []host.Route{{Method: "POST", Path: WebhookPath, Handler: wh}},
		NeedsNATS: true,
		Close:     im.Close,
		Try:       &host.Try{Post: &host.TryPost{Path: WebhookPath, ContentType: "application/json", Body: tryBody}},
	}
	// Raw OBS/S3/SMN notifications published on dlibot.in.obs.* (the
	// contract allows them) are converted by the consumer.
	fn.ConsumerConfig = func(c *events.Config) { c.Convert = ConvertRaw }
	if env.Mode == host.ModeLambda {
		// No background workers in Lambda: a schedule advances the queues
		// and follows running jobs.
		fn.Tick = max(cfg.SweepInterval, time.Minute)
	}
	return fn, nil
}

// loadFunctionConfig reads OBSIMPORT_* and the rules; in dev mode unset
// OBSIMPORT_RULES means the built-in dev rules.
func loadFunctionConfig(ctx context.Context, env host.Env) (Config, *rules.Set, error) {
	cfg, err := readConfig(ctx, nil)
	if err != nil {
		return cfg, nil, err
	}
	if cfg.Rules != "" || env.Mode != host.ModeDev {
		if err := cfg.Validate(); err != nil {
			return cfg, nil, err
		}
		set, err := rules.Load(cfg.Rules)
		if err != nil {
			return cfg, nil, fmt.Errorf("OBSIMPORT_RULES: %w", err)
		}
		return cfg, set, nil
	}
	if err := cfg.validateSettings(); err != nil {
		return cfg, nil, err
	}
	set, err := rules.Parse(devRulesName, devRules)
	if err != nil {
		return cfg, nil, err
	}
	if env.Logger != nil {
		env.Logger.Warn("obsimport: OBSIMPORT_RULES unset; using the built-in dev rules (bucket raw-data, landing/<table>/dt=<day>/ into analytics.<table> on queue etl)")
	}
	return cfg, set, nil
}

// TypeIgnored is the internal event ConvertRaw yields for a raw
// notification that carries no object to import (a test event, a delete,
// a folder marker): the handler acknowledges it and counts the reasons.
const TypeIgnored = "dlibot.obsimport.ignored"

// ConvertRaw is the consumer's converter for raw notifications on
// dlibot.in.obs.*: every object becomes a normalised object.created event
// (stable ids, so redeliveries dedupe); a notification with nothing to
// import becomes one TypeIgnored event. A notification that does not
// decode is an error (the consumer dead-letters it with the reason).
func ConvertRaw(subject string, header nats.Header, body []byte) ([]events.Event, error) {
	res, err := obsevent.Decode(header, body)
	if err != nil {
		return nil, err
	}
	var out []events.Event
	for _, o := range res.Objects {
		e, err := o.Event()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		reasons := make([]string, 0, len(res.Ignored))
		for _, ig := range res.Ignored {
			reasons = append(reasons, ig.Reason)
		}
		sum := sha256.Sum256(body)
		e, err := events.NewEvent(hex.EncodeToString(sum[:16]), events.FunctionSource(Name), TypeIgnored, map[string]any{"reasons": reasons})
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
