package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/dlibot/dlibot/pkg/notify/blockkit"
)

// DefaultAPIURL is Slack's Web API base URL.
const DefaultAPIURL = slack.APIURL

// Config is the Slack part of dlibot's configuration (contract variables of DESIGN.md).
type Config struct {
	// Token is the bot token (xoxb-…) with the chat:write scope (files:write for uploads). Empty
	// selects the console notifier in New. Never logged: Config's String and LogValue redact it.
	Token string `env:"SLACK_BOT_TOKEN"`
	// APIURL overrides the Web API base URL (default https://slack.com/api/), e.g. to point at the
	// slacktest fake. A missing trailing "/" is added.
	APIURL string `env:"SLACK_API_URL"`
	// Channel is the default channel for messages that name none (an ID such as C0123ABCD, or a
	// name). Optional.
	Channel string `env:"SLACK_CHANNEL"`
}

// Validate checks the API URL; an empty token is valid (console mode).
func (c Config) Validate() error {
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("notify: SLACK_API_URL %q is not an http(s) URL", c.APIURL)
		}
	}
	if strings.ContainsAny(c.Token, " \t\r\n") {
		return errors.New("notify: SLACK_BOT_TOKEN contains whitespace")
	}
	return nil
}

// String describes c with the token redacted.
func (c Config) String() string {
	return fmt.Sprintf("{Token:%s APIURL:%s Channel:%s}", redacted(c.Token), c.APIURL, c.Channel)
}

// LogValue logs c with the token redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token", redacted(c.Token)),
		slog.String("api_url", c.APIURL),
		slog.String("channel", c.Channel),
	)
}

func redacted(secret string) string {
	if secret == "" {
		return ""
	}
	return "[REDACTED]"
}

// HTTPDoer is the HTTP client the Slack notifier uses (*http.Client satisfies it).
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// Option configures a notifier. Options validate their argument; New, NewSlack and NewConsole
// return the error.
type Option func(*options) error

type options struct {
	clock      Clock
	httpClient HTTPDoer
	logger     *slog.Logger
	interval   time.Duration
	maxRetries int
	maxWait    time.Duration
}

func defaultOptions() options {
	return options{
		clock:      SystemClock{},
		httpClient: &http.Client{Timeout: 15 * time.Second},
		logger:     slog.New(slog.DiscardHandler),
		interval:   time.Second,
		maxRetries: 3,
		maxWait:    30 * time.Second,
	}
}

// WithClock sets the clock used for pacing and Retry-After waits (default the system clock).
func WithClock(c Clock) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("notify: nil clock")
		}
		o.clock = c
		return nil
	}
}

// WithHTTPClient sets the HTTP client (default: *http.Client with a 15 s timeout).
func WithHTTPClient(c HTTPDoer) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("notify: nil HTTP client")
		}
		o.httpClient = c
		return nil
	}
}

// WithLogger sets the logger for retries and waits (default: discard). The token is never logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("notify: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithChannelInterval sets the minimum gap between two writes (posts, replies, updates, uploads) to
// one channel. Default 1 s, Slack's "about one message per second per channel"; 0 turns pacing off
// (tests). Negative is an error. Pacing is per process: replicas posting to one channel at once
// rely on the 429 handling.
func WithChannelInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("notify: negative channel interval %s", d)
		}
		o.interval = d
		return nil
	}
}

// WithMaxRetries sets how many times one call is re-sent after a 429 (default 3; 0 = never).
// 5xx and network errors are not re-sent here (the message may have been posted): they come back
// as retryable errors for the caller's own retry.
func WithMaxRetries(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("notify: negative max retries %d", n)
		}
		o.maxRetries = n
		return nil
	}
}

// WithMaxWait sets the longest the notifier waits itself, for a Retry-After or for the channel's
// pacing slot (default 30 s). A longer wait is returned at once as a retryable ErrRateLimited
// carrying RetryAfter, so the caller can schedule the retry (e.g. a Retry(after) outcome) instead of
// holding a worker.
func WithMaxWait(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("notify: negative max wait %s", d)
		}
		o.maxWait = d
		return nil
	}
}

