package chatops

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
)

// MaxPayload is the largest interaction payload decoded, in bytes.
const MaxPayload = 64 << 10

// interaction is what chatops reads of a Slack interaction payload
// (block_actions): who clicked which button of which message.
type interaction struct {
	Type string `json:"type"`
	User struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
	} `json:"user"`
	Team struct {
		ID string `json:"id"`
	} `json:"team"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	ResponseURL string `json:"response_url"`
	TriggerID   string `json:"trigger_id"`
	Actions     []struct {
		ActionID string `json:"action_id"`
		BlockID  string `json:"block_id"`
		Value    string `json:"value"`
	} `json:"actions"`
}

// Button action ids chatops answers.
const (
	actionConfirm = "confirm"
	actionCancel  = "cancel"
	actionApprove = "approve"
	actionDeny    = "deny"
)

// clickAction is one decoded click.
type clickAction struct {
	Type        string
	User        string
	UserName    string
	Team        string
	Channel     string
	ResponseURL string
	TriggerID   string
	Action      string
	Value       string
}

// errPayload reports a malformed interaction; its text is safe to log.
var errPayload = errors.New("chatops: malformed interaction payload")

// decodeInteraction decodes the form body of POST /slack/interactions
// (payload=<JSON>). It returns errPayload (wrapped) for anything that is
// not one block_actions click by a user, and never panics.
func decodeInteraction(body []byte) (*clickAction, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: form: %v", errPayload, err)
	}
	raw := form.Get("payload")
	if raw == "" {
		return nil, fmt.Errorf("%w: no payload field", errPayload)
	}
	if len(raw) > MaxPayload {
		return nil, fmt.Errorf("%w: payload of %d bytes", errPayload, len(raw))
	}
	var in interaction
	if err := json.Unmarshal([]byte(raw), &in); err != nil {
		return nil, fmt.Errorf("%w: %v", errPayload, err)
	}
	c := &clickAction{Type: in.Type, User: in.User.ID, UserName: in.User.Username, Team: in.Team.ID,
		Channel: in.Channel.ID, ResponseURL: in.ResponseURL, TriggerID: in.TriggerID}
	if c.UserName == "" {
		c.UserName = in.User.Name
	}
	if in.Type != "block_actions" {
		return c, nil // acknowledged, ignored
	}
	if c.User == "" {
		return nil, fmt.Errorf("%w: no user", errPayload)
	}
	if len(in.Actions) != 1 {
		return nil, fmt.Errorf("%w: %d actions, want 1", errPayload, len(in.Actions))
	}
	c.Action, c.Value = in.Actions[0].ActionID, in.Actions[0].Value
	switch c.Action {
	case actionConfirm, actionCancel, actionApprove, actionDeny:
	default:
		return nil, fmt.Errorf("%w: unknown action %q", errPayload, truncate(c.Action, 40))
	}
	if !validID(c.Value) {
		return nil, fmt.Errorf("%w: bad confirmation id", errPayload)
	}
	return c, nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
