// Package notify sends dlibot's Slack messages: posts, thread replies, in-place edits and file
// uploads, behind one small interface (Notifier) with two implementations:
//
//   - Slack, over the Slack Web API with a bot token (github.com/slack-go/slack). It paces writes to
//     about one per second per channel, honours 429 Retry-After with bounded retries, keeps every
//     message inside Block Kit's limits (blockkit.Fit), and returns errors that say whether a retry
//     can help (IsRetryable), so callers can answer with a Retry or Drop outcome.
//   - Console, for `dlibot dev` without SLACK_BOT_TOKEN: it prints a plain-text rendering of each
//     message to an io.Writer and returns Refs like Slack does, so the functions behave the same.
//
// New picks one from a Config (the SLACK_* environment variables). Messages are built with the
// builders of package blockkit; tests run against the HTTP Slack fake in package slacktest.
package notify

import (
	"context"
	"fmt"
	"strings"

	"github.com/slack-go/slack"
)

// Notifier sends messages to Slack (or somewhere that behaves like it). Implementations are safe for
// concurrent use. Errors are *Error values (use IsRetryable and RetryAfter, or errors.Is with the
// Err… sentinels).
type Notifier interface {
	// Post sends msg to msg.Channel (the notifier's default channel when empty) and returns where it
	// landed. With msg.ThreadTS set the message is a reply in that thread.
	Post(ctx context.Context, msg Message) (Ref, error)
	// Reply sends msg in the thread of parent (parent's thread root when parent is itself a reply).
	// msg.Channel and msg.ThreadTS are ignored.
	Reply(ctx context.Context, parent Ref, msg Message) (Ref, error)
	// Update replaces the text and blocks of the message at ref (chat.update); a msg without blocks
	// keeps the message's current blocks. Only messages posted with the same token can be updated.
	Update(ctx context.Context, ref Ref, msg Message) error
	// Upload shares a file (a chart, a long log) in f.Channel, or in a thread with f.ThreadTS.
	Upload(ctx context.Context, f File) (FileRef, error)
}

// Message is one Slack message.
type Message struct {
	// Channel is a channel ID (C…, G…, D…) or name (#alerts); empty means the notifier's default
	// channel (SLACK_CHANNEL). Slack answers with the channel's ID, which Ref keeps: store the Ref,
	// not the name, to update or reply later.
	Channel string
	// Text is the top-level text: the whole message when Blocks is empty, otherwise the notification
	// and accessibility fallback (mobile notifications show only this). Empty with blocks present
	// means derived from the blocks (blockkit.Fallback). Cut to blockkit.MaxText characters. It is
	// mrkdwn: escape outside values with blockkit.Escape.
	Text string
	// Blocks is the Block Kit body, built with package blockkit; blockkit.Fit is applied before
	// sending, so over-long content is truncated with markers rather than rejected.
	Blocks []slack.Block
	// ThreadTS makes the message a reply in the thread whose root has this ts.
	ThreadTS string
	// Broadcast also shows a thread reply in the channel (reply_broadcast); only with ThreadTS.
	Broadcast bool
}

// Validate reports a message that cannot be sent: no text and no blocks, or Broadcast without a
// thread.
func (m Message) Validate() error {
	if strings.TrimSpace(m.Text) == "" && len(m.Blocks) == 0 {
		return ErrEmptyMessage
	}
	if m.Broadcast && m.ThreadTS == "" {
		return fmt.Errorf("%w: broadcast needs a thread ts", ErrInvalidMessage)
	}
	return nil
}

// Ref identifies a posted message: the channel ID and the message's ts, plus the thread root's ts
// for a reply. It is plain data, JSON-serialisable, meant to be stored (e.g. in a KV incident record)
// and passed back to Reply and Update later, from any replica.
type Ref struct {
	// Channel is the channel ID Slack answered with.
	Channel string `json:"channel"`
	// TS is the message's timestamp id, e.g. "1700000000.000100".
	TS string `json:"ts"`
	// ThreadTS is the thread root's ts when the message is a reply; empty for a root message.
	ThreadTS string `json:"thread_ts,omitempty"`
}

// IsZero reports an unset Ref.
func (r Ref) IsZero() bool { return r.Channel == "" && r.TS == "" }

// Root returns the Ref of the thread root: r itself for a root message.
func (r Ref) Root() Ref {
	if r.ThreadTS == "" || r.ThreadTS == r.TS {
		return Ref{Channel: r.Channel, TS: r.TS}
	}
	return Ref{Channel: r.Channel, TS: r.ThreadTS}
}

// String formats r as "channel/ts" (or "channel/thread_ts/ts" for a reply); ParseRef reads it back.
func (r Ref) String() string {
	if r.ThreadTS != "" && r.ThreadTS != r.TS {
		return r.Channel + "/" + r.ThreadTS + "/" + r.TS
	}
	return r.Channel + "/" + r.TS
}

// ParseRef reads what Ref.String writes.
func ParseRef(s string) (Ref, error) {
	parts := strings.Split(s, "/")
	for _, p := range parts {
		if p == "" {
			return Ref{}, fmt.Errorf("notify: bad message ref %q: want channel/ts or channel/thread_ts/ts", s)
		}
	}
	switch len(parts) {
	case 2:
		return Ref{Channel: parts[0], TS: parts[1]}, nil
	case 3:
		return Ref{Channel: parts[0], ThreadTS: parts[1], TS: parts[2]}, nil
	}
	return Ref{}, fmt.Errorf("notify: bad message ref %q: want channel/ts or channel/thread_ts/ts", s)
}

// File is a file to share, e.g. a PNG chart or a long log.
type File struct {
	// Channel is a channel ID; empty means the default channel. Slack's upload API needs an ID, not
	// a name.
	Channel string
	// ThreadTS shares the file as a reply in that thread.
	ThreadTS string
	// Name is the file name, e.g. "etl-load.png"; required.
	Name string
	// Title is shown above the file; defaults to Name.
	Title string
	// Comment is posted with the file (mrkdwn, escaped by the caller).
	Comment string
	// AltText describes an image for screen readers.
	AltText string
	// Content is the file's bytes; must not be empty.
	Content []byte
}

// Validate reports a file that cannot be uploaded.
func (f File) Validate() error {
	switch {
	case strings.TrimSpace(f.Name) == "":
		return fmt.Errorf("%w: file name is empty", ErrInvalidMessage)
	case len(f.Content) == 0:
		return fmt.Errorf("%w: file %q is empty", ErrInvalidMessage, f.Name)
	}
	return nil
}

// FileRef identifies an uploaded file.
type FileRef struct {
	// ID is Slack's file id (F…).
	ID string `json:"id"`
	// Channel is where it was shared.
	Channel string `json:"channel"`
}
