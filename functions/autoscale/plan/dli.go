package plan

import (
	"fmt"
	"strings"
	"time"
)

// PlanPrefix starts the name of every plan dlibot creates; plans without it
// belong to someone else and are never touched.
const PlanPrefix = "dlibot_"

// DLIPlan is the body of "Creating a Scheduled CU Change" (reference 6.6,
// POST /v1/{project_id}/queues/{queue_name}/plans).
type DLIPlan struct {
	// PlanName is dlibot_<hhmm>_<days>, e.g. dlibot_0740_motuwethfr:
	// letters, digits and underscores only, as 6.6 requires.
	PlanName string `json:"plan_name"`
	// TargetCU is the queue size the plan sets.
	TargetCU int `json:"target_cu"`
	// StartHour is the plan's start hour (0–23).
	StartHour int `json:"start_hour"`
	// StartMinute is the plan's start minute (0–59).
	StartMinute int `json:"start_minute"`
	// RepeatDay lists the weekdays the plan repeats on (MONDAY … SUNDAY).
	RepeatDay []string `json:"repeat_day"`
	// ValidDateBegin is the start of the validity period, a 13-digit
	// millisecond timestamp; omitted when zero.
	ValidDateBegin int64 `json:"valid_date_begin,omitempty"`
	// ValidDateEnd is the end of the validity period, a 13-digit millisecond
	// timestamp; omitted when zero.
	ValidDateEnd int64 `json:"valid_date_end,omitempty"`
	// Activate is true: the plan is active.
	Activate bool `json:"activate"`
}

// DLIPlans maps a weekly schedule (cycle of 7×24×60 minutes, minute 0 =
// Monday 00:00 in the plans' time zone) onto DLI scheduled CU changes, one
// per Group: changes with the same time of day and target share a plan whose
// repeat_day lists their days. Plans are named dlibot_<hhmm>_<days>, e.g.
// dlibot_0740_motuwethfr. Zero begin/end leave the validity dates out.
func (s *Schedule) DLIPlans(begin, end time.Time) ([]DLIPlan, error) {
	if s.CycleMinutes != 7*24*60 {
		return nil, fmt.Errorf("plan: DLI plans repeat weekly; this schedule's cycle is %d min", s.CycleMinutes)
	}
	groups := Groups(s.Changes)
	out := make([]DLIPlan, 0, len(groups))
	for _, g := range groups {
		var codes strings.Builder
		days := make([]string, 0, len(g.Days))
		for _, d := range g.Days {
			codes.WriteString(dayCode(d))
			days = append(days, strings.ToUpper(d.String()))
		}
		p := DLIPlan{
			PlanName:    fmt.Sprintf("%s%02d%02d_%s", PlanPrefix, g.MinuteOfDay/60, g.MinuteOfDay%60, codes.String()),
			TargetCU:    g.TargetCU,
			StartHour:   g.MinuteOfDay / 60,
			StartMinute: g.MinuteOfDay % 60,
			RepeatDay:   days,
			Activate:    true,
		}
		if !begin.IsZero() {
			p.ValidDateBegin = begin.UnixMilli()
		}
		if !end.IsZero() {
			p.ValidDateEnd = end.UnixMilli()
		}
		out = append(out, p)
	}
	return out, nil
}