// New returns the Slack notifier when cfg has a token, otherwise a console notifier writing to
// console (os.Stdout in `dlibot dev`).
func New(cfg Config, console io.Writer, opts ...Option) (Notifier, error) {
	if cfg.Token == "" {
		return NewConsole(console, cfg.Channel, opts...)
	}
	return NewSlack(cfg, opts...)
}

// Slack is the Notifier for the Slack Web API. It is safe for concurrent use.
type Slack struct {
	api     *slack.Client
	token   string
	channel string
	opts    options
	pacer   *pacer
	ids     sync.Map // channel name → ID, learned from chat.postMessage answers, so pacing keys agree
}

var _ Notifier = (*Slack)(nil)

// NewSlack returns a Slack notifier for cfg, which must have a token.
func NewSlack(cfg Config, opts ...Option) (*Slack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, errors.New("notify: SLACK_BOT_TOKEN is empty")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.interval > o.maxWait {
		return nil, fmt.Errorf("notify: channel interval %s is longer than the max wait %s", o.interval, o.maxWait)
	}
	apiURL := cfg.APIURL
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	api := slack.New(cfg.Token, slack.OptionAPIURL(apiURL), slack.OptionHTTPClient(o.httpClient))
	return &Slack{
		api:     api,
		token:   cfg.Token,
		channel: cfg.Channel,
		opts:    o,
		pacer:   newPacer(o.clock, o.interval),
	}, nil
}

// Post implements Notifier (chat.postMessage).
func (s *Slack) Post(ctx context.Context, msg Message) (Ref, error) {
	op := "post"
	if msg.ThreadTS != "" {
		op = "reply"
	}
	return s.post(ctx, op, msg)
}

// Reply implements Notifier (chat.postMessage with thread_ts).
func (s *Slack) Reply(ctx context.Context, parent Ref, msg Message) (Ref, error) {
	if parent.IsZero() || parent.Channel == "" || parent.TS == "" {
		return Ref{}, localError("reply", parent.Channel, fmt.Errorf("%w: reply needs a parent ref with channel and ts", ErrInvalidMessage))
	}
	root := parent.Root()
	msg.Channel, msg.ThreadTS = root.Channel, root.TS
	return s.post(ctx, "reply", msg)
}

func (s *Slack) post(ctx context.Context, op string, msg Message) (Ref, error) {
	ch := msg.Channel
	if ch == "" {
		ch = s.channel
	}
	if ch == "" {
		return Ref{}, localError(op, "", ErrNoChannel)
	}
	text, blocks, err := prepare(msg)
	if err == nil {
		err = msg.Validate()
	}
	if err != nil {
		return Ref{}, localError(op, ch, err)
	}
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionDisableLinkUnfurl()}
	if len(blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(blocks...))
	}
	if msg.ThreadTS != "" {
		opts = append(opts, slack.MsgOptionTS(msg.ThreadTS))
		if msg.Broadcast {
			opts = append(opts, slack.MsgOptionBroadcast())
		}
	}
	var ref Ref
	err = s.do(ctx, op, ch, func(ctx context.Context) error {
		gotCh, ts, err := s.api.PostMessageContext(ctx, ch, opts...)
		if err == nil {
			if gotCh == "" {
				gotCh = ch
			}
			ref = Ref{Channel: gotCh, TS: ts, ThreadTS: msg.ThreadTS}
			if gotCh != ch {
				if _, known := s.ids.LoadOrStore(ch, gotCh); !known {
					s.pacer.alias(ch, gotCh)
				}
			}
		}
		return err
	})
	return ref, err
}

