package chatops

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
)

func payloadBody(v any) []byte {
	b, _ := json.Marshal(v)
	return []byte(url.Values{"payload": {string(b)}}.Encode())
}

func TestDecodeInteraction(t *testing.T) {
	ok := map[string]any{"type": "block_actions", "user": map[string]string{"id": "U1", "username": "a"},
		"channel": map[string]string{"id": "C1"}, "response_url": "https://hooks.slack.com/x",
		"actions": []map[string]string{{"action_id": "confirm", "value": "0123456789abcdef0123"}}}
	c, err := decodeInteraction(payloadBody(ok))
	if err != nil || c.User != "U1" || c.Action != "confirm" || c.Value != "0123456789abcdef0123" || c.Channel != "C1" {
		t.Fatalf("%+v %v", c, err)
	}
	if c, err := decodeInteraction(payloadBody(map[string]any{"type": "view_submission"})); err != nil || c.Type != "view_submission" {
		t.Errorf("other types are acknowledged: %+v %v", c, err)
	}
	bad := []any{
		map[string]any{"type": "block_actions", "actions": []map[string]string{{"action_id": "confirm", "value": "ab"}}},                                       // no user
		map[string]any{"type": "block_actions", "user": map[string]string{"id": "U1"}},                                                                         // no action
		map[string]any{"type": "block_actions", "user": map[string]string{"id": "U1"}, "actions": []map[string]string{{"action_id": "rm -rf", "value": "ab"}}}, // unknown action
		map[string]any{"type": "block_actions", "user": map[string]string{"id": "U1"}, "actions": []map[string]string{{"action_id": "confirm", "value": "../x"}}},
	}
	for i, b := range bad {
		if _, err := decodeInteraction(payloadBody(b)); !errors.Is(err, errPayload) {
			t.Errorf("bad %d: %v", i, err)
		}
	}
	for _, raw := range []string{"", "payload=", "payload=%7B", "%zz", "payload=[1,2]"} {
		if _, err := decodeInteraction([]byte(raw)); !errors.Is(err, errPayload) {
			t.Errorf("%q: %v", raw, err)
		}
	}
}

func FuzzDecodeInteraction(f *testing.F) {
	f.Add(payloadBody(map[string]any{"type": "block_actions", "user": map[string]string{"id": "U1"},
		"actions": []map[string]string{{"action_id": "approve", "value": "0123456789abcdef0123"}}}))
	f.Add([]byte("payload=%7B%22type%22%3A%22block_actions%22%7D"))
	f.Add([]byte("payload=null"))
	f.Add([]byte("a=b&payload="))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := decodeInteraction(body)
		if err != nil {
			if !errors.Is(err, errPayload) {
				t.Fatalf("error %v does not wrap errPayload", err)
			}
			return
		}
		if c.Type == "block_actions" && (c.User == "" || !validID(c.Value)) {
			t.Fatalf("accepted an incomplete click %+v", c)
		}
	})
}
