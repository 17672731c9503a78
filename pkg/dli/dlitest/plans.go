package dlitest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scheduled CU changes ("plans", reference 6.6–6.10). Plans fire on the
// emulator's clock in UTC: at start_hour:start_minute UTC on each
// repeat_day, within [valid_date_begin, valid_date_end] when given, only
// while activated. A plan with no repeat_day fires once, at the first
// start_hour:start_minute after it was created or last modified. A firing
// sets the queue's CUs to target_cu at once (Timing.PlanJitter later than
// the start time) and is recorded in the queue's PlanFirings.

// PlanState is a scheduled CU change in the state snapshot.
type PlanState struct {
	ID          int64    `json:"id"`
	QueueName   string   `json:"queue_name"`
	PlanName    string   `json:"plan_name"`
	TargetCU    int      `json:"target_cu"`
	StartHour   int      `json:"start_hour"`
	StartMinute int      `json:"start_minute"`
	RepeatDay   []string `json:"repeat_day"`
	// ValidDateBegin and ValidDateEnd are Unix milliseconds; 0 when unset.
	ValidDateBegin int64     `json:"valid_date_begin,omitempty"`
	ValidDateEnd   int64     `json:"valid_date_end,omitempty"`
	Activate       bool      `json:"activate"`
	Created        time.Time `json:"created"`
	// LastExecuteTime is the last firing; NextRun the next start time, if
	// any (both on the emulator clock, UTC).
	LastExecuteTime *time.Time `json:"last_execute_time,omitempty"`
	NextRun         *time.Time `json:"next_run,omitempty"`
	// Firings counts how often the plan fired.
	Firings int `json:"firings"`
}

type plan struct {
	id          int64
	name        string
	targetCU    int
	hour        int
	minute      int
	days        []string // upper case, in the order given
	validBegin  int64    // Unix ms; 0 = unset
	validEnd    int64    // Unix ms; 0 = unset
	activate    bool
	created     time.Time
	onceAt      time.Time // for a plan without repeat_day
	lastExecute time.Time
	fired       int
}

var weekdays = map[string]time.Weekday{
	"SUNDAY": time.Sunday, "MONDAY": time.Monday, "TUESDAY": time.Tuesday, "WEDNESDAY": time.Wednesday,
	"THURSDAY": time.Thursday, "FRIDAY": time.Friday, "SATURDAY": time.Saturday,
}

func (p *plan) onDay(d time.Weekday) bool {
	for _, s := range p.days {
		if weekdays[s] == d {
			return true
		}
	}
	return false
}

func (p *plan) valid(o time.Time) bool {
	ms := o.UnixMilli()
	return (p.validBegin == 0 || ms >= p.validBegin) && (p.validEnd == 0 || ms <= p.validEnd)
}

// at is the plan's start time on the UTC day of t.
func (p *plan) at(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, p.hour, p.minute, 0, 0, time.UTC)
}

// nextOnce is the first start_hour:start_minute strictly after t.
func (p *plan) nextOnce(t time.Time) time.Time {
	o := p.at(t)
	if !o.After(t) {
		o = o.AddDate(0, 0, 1)
	}
	return o
}

// next is the plan's first start time strictly after t within its
// validity, ignoring activation.
func (p *plan) next(t time.Time) (time.Time, bool) {
	if len(p.days) == 0 {
		if p.onceAt.After(t) && p.valid(p.onceAt) {
			return p.onceAt, true
		}
		return time.Time{}, false
	}
	from := t
	if p.validBegin != 0 {
		if b := time.UnixMilli(p.validBegin).UTC(); b.After(from) {
			from = b.Add(-time.Nanosecond)
		}
	}
	o := p.at(from)
	for i := 0; i < 9; i++ {
		if o.After(from) && o.After(t) {
			if p.validEnd != 0 && o.UnixMilli() > p.validEnd {
				return time.Time{}, false
			}
			if p.onDay(o.Weekday()) && p.valid(o) {
				return o, true
			}
		}
		o = o.AddDate(0, 0, 1)
	}
	return time.Time{}, false
}

