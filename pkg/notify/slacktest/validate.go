package slacktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// decode reads an API call's parameters from a form (urlencoded or multipart) or JSON body, and the
// token from the Authorization header or the token field.
func decode(r *http.Request) (request, error) {
	req := request{values: make(map[string]string)}
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		req.token = strings.TrimPrefix(auth, "Bearer ")
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var body map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return req, fmt.Errorf("bad JSON body: %w", err)
		}
		for k, raw := range body {
			if k == "blocks" {
				req.blocks = raw
				continue
			}
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				return req, err
			}
			switch v := v.(type) {
			case string:
				req.values[k] = v
			case nil:
			default:
				req.values[k] = strings.Trim(string(raw), `"`)
			}
		}
	default:
		var err error
		if ct == "multipart/form-data" {
			err = r.ParseMultipartForm(32 << 20)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			return req, err
		}
		for k, v := range r.Form {
			if len(v) > 0 {
				req.values[k] = v[0]
			}
		}
		if b := req.values["blocks"]; b != "" {
			if !json.Valid([]byte(b)) {
				return req, errors.New("blocks is not JSON")
			}
			req.blocks = json.RawMessage(b)
			delete(req.values, "blocks")
		}
	}
	if req.token == "" {
		req.token = req.values["token"]
	}
	delete(req.values, "token")
	if string(req.blocks) == "null" {
		req.blocks = nil
	}
	return req, nil
}

// Limits the fake enforces like Slack (see package blockkit for the sources).
const (
	maxBlocks        = 50
	maxSectionText   = 3000
	maxFieldText     = 2000
	maxFields        = 10
	maxHeaderText    = 150
	maxContextElems  = 10
	maxActionElems   = 25
	maxButtonText    = 75
	maxButtonValue   = 2000
	maxID            = 255
	maxText          = 40000
	maxTotalText     = 13200 // msg_blocks_too_long, observed (slackapi/bolt-js#2509)
	maxConfirmTitle  = 100
	maxConfirmText   = 300
	maxConfirmButton = 30
)

type textObj struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type element struct {
	Type     string   `json:"type"`
	Text     *textObj `json:"text"`
	ActionID string   `json:"action_id"`
	Value    string   `json:"value"`
	Confirm  *struct {
		Title   *textObj `json:"title"`
		Text    *textObj `json:"text"`
		Confirm *textObj `json:"confirm"`
		Deny    *textObj `json:"deny"`
	} `json:"confirm"`
}

type block struct {
	Type     string            `json:"type"`
	BlockID  string            `json:"block_id"`
	Text     *textObj          `json:"text"`
	Fields   []textObj         `json:"fields"`
	Elements []json.RawMessage `json:"elements"`
}

// validate checks a message like chat.postMessage does and returns Slack's error code, or "".
func validate(text string, blocks json.RawMessage) string {
	if utf8.RuneCountInString(text) > maxText {
		return "msg_too_long"
	}
	if len(blocks) == 0 {
		if strings.TrimSpace(text) == "" {
			return "no_text"
		}
		return ""
	}
	var bs []block
	if err := json.Unmarshal(blocks, &bs); err != nil {
		return "invalid_blocks_format"
	}
	if len(bs) == 0 && strings.TrimSpace(text) == "" {
		return "no_text"
	}
	if len(bs) > maxBlocks {
		return "invalid_blocks"
	}
	total := 0
	n := func(t *textObj) int {
		if t == nil {
			return 0
		}
		c := utf8.RuneCountInString(t.Text)
		total += c
		return c
	}
	for _, b := range bs {
		if utf8.RuneCountInString(b.BlockID) > maxID {
			return "invalid_blocks"
		}
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || n(b.Text) > maxHeaderText || b.Text.Text == "" {
				return "invalid_blocks"
			}
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				return "invalid_blocks"
			}
			if n(b.Text) > maxSectionText || len(b.Fields) > maxFields {
				return "invalid_blocks"
			}
			for i := range b.Fields {
				if n(&b.Fields[i]) > maxFieldText {
					return "invalid_blocks"
				}
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > maxContextElems {
				return "invalid_blocks"
			}
			for _, raw := range b.Elements {
				var t textObj
				if json.Unmarshal(raw, &t) == nil && (t.Type == "mrkdwn" || t.Type == "plain_text") {
					if n(&t) > maxSectionText {
						return "invalid_blocks"
					}
				}
			}
		case "actions":
			if len(b.Elements) == 0 || len(b.Elements) > maxActionElems {
				return "invalid_blocks"
			}
			for _, raw := range b.Elements {
				var e element
				if json.Unmarshal(raw, &e) != nil {
					return "invalid_blocks"
				}
				if e.Type != "button" {
					continue
				}
				if e.Text == nil || n(e.Text) > maxButtonText || len(e.Value) > maxButtonValue ||
					utf8.RuneCountInString(e.ActionID) > maxID {
					return "invalid_blocks"
				}
				if c := e.Confirm; c != nil {
					if c.Title == nil || c.Text == nil || c.Confirm == nil ||
						n(c.Title) > maxConfirmTitle || n(c.Text) > maxConfirmText ||
						n(c.Confirm) > maxConfirmButton || n(c.Deny) > maxConfirmButton {
						return "invalid_blocks"
					}
				}
			}
		case "divider", "image", "rich_text", "markdown", "video", "file", "input":
		case "":
			return "invalid_blocks"
		}
	}
	if total > maxTotalText {
		return "msg_blocks_too_long"
	}
	return ""
}
