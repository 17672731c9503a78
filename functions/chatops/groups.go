package chatops

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// groupResolver tells which Slack user groups a user is in.
type groupResolver interface {
	Groups(ctx context.Context, user string) []string
}

// slackGroups reads user groups with usergroups.list (include_users) and
// caches the whole membership for ttl. A failed lookup counts as no groups
// (fail closed: group grants do not apply) and is logged.
type slackGroups struct {
	api *slack.Client
	ttl time.Duration
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	fetched time.Time
	members map[string][]string // user → groups
}

func newSlackGroups(token, apiURL string, ttl time.Duration, now func() time.Time, log *slog.Logger) *slackGroups {
	opts := []slack.Option{}
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	return &slackGroups{api: slack.New(token, opts...), ttl: ttl, now: now, log: log}
}

func (g *slackGroups) Groups(ctx context.Context, user string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.members == nil || g.now().Sub(g.fetched) > g.ttl {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		gs, err := g.api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true))
		if err != nil {
			g.log.Warn("chatops: usergroups.list failed; group grants do not apply until it works", "err", err)
			if g.members == nil {
				return nil
			}
		} else {
			m := map[string][]string{}
			for _, grp := range gs {
				for _, u := range grp.Users {
					m[u] = append(m[u], grp.ID)
				}
			}
			g.members, g.fetched = m, g.now()
		}
	}
	return g.members[user]
}

// staticGroups is a fixed membership (tests, and no bot token: none).
type staticGroups map[string][]string

func (s staticGroups) Groups(_ context.Context, user string) []string { return s[user] }