// occurrences lists the start times o with from < o ≤ to at which an
// activated plan fires.
func (p *plan) occurrences(from, to time.Time) []time.Time {
	if !p.activate || !to.After(from) {
		return nil
	}
	if len(p.days) == 0 {
		if p.onceAt.After(from) && !p.onceAt.After(to) && p.valid(p.onceAt) {
			return []time.Time{p.onceAt}
		}
		return nil
	}
	var out []time.Time
	for o := p.at(from); !o.After(to); o = o.AddDate(0, 0, 1) {
		if o.After(from) && p.onDay(o.Weekday()) && p.valid(o) {
			out = append(out, o)
		}
	}
	return out
}

func (p *plan) state(queue string, now time.Time) PlanState {
	st := PlanState{
		ID: p.id, QueueName: queue, PlanName: p.name, TargetCU: p.targetCU, StartHour: p.hour, StartMinute: p.minute,
		RepeatDay: append([]string{}, p.days...), ValidDateBegin: p.validBegin, ValidDateEnd: p.validEnd,
		Activate: p.activate, Created: p.created, Firings: p.fired,
	}
	if !p.lastExecute.IsZero() {
		t := p.lastExecute
		st.LastExecuteTime = &t
	}
	if p.activate {
		if n, ok := p.next(now); ok {
			st.NextRun = &n
		}
	}
	return st
}

// planJSON is a plan in list plans (6.7).
type planJSON struct {
	ID              int64    `json:"id"`
	PlanName        string   `json:"plan_name"`
	TargetCU        int      `json:"target_cu"`
	StartHour       int      `json:"start_hour"`
	StartMinute     int      `json:"start_minute"`
	RepeatDay       []string `json:"repeat_day"`
	ValidDateBegin  int64    `json:"valid_date_begin,omitempty"`
	ValidDateEnd    int64    `json:"valid_date_end,omitempty"`
	Activate        bool     `json:"activate"`
	LastExecuteTime int64    `json:"last_execute_time,omitempty"`
}

func (p *plan) json() planJSON {
	j := planJSON{
		ID: p.id, PlanName: p.name, TargetCU: p.targetCU, StartHour: p.hour, StartMinute: p.minute,
		RepeatDay: append([]string{}, p.days...), ValidDateBegin: p.validBegin, ValidDateEnd: p.validEnd, Activate: p.activate,
	}
	if !p.lastExecute.IsZero() {
		j.LastExecuteTime = p.lastExecute.UnixMilli()
	}
	return j
}

// planBody is the request body of 6.6 and 6.10.
type planBody struct {
	PlanName       *string   `json:"plan_name"`
	TargetCU       *int      `json:"target_cu"`
	StartHour      *int      `json:"start_hour"`
	StartMinute    *int      `json:"start_minute"`
	RepeatDay      []string  `json:"repeat_day"`
	ValidDateBegin *int64    `json:"valid_date_begin"`
	ValidDateEnd   *int64    `json:"valid_date_end"`
	Activate       *flexBool `json:"activate"`
}

// planError is a validation failure with DLI's error code.
type planError struct{ code, msg string }