// Update implements Notifier (chat.update).
func (s *Slack) Update(ctx context.Context, ref Ref, msg Message) error {
	if ref.Channel == "" || ref.TS == "" {
		return localError("update", ref.Channel, fmt.Errorf("%w: update needs a ref with channel and ts", ErrInvalidMessage))
	}
	text, blocks, err := prepare(msg)
	if err == nil {
		err = msg.Validate()
	}
	if err != nil {
		return localError("update", ref.Channel, err)
	}
	opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
	if len(blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(blocks...))
	}
	return s.do(ctx, "update", ref.Channel, func(ctx context.Context) error {
		_, _, _, err := s.api.UpdateMessageContext(ctx, ref.Channel, ref.TS, opts...)
		return err
	})
}

// Upload implements Notifier with Slack's external upload flow (files.getUploadURLExternal, the
// upload itself, files.completeUploadExternal). A retry after a 429 restarts the flow.
func (s *Slack) Upload(ctx context.Context, f File) (FileRef, error) {
	ch := f.Channel
	if ch == "" {
		ch = s.channel
	}
	if ch == "" {
		return FileRef{}, localError("upload", "", ErrNoChannel)
	}
	if err := f.Validate(); err != nil {
		return FileRef{}, localError("upload", ch, err)
	}
	title := f.Title
	if title == "" {
		title = f.Name
	}
	var out FileRef
	err := s.do(ctx, "upload", ch, func(ctx context.Context) error {
		sum, err := s.api.UploadFileContext(ctx, slack.UploadFileParameters{
			Reader:          bytes.NewReader(f.Content),
			FileSize:        len(f.Content),
			Filename:        f.Name,
			Title:           title,
			InitialComment:  blockkit.Truncate(f.Comment, blockkit.MaxSectionText),
			AltTxt:          blockkit.Clip(f.AltText, blockkit.MaxImageAltText),
			Channel:         ch,
			ThreadTimestamp: f.ThreadTS,
		})
		if err == nil {
			out = FileRef{ID: sum.ID, Channel: ch}
		}
		return err
	})
	return out, err
}

// do runs call for one channel: paced, re-sent after 429s up to maxRetries times as long as Slack's
// Retry-After is within maxWait, and with its error classified.
func (s *Slack) do(ctx context.Context, op, ch string, call func(context.Context) error) error {
	key := ch
	if id, ok := s.ids.Load(ch); ok {
		key = id.(string)
	}
	for attempt := 0; ; attempt++ {
		if err := s.pacer.wait(ctx, key, s.opts.maxWait); err != nil {
			return classify(op, ch, err, s.token)
		}
		err := call(ctx)
		if err == nil {
			return nil
		}
		e := classify(op, ch, err, s.token)
		if !errors.Is(e, ErrRateLimited) {
			s.opts.logger.LogAttrs(ctx, slog.LevelDebug, "slack call failed",
				slog.String("op", op), slog.String("channel", ch), slog.String("code", e.Code),
				slog.Bool("retryable", e.Retryable), slog.String("error", e.Error()))
			return e
		}
		// Everyone writing to this channel waits, not just this call.
		s.pacer.hold(key, e.RetryAfter)
		if attempt >= s.opts.maxRetries || e.RetryAfter > s.opts.maxWait {
			s.opts.logger.LogAttrs(ctx, slog.LevelWarn, "slack rate limit: giving up",
				slog.String("op", op), slog.String("channel", ch),
				slog.Duration("retry_after", e.RetryAfter), slog.Int("attempts", attempt+1))
			return e
		}
		s.opts.logger.LogAttrs(ctx, slog.LevelInfo, "slack rate limit: waiting",
			slog.String("op", op), slog.String("channel", ch),
			slog.Duration("retry_after", e.RetryAfter), slog.Int("attempt", attempt+1))
	}
}

// prepare applies Block Kit limits and derives the fallback text. It fails with ErrEmptyMessage
// when nothing is left to send (e.g. only nil blocks).
func prepare(msg Message) (string, []slack.Block, error) {
	blocks := blockkit.Fit(msg.Blocks)
	text := msg.Text
	if strings.TrimSpace(text) == "" {
		text = blockkit.Fallback(blocks)
	}
	if strings.TrimSpace(text) == "" && len(blocks) == 0 {
		return "", nil, ErrEmptyMessage
	}
	return blockkit.FitText(text), blocks, nil
}
