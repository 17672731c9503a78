package notify

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/dlibot/dlibot/pkg/notify/blockkit"
)

// Console is the Notifier for `dlibot dev` without a Slack token: it prints each message as plain
// text (blockkit.Plain of the fitted blocks, or the text) to a writer, thread replies indented under
// a "↳" line, and answers with Refs shaped like Slack's (ts "<start unix seconds>.<sequence>"), so
// the functions run exactly as they would against Slack. It is safe for concurrent use; each
// message is written in one Write call.
type Console struct {
	w       io.Writer
	channel string
	base    int64

	mu  sync.Mutex
	seq int
}

var _ Notifier = (*Console)(nil)

// NewConsole returns a Console writing to w, with defaultChannel for messages that name none
// ("#dlibot" when empty). Of the options only WithClock matters (it sets the ts base).
func NewConsole(w io.Writer, defaultChannel string, opts ...Option) (*Console, error) {
	if w == nil {
		return nil, fmt.Errorf("notify: console notifier needs a writer")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if defaultChannel == "" {
		defaultChannel = "#dlibot"
	}
	return &Console{w: w, channel: defaultChannel, base: o.clock.Now().Unix()}, nil
}

func (c *Console) nextTS() string {
	c.seq++
	return fmt.Sprintf("%d.%06d", c.base, c.seq)
}

// Post implements Notifier.
func (c *Console) Post(ctx context.Context, msg Message) (Ref, error) {
	op := "post"
	if msg.ThreadTS != "" {
		op = "reply"
	}
	return c.post(ctx, op, msg)
}

// Reply implements Notifier.
func (c *Console) Reply(ctx context.Context, parent Ref, msg Message) (Ref, error) {
	if parent.Channel == "" || parent.TS == "" {
		return Ref{}, localError("reply", parent.Channel, fmt.Errorf("%w: reply needs a parent ref with channel and ts", ErrInvalidMessage))
	}
	root := parent.Root()
	msg.Channel, msg.ThreadTS = root.Channel, root.TS
	return c.post(ctx, "reply", msg)
}

func (c *Console) post(ctx context.Context, op string, msg Message) (Ref, error) {
	if err := ctx.Err(); err != nil {
		return Ref{}, classify(op, msg.Channel, err, "")
	}
	ch := msg.Channel
	if ch == "" {
		ch = c.channel
	}
	if _, _, err := prepare(msg); err != nil {
		return Ref{}, localError(op, ch, err)
	}
	if err := msg.Validate(); err != nil {
		return Ref{}, localError(op, ch, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ref := Ref{Channel: ch, TS: c.nextTS(), ThreadTS: msg.ThreadTS}
	var head string
	if msg.ThreadTS != "" {
		head = fmt.Sprintf("↳ reply in %s thread %s  ts=%s", ch, msg.ThreadTS, ref.TS)
		if msg.Broadcast {
			head += "  (also sent to channel)"
		}
	} else {
		head = fmt.Sprintf("▶ slack %s  ts=%s", ch, ref.TS)
	}
	return ref, c.write(head, msg, msg.ThreadTS != "")
}

// Update implements Notifier.
func (c *Console) Update(ctx context.Context, ref Ref, msg Message) error {
	if err := ctx.Err(); err != nil {
		return classify("update", ref.Channel, err, "")
	}
	if ref.Channel == "" || ref.TS == "" {
		return localError("update", ref.Channel, fmt.Errorf("%w: update needs a ref with channel and ts", ErrInvalidMessage))
	}
	if _, _, err := prepare(msg); err != nil {
		return localError("update", ref.Channel, err)
	}
	if err := msg.Validate(); err != nil {
		return localError("update", ref.Channel, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.write(fmt.Sprintf("✎ edited %s ts=%s", ref.Channel, ref.TS), msg, ref.ThreadTS != "")
}

// Upload implements Notifier: it prints the file's name, size and comment, not its bytes.
func (c *Console) Upload(ctx context.Context, f File) (FileRef, error) {
	if err := ctx.Err(); err != nil {
		return FileRef{}, classify("upload", f.Channel, err, "")
	}
	ch := f.Channel
	if ch == "" {
		ch = c.channel
	}
	if err := f.Validate(); err != nil {
		return FileRef{}, localError("upload", ch, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	id := fmt.Sprintf("F%08d", c.seq)
	var b strings.Builder
	where := ch
	if f.ThreadTS != "" {
		where += " thread " + f.ThreadTS
	}
	fmt.Fprintf(&b, "📎 file %s (%d bytes) → %s  id=%s\n", f.Name, len(f.Content), where, id)
	if f.Title != "" && f.Title != f.Name {
		fmt.Fprintf(&b, "    title: %s\n", f.Title)
	}
	if f.Comment != "" {
		for _, l := range strings.Split(blockkit.Unescape(f.Comment), "\n") {
			b.WriteString("    " + l + "\n")
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(c.w, b.String())
	if err != nil {
		return FileRef{}, &Error{Op: "upload", Channel: ch, Kind: ErrUnavailable, Retryable: true, Err: err}
	}
	return FileRef{ID: id, Channel: ch}, nil
}

// write prints one message under head; thread replies are indented.
func (c *Console) write(head string, msg Message, reply bool) error {
	text, blocks, _ := prepare(msg) // checked by the callers
	body := blockkit.Plain(blocks)
	if body == "" {
		body = blockkit.Unescape(text) + "\n"
	}
	indent := "  "
	if reply {
		indent = "      "
	}
	var b strings.Builder
	if reply {
		b.WriteString("    ")
	}
	b.WriteString(head + "\n")
	for _, l := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		if l == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString(indent + l + "\n")
	}
	b.WriteString("\n")
	if _, err := io.WriteString(c.w, b.String()); err != nil {
		return &Error{Op: "post", Channel: msg.Channel, Kind: ErrUnavailable, Retryable: true, Err: err}
	}
	return nil
}