// buildPlan validates a plan body against queue q at now; self is the id
// of the plan being modified (0 when creating).
func (e *Emulator) buildPlan(q *queue, b planBody, now time.Time, self int64) (*plan, *planError) {
	bad := func(format string, a ...any) (*plan, *planError) {
		return nil, &planError{"DLI.0001", fmt.Sprintf(format, a...)}
	}
	if b.PlanName == nil {
		return bad("plan_name is required")
	}
	if err := checkName("plan_name", *b.PlanName); err != nil {
		return bad("%v", err)
	}
	p := &plan{name: *b.PlanName, activate: true, created: now}
	switch {
	case b.TargetCU == nil:
		return bad("target_cu is required")
	case *b.TargetCU <= 0 || *b.TargetCU%16 != 0:
		return bad("target_cu %d must be a positive multiple of 16", *b.TargetCU)
	case *b.TargetCU > q.maxCU:
		return bad("target_cu %d exceeds queue %s's scale-out limit of %d CUs", *b.TargetCU, q.name, q.maxCU)
	case *b.TargetCU < q.minCU:
		return bad("target_cu %d is below queue %s's scale-in limit of %d CUs", *b.TargetCU, q.name, q.minCU)
	}
	p.targetCU = *b.TargetCU
	switch {
	case b.StartHour == nil:
		return bad("start_hour is required")
	case *b.StartHour < 0 || *b.StartHour > 23:
		return bad("start_hour %d must be 0 to 23", *b.StartHour)
	case b.StartMinute == nil:
		return bad("start_minute is required")
	case *b.StartMinute < 0 || *b.StartMinute > 59:
		return bad("start_minute %d must be 0 to 59", *b.StartMinute)
	}
	p.hour, p.minute = *b.StartHour, *b.StartMinute
	for _, d := range b.RepeatDay {
		u := strings.ToUpper(strings.TrimSpace(d))
		if _, ok := weekdays[u]; !ok {
			return bad("repeat_day %q must be one of MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY", d)
		}
		if slices.Contains(p.days, u) {
			return bad("repeat_day lists %s twice", u)
		}
		p.days = append(p.days, u)
	}
	if b.ValidDateBegin != nil {
		if *b.ValidDateBegin < 0 {
			return bad("valid_date_begin %d must be a 13-digit millisecond timestamp", *b.ValidDateBegin)
		}
		p.validBegin = *b.ValidDateBegin
	}
	if b.ValidDateEnd != nil {
		if *b.ValidDateEnd < 0 {
			return bad("valid_date_end %d must be a 13-digit millisecond timestamp", *b.ValidDateEnd)
		}
		p.validEnd = *b.ValidDateEnd
	}
	if p.validBegin != 0 && p.validEnd != 0 && p.validEnd <= p.validBegin {
		return bad("valid_date_end %d must be after valid_date_begin %d", p.validEnd, p.validBegin)
	}
	if b.Activate != nil {
		p.activate = bool(*b.Activate)
	}
	if len(p.days) == 0 {
		p.onceAt = p.nextOnce(now)
	}
	if _, ok := p.next(now); !ok {
		return nil, &planError{"DLI.0999", "Queue plans create failed. The plan " + p.name +
			" can not generate a scale plan, please check all time settings for the plan."}
	}
	for _, o := range q.plans {
		if o.id == self {
			continue
		}
		if o.name == p.name {
			return nil, &planError{"DLI.0006", "The plan " + p.name + " already exists in queue " + q.name + "."}
		}
		if o.hour == p.hour && o.minute == p.minute && (len(o.days) == 0 && len(p.days) == 0 || overlap(o.days, p.days)) {
			return nil, &planError{"DLI.0006", fmt.Sprintf("The plan %s conflicts with plan %s (id %d): both start at %02d:%02d on the same day.",
				p.name, o.name, o.id, p.hour, p.minute)}
		}
	}
	return p, nil
}

