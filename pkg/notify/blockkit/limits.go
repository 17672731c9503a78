// Package blockkit builds Slack Block Kit messages for dlibot and keeps them inside Slack's limits.
//
// Every message dlibot sends is rendered by code from the builders here (Header, Fields, Section,
// Context, Code, List, Actions…), so the output is deterministic and covered by golden tests. Fit is
// the one place where Slack's limits are enforced: it truncates over-long text with an explicit
// "… N more" marker and drops blocks past the limits with a "… N more blocks" line, instead of
// letting Slack reject the whole message (invalid_blocks, msg_too_long, msg_blocks_too_long).
//
// Plain renders blocks as readable plain text, for the console notifier and logs.
//
// Text lengths are counted in Unicode code points (runes). Builders that take mrkdwn text expect it
// already escaped; use Escape on any value that comes from outside (job names, error messages, log
// lines) so that "<", ">" and "&" cannot form links or mentions.
package blockkit

// Slack Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks and the composition
// object pages; see Slack's Block Kit reference, "Block Kit limits").
const (
	// MaxBlocks is the most blocks one message may carry (modals and the Home tab allow 100).
	MaxBlocks = 50
	// MaxSectionText is the most characters in a section block's text.
	MaxSectionText = 3000
	// MaxFieldText is the most characters in one section field.
	MaxFieldText = 2000
	// MaxFields is the most fields one section block may carry.
	MaxFields = 10
	// MaxHeaderText is the most characters in a header block's plain text.
	MaxHeaderText = 150
	// MaxContextElements is the most elements one context block may carry.
	MaxContextElements = 10
	// MaxContextText is the most characters in one context text element.
	MaxContextText = 3000
	// MaxActionElements is the most interactive elements one actions block may carry.
	MaxActionElements = 25
	// MaxButtonText is the most characters in a button's label.
	MaxButtonText = 75
	// MaxButtonValue is the most characters in a button's value.
	MaxButtonValue = 2000
	// MaxURL is the most characters in a button URL.
	MaxURL = 3000
	// MaxID is the most characters in an action_id or block_id.
	MaxID = 255
	// MaxConfirmTitle is the most characters in a confirmation dialog's title.
	MaxConfirmTitle = 100
	// MaxConfirmText is the most characters in a confirmation dialog's text.
	MaxConfirmText = 300
	// MaxConfirmButton is the most characters in a confirmation dialog's confirm or deny label.
	MaxConfirmButton = 30
	// MaxImageAltText is the most characters in an image's alt text.
	MaxImageAltText = 2000
	// MaxText is the most characters of a message's top-level text (the notification fallback when
	// blocks are present). Slack truncates or rejects (msg_too_long) longer text.
	MaxText = 40000
	// MaxTotalText is dlibot's budget for the text of all blocks of one message together. It is not
	// documented by Slack, but msg_blocks_too_long has been observed at about 13,200 characters of block
	// text (slackapi/bolt-js#2509), so Fit keeps messages below 12,000.
	MaxTotalText = 12000
)
