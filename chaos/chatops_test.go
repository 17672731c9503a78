package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/host/slacksig"
)

// slackPost sends a signed Slack request (form body) to base+path and
// returns the status and body.
func slackPost(base, path string, form url.Values) (int, []byte, error) {
	body := form.Encode()
	req, err := http.NewRequest("POST", base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	slacksig.SetHeaders(req.Header, PlantedSigningSecret, time.Now(), []byte(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// confirmValue finds the value of the "confirm" button in a chatops answer.
func confirmValue(answer []byte) (string, error) {
	var m struct {
		Blocks []struct {
			Elements []struct {
				ActionID string `json:"action_id"`
				Value    string `json:"value"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(answer, &m); err != nil {
		return "", fmt.Errorf("answer is not JSON: %v: %.300s", err, answer)
	}
	for _, b := range m.Blocks {
		for _, e := range b.Elements {
			if e.ActionID == "confirm" {
				return e.Value, nil
			}
		}
	}
	return "", fmt.Errorf("no confirm button in %.500s", answer)
}

func scaleCalls(c *Cluster) int {
	n := 0
	for _, r := range c.Emulator.Requests() {
		if r.Method == "PUT" && strings.HasSuffix(r.Path, "/queues/etl/action") {
			n++
		}
	}
	return n
}

// chatopsScenarios: a confirmed change clicked many times on every
// replica at once (double clicks, retried deliveries) while one replica
// is killed runs once.
func chatopsScenarios(t *testing.T, c *Cluster) {
	scenario(t, "chatops/confirm-clicks", "`scale etl 32` confirmed by 9 concurrent clicks spread over the 3 replicas while one of them is killed (kill -9) and restarted", func(t *testing.T) string {
		before := scaleCalls(c)
		form := url.Values{"command": {"/dli"}, "text": {"scale etl 32"}, "user_id": {"U0CHAOSADMIN"}, "user_name": {"chaos"},
			"channel_id": {SlackChannel}, "team_id": {"T0CHAOS"}, "response_url": {"http://127.0.0.1:9/not-a-slack-host"},
			"trigger_id": {"chaos.scale.1"}}
		status, answer, err := slackPost(c.Live()[0], "/slack/commands", form)
		if err != nil || status != 200 {
			t.Fatalf("scale command: %d %v %.300s", status, err, answer)
		}
		value, err := confirmValue(answer)
		if err != nil {
			t.Fatal(err)
		}
		if n := scaleCalls(c) - before; n != 0 {
			t.Fatalf("%d scale calls before the confirmation", n)
		}
		urls := c.Live()
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for i := range 9 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				payload, _ := json.Marshal(map[string]any{
					"type": "block_actions", "user": map[string]string{"id": "U0CHAOSADMIN", "username": "chaos"},
					"team": map[string]string{"id": "T0CHAOS"}, "channel": map[string]string{"id": SlackChannel},
					"response_url": "http://127.0.0.1:9/not-a-slack-host", "trigger_id": fmt.Sprintf("chaos.click.%d", i),
					"actions": []map[string]string{{"action_id": "confirm", "value": value, "block_id": "b"}},
				})
				st, _, err := slackPost(urls[i%len(urls)], "/slack/interactions", url.Values{"payload": {string(payload)}})
				if err != nil {
					st = 0
				}
				mu.Lock()
				statuses[st]++
				mu.Unlock()
			}()
		}
		victim := c.Replicas[2]
		victim.Kill()
		wg.Wait()
		if err := victim.Start(); err != nil {
			t.Fatal(err)
		}
		if err := Eventually(30*time.Second, func() error {
			if scaleCalls(c)-before < 1 {
				return fmt.Errorf("the confirmed scale never reached DLI (click answers %v)", statuses)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		time.Sleep(3 * time.Second) // window in which a second scale call would arrive
		n := scaleCalls(c) - before
		if n != 1 {
			t.Errorf("the confirmed scale reached DLI %d times, want once (click answers %v)", n, statuses)
		}
		return fmt.Sprintf("9 clicks (answers %s) → %d scale call(s) in the emulator's request log", statusList(statuses), n)
	})
}