func overlap(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// createPlan is 6.6.
func (e *Emulator) createPlan(w http.ResponseWriter, r *http.Request) {
	q := e.lookupQueue(w, r)
	if q == nil {
		return
	}
	var b planBody
	if !decodeBody(w, r, &b) {
		return
	}
	p, perr := e.buildPlan(q, b, e.clock.Now(), 0)
	if perr != nil {
		writeError(w, http.StatusBadRequest, perr.code, perr.msg)
		return
	}
	p.id = e.nextID()
	q.plans = append(q.plans, p)
	e.queues.dirty = true
	writeJSON(w, http.StatusOK, map[string]any{"is_success": true, "message": ""})
}

// listPlans is 6.7.
func (e *Emulator) listPlans(w http.ResponseWriter, r *http.Request) {
	q := e.lookupQueue(w, r)
	if q == nil {
		return
	}
	out := make([]planJSON, 0, len(q.plans))
	for _, p := range q.plans {
		out = append(out, p.json())
	}
	writeJSON(w, http.StatusOK, struct {
		IsSuccess bool       `json:"is_success"`
		Message   string     `json:"message"`
		Plans     []planJSON `json:"plans"`
	}{true, "", out})
}

// batchDeletePlans is 6.8: all or nothing.
func (e *Emulator) batchDeletePlans(w http.ResponseWriter, r *http.Request) {
	q := e.lookupQueue(w, r)
	if q == nil {
		return
	}
	var b struct {
		PlanIDs []int64 `json:"plan_ids"`
	}
	if !decodeBody(w, r, &b) {
		return
	}
	if len(b.PlanIDs) == 0 {
		writeError(w, http.StatusBadRequest, "DLI.0001", "plan_ids is required and must not be empty")
		return
	}
	var missing []string
	del := map[int64]bool{}
	for _, id := range b.PlanIDs {
		if q.planIndex(id) < 0 {
			missing = append(missing, strconv.FormatInt(id, 10))
		}
		del[id] = true
	}
	if len(missing) > 0 {
		writeError(w, http.StatusBadRequest, "DLI.0002", "The plans with id "+strings.Join(missing, ", ")+" do not exist.")
		return
	}
	q.plans = slices.DeleteFunc(q.plans, func(p *plan) bool { return del[p.id] })
	e.queues.dirty = true
	writeJSON(w, http.StatusOK, map[string]any{"is_success": true, "message": ""})
}

func (q *queue) planIndex(id int64) int {
	return slices.IndexFunc(q.plans, func(p *plan) bool { return p.id == id })
}

// lookupPlan finds the queue and the plan a request's path names, and the
// plan's index in q.plans; when either is missing it writes the error
// answer and returns ok false.
func (e *Emulator) lookupPlan(w http.ResponseWriter, r *http.Request) (q *queue, id int64, i int, ok bool) {
	if q = e.lookupQueue(w, r); q == nil {
		return nil, 0, 0, false
	}
	if id, ok = pathPlanID(w, r); !ok {
		return nil, 0, 0, false
	}
	if i = q.planIndex(id); i < 0 {
		writeError(w, http.StatusBadRequest, "DLI.0002", fmt.Sprintf("The plan with id %d does not exist.", id))
		return nil, 0, 0, false
	}
	return q, id, i, true
}

// deletePlan is 6.9.
func (e *Emulator) deletePlan(w http.ResponseWriter, r *http.Request) {
	q, _, i, ok := e.lookupPlan(w, r)
	if !ok {
		return
	}
	q.plans = slices.Delete(q.plans, i, i+1)
	e.queues.dirty = true
	writeJSON(w, http.StatusOK, map[string]any{"is_success": true, "message": ""})
}

// updatePlan is 6.10: the body replaces the plan's settings; its firing
// history stays.
func (e *Emulator) updatePlan(w http.ResponseWriter, r *http.Request) {
	q, id, i, ok := e.lookupPlan(w, r)
	if !ok {
		return
	}
	var b planBody
	if !decodeBody(w, r, &b) {
		return
	}
	p, perr := e.buildPlan(q, b, e.clock.Now(), id)
	if perr != nil {
		writeError(w, http.StatusBadRequest, perr.code, perr.msg)
		return
	}
	old := q.plans[i]
	p.id, p.created, p.lastExecute, p.fired = old.id, old.created, old.lastExecute, old.fired
	q.plans[i] = p
	e.queues.dirty = true
	writeJSON(w, http.StatusOK, map[string]any{"is_success": true, "message": "", "queue_name": q.name, "plan_id": id})
}
