package dlitest

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Queues (reference 6.3–6.5) and their emulated lifecycle: scaling takes
// Timing.ScaleDelay before the CUs change, a restart takes
// Timing.RestartTime. Scheduled CU changes (6.6–6.10) live in plans.go.

// Queue types (reference 6.1).
const (
	QueueTypeSQL     = "sql"
	QueueTypeGeneral = "general"
	QueueTypeAll     = "all"
)

// Queue statuses in the state snapshot.
const (
	QueueAvailable  = "available"
	QueueScaling    = "scaling"
	QueueRestarting = "restarting"
)

// QueueSpec describes a queue to add with AddQueue or POST /_emulator/queues.
type QueueSpec struct {
	// Name is the queue name: letters, digits and underscores, not only
	// digits, not starting with an underscore, 1–128 characters; it is
	// stored in lower case (DLI queue names are case-insensitive).
	Name string `json:"queue_name"`
	// Type is sql, general or all; default sql.
	Type string `json:"queue_type"`
	// CUCount is the queue's current CUs, a positive multiple of 16;
	// default 16.
	CUCount int `json:"cu_count"`
	// MinCU is the scale-in limit (cu_scale_in_limit), a multiple of 16;
	// default 16.
	MinCU int `json:"min_cu"`
	// MaxCU is the scale-out limit (cu_scale_out_limit), a multiple of 16;
	// default 4×CUCount, at least 256.
	MaxCU int `json:"max_cu"`
	// Description, Owner (default "emulator") and Tags are informational;
	// the tags filter of list queues (6.3) matches Tags.
	Description string            `json:"description"`
	Owner       string            `json:"owner"`
	Tags        map[string]string `json:"tags"`
}

// QueueState is a queue in the state snapshot.
type QueueState struct {
	Name        string `json:"queue_name"`
	ID          int64  `json:"queue_id"`
	Type        string `json:"queue_type"`
	Description string `json:"description"`
	Owner       string `json:"owner"`
	// CUCount is the queue's current CUs; MinCU and MaxCU its scale limits.
	CUCount int `json:"cu_count"`
	MinCU   int `json:"min_cu"`
	MaxCU   int `json:"max_cu"`
	// CUSpec is the CUs the queue was created with.
	CUSpec int `json:"cu_spec"`
	// Status is available, scaling or restarting.
	Status       string            `json:"status"`
	CreateTime   time.Time         `json:"create_time"`
	ChargingMode int               `json:"charging_mode"`
	ResourceMode int               `json:"resource_mode"`
	Tags         map[string]string `json:"tags,omitempty"`
	// PendingScale is the scale in progress, if any.
	PendingScale *PendingScale `json:"pending_scale,omitempty"`
	// RestartingUntil is when the restart in progress ends, if any.
	RestartingUntil *time.Time `json:"restarting_until,omitempty"`
	// Restarts counts completed and running restarts.
	Restarts int `json:"restarts"`
	// CUChanges is every change of CUCount, oldest first (the last 1000).
	CUChanges []CUChange `json:"cu_changes"`
	// PlanFirings is every scheduled CU change that fired on this queue,
	// oldest first (the last 1000).
	PlanFirings []PlanFiring `json:"plan_firings"`
}

// PendingScale is a scale out/in accepted but not yet effective.
type PendingScale struct {
	Action      string    `json:"action"` // scale_out or scale_in
	FromCU      int       `json:"from_cu"`
	TargetCU    int       `json:"target_cu"`
	RequestedAt time.Time `json:"requested_at"`
	// DueAt is when the CUs change (RequestedAt + Timing.ScaleDelay).
	DueAt time.Time `json:"due_at"`
}

// CUChange is one change of a queue's CUs.
type CUChange struct {
	At     time.Time `json:"at"`
	FromCU int       `json:"from_cu"`
	ToCU   int       `json:"to_cu"`
	// Cause is "scale_out", "scale_in" or "plan:<id>".
	Cause string `json:"cause"`
}

// PlanFiring is one firing of a scheduled CU change.
type PlanFiring struct {
	PlanID   int64  `json:"plan_id"`
	PlanName string `json:"plan_name"`
	// Scheduled is the plan's start time for this firing; At is when it
	// fired (Scheduled + Timing.PlanJitter).
	Scheduled time.Time `json:"scheduled"`
	At        time.Time `json:"at"`
	FromCU    int       `json:"from_cu"`
	ToCU      int       `json:"to_cu"`
}

const historyCap = 1000

type queue struct {
	id           int64
	name         string
	qtype        string
	description  string
	owner        string
	cu           int
	minCU, maxCU int
	cuSpec       int
	created      time.Time
	chargingMode int
	resourceMode int
	tags         map[string]string

	pending      *PendingScale
	restartUntil time.Time
	restarts     int
	changes      []CUChange
	firings      []PlanFiring
	plans        []*plan // ordered by id
}

type queueState struct {
	byName map[string]*queue
	// last is the instant up to which lifecycles have been caught up; zero
	// before the first catch-up.
	last time.Time
	// nextDue is the earliest pending scale completion or plan firing
	// after last (zero: none); catch-up skips all work before it. dirty
	// says a change (queue, plan or scale added) invalidated it.
	nextDue time.Time
	dirty   bool
}

func (s *queueState) init() { s.byName = map[string]*queue{} }

// queueExists reports whether a queue of that name exists (names are
// case-insensitive). Caller holds e.mu.
func (e *Emulator) queueExists(name string) bool {
	_, ok := e.queues.byName[strings.ToLower(name)]
	return ok
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,128}$`)
var digitsRE = regexp.MustCompile(`^[0-9]+$`)

// checkName applies DLI's rule for queue and plan names.
func checkName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s is required", what)
	case !nameRE.MatchString(name):
		return fmt.Errorf("%s %q must be 1 to 128 letters, digits and underscores", what, name)
	case digitsRE.MatchString(name):
		return fmt.Errorf("%s %q must not contain only digits", what, name)
	case strings.HasPrefix(name, "_"):
		return fmt.Errorf("%s %q must not start with an underscore", what, name)
	}
	return nil
}

// AddQueue adds a queue (the Go equivalent of POST /_emulator/queues).
func (e *Emulator) AddQueue(spec QueueSpec) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catchUpLocked()
	_, err := e.addQueueLocked(spec)
	return err
}

// Queue returns one queue's state at the clock's now (names are
// case-insensitive).
func (e *Emulator) Queue(name string) (QueueState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catchUpLocked()
	q := e.queues.byName[strings.ToLower(name)]
	if q == nil {
		return QueueState{}, false
	}
	return q.state(e.clock.Now()), true
}

// errExists marks an AddQueue error for an existing queue.
var errExists = errors.New("exists")

func (e *Emulator) addQueueLocked(spec QueueSpec) (*queue, error) {
	if err := checkName("queue_name", spec.Name); err != nil {
		return nil, err
	}
	name := strings.ToLower(spec.Name)
	if _, dup := e.queues.byName[name]; dup {
		return nil, fmt.Errorf("queue %s already %w", name, errExists)
	}
	switch spec.Type {
	case "":
		spec.Type = QueueTypeSQL
	case QueueTypeSQL, QueueTypeGeneral, QueueTypeAll:
	default:
		return nil, fmt.Errorf("queue_type %q must be sql, general or all", spec.Type)
	}
	if spec.CUCount == 0 {
		spec.CUCount = 16
	}
	if spec.MinCU == 0 {
		spec.MinCU = 16
	}
	if spec.MaxCU == 0 {
		spec.MaxCU = max(4*spec.CUCount, 256)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"cu_count", spec.CUCount}, {"min_cu", spec.MinCU}, {"max_cu", spec.MaxCU}} {
		if f.v <= 0 || f.v%16 != 0 {
			return nil, fmt.Errorf("%s %d must be a positive multiple of 16", f.name, f.v)
		}
	}
	if spec.MinCU > spec.CUCount || spec.CUCount > spec.MaxCU {
		return nil, fmt.Errorf("want min_cu ≤ cu_count ≤ max_cu, got %d ≤ %d ≤ %d", spec.MinCU, spec.CUCount, spec.MaxCU)
	}
	if spec.Owner == "" {
		spec.Owner = "emulator"
	}
	q := &queue{
		id: e.nextID(), name: name, qtype: spec.Type, description: spec.Description, owner: spec.Owner,
		cu: spec.CUCount, minCU: spec.MinCU, maxCU: spec.MaxCU, cuSpec: spec.CUCount,
		created: e.clock.Now(), chargingMode: 1, resourceMode: 1, tags: spec.Tags,
	}
	e.queues.byName[name] = q
	e.queues.dirty = true
	if e.queues.last.IsZero() {
		// Lifecycles start with the first queue: an advance before any
		// request must still fire the plans it passes.
		e.queues.last = q.created
	}
	return q, nil
}

func (q *queue) status(now time.Time) string {
	switch {
	case q.pending != nil:
		return QueueScaling
	case now.Before(q.restartUntil):
		return QueueRestarting
	}
	return QueueAvailable
}

func (q *queue) setCU(at time.Time, to int, cause string) {
	if to == q.cu {
		return
	}
	q.changes = appendCapped(q.changes, CUChange{At: at, FromCU: q.cu, ToCU: to, Cause: cause})
	q.cu = to
}

func appendCapped[T any](s []T, v T) []T {
	s = append(s, v)
	if len(s) > historyCap {
		s = append(s[:0:0], s[len(s)-historyCap:]...)
	}
	return s
}

// catchUp applies, in time order, every scale completion and plan firing
// that fell due since the last catch-up. Caller holds e.mu.
func (s *queueState) catchUp(e *Emulator, now time.Time) {
	if s.last.IsZero() || now.Before(s.last) {
		s.last = now
		return
	}
	if !now.After(s.last) {
		return
	}
	if !s.dirty && (s.nextDue.IsZero() || now.Before(s.nextDue)) {
		s.last = now
		return
	}
	from := s.last
	s.last = now
	jitter := e.opts.Timing.PlanJitter
	defer s.scheduleNext(now, jitter)
	for _, q := range s.byName {
		type event struct {
			at   time.Time
			plan *plan
			sch  time.Time
		}
		var evs []event
		if q.pending != nil && !q.pending.DueAt.After(now) {
			evs = append(evs, event{at: q.pending.DueAt})
		}
		for _, p := range q.plans {
			for _, o := range p.occurrences(from.Add(-jitter), now.Add(-jitter)) {
				evs = append(evs, event{at: o.Add(jitter), plan: p, sch: o})
			}
		}
		if len(evs) == 0 {
			continue
		}
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
		for _, ev := range evs {
			if ev.plan == nil {
				q.setCU(ev.at, q.pending.TargetCU, q.pending.Action)
				q.pending = nil
				continue
			}
			p := ev.plan
			q.firings = appendCapped(q.firings, PlanFiring{PlanID: p.id, PlanName: p.name, Scheduled: ev.sch, At: ev.at, FromCU: q.cu, ToCU: p.targetCU})
			p.lastExecute = ev.at
			p.fired++
			q.setCU(ev.at, p.targetCU, "plan:"+strconv.FormatInt(p.id, 10))
		}
	}
}

// scheduleNext computes nextDue after a catch-up to now.
func (s *queueState) scheduleNext(now time.Time, jitter time.Duration) {
	s.dirty = false
	s.nextDue = time.Time{}
	earlier := func(t time.Time) {
		if s.nextDue.IsZero() || t.Before(s.nextDue) {
			s.nextDue = t
		}
	}
	for _, q := range s.byName {
		if q.pending != nil {
			earlier(q.pending.DueAt)
		}
		for _, p := range q.plans {
			if !p.activate {
				continue
			}
			if o, ok := p.next(now.Add(-jitter)); ok {
				earlier(o.Add(jitter))
			}
		}
	}
}

func (s *queueState) snapshot() ([]QueueState, []PlanState) {
	qs := make([]QueueState, 0, len(s.byName))
	ps := []PlanState{}
	for _, name := range s.sortedNames() {
		q := s.byName[name]
		qs = append(qs, q.state(s.last))
		for _, p := range q.plans {
			ps = append(ps, p.state(q.name, s.last))
		}
	}
	return qs, ps
}

func (s *queueState) sortedNames() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (q *queue) state(now time.Time) QueueState {
	st := QueueState{
		Name: q.name, ID: q.id, Type: q.qtype, Description: q.description, Owner: q.owner,
		CUCount: q.cu, MinCU: q.minCU, MaxCU: q.maxCU, CUSpec: q.cuSpec, Status: q.status(now),
		CreateTime: q.created, ChargingMode: q.chargingMode, ResourceMode: q.resourceMode, Tags: q.tags,
		Restarts: q.restarts, CUChanges: append([]CUChange{}, q.changes...), PlanFirings: append([]PlanFiring{}, q.firings...),
	}
	if q.pending != nil {
		p := *q.pending
		st.PendingScale = &p
	}
	if now.Before(q.restartUntil) {
		t := q.restartUntil
		st.RestartingUntil = &t
	}
	return st
}

// resourceID is a stable UUID-shaped id for a queue.
func resourceID(id int64) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", id, id&0xffff, id&0xfff, id&0xfff, id)
}

// queueJSON is a queue in list queues (6.3): snake_case. Where the
// reference's table and the SDK spell a field differently both are sent
// (cidr_in_mgmt_subnet / cidr_in_mgntsubnet).
type queueJSON struct {
	QueueID             int64  `json:"queue_id"`
	QueueName           string `json:"queue_name"`
	Description         string `json:"description"`
	Owner               string `json:"owner"`
	CreateTime          int64  `json:"create_time"`
	QueueType           string `json:"queue_type"`
	CUCount             int    `json:"cu_count"`
	ChargingMode        int    `json:"charging_mode"`
	ResourceID          string `json:"resource_id"`
	EnterpriseProjectID string `json:"enterprise_project_id"`
	CIDRInVPC           string `json:"cidr_in_vpc"`
	CIDRInMgmtSubnet    string `json:"cidr_in_mgmt_subnet"`
	CIDRInMgntSubnet    string `json:"cidr_in_mgntsubnet"`
	CIDRInSubnet        string `json:"cidr_in_subnet"`
	ResourceMode        int    `json:"resource_mode"`
	Platform            string `json:"platform"`
	IsRestarting        bool   `json:"is_restarting"`
	ResourceType        string `json:"resource_type"`
	CUSpec              int    `json:"cu_spec"`
	CUScaleOutLimit     int    `json:"cu_scale_out_limit"`
	CUScaleInLimit      int    `json:"cu_scale_in_limit"`
}

func (q *queue) listJSON(now time.Time) queueJSON {
	return queueJSON{
		QueueID: q.id, QueueName: q.name, Description: q.description, Owner: q.owner,
		CreateTime: q.created.UnixMilli(), QueueType: q.qtype, CUCount: q.cu, ChargingMode: q.chargingMode,
		ResourceID: resourceID(q.id), EnterpriseProjectID: "0",
		CIDRInVPC: "172.16.0.0/12", CIDRInMgmtSubnet: "172.24.128.0/18", CIDRInMgntSubnet: "172.24.128.0/18",
		CIDRInSubnet: "172.24.0.0/18", ResourceMode: q.resourceMode, Platform: "x86_64",
		IsRestarting: now.Before(q.restartUntil), ResourceType: "vm", CUSpec: q.cuSpec,
		CUScaleOutLimit: q.maxCU, CUScaleInLimit: q.minCU,
	}
}

// showQueueJSON is show queue (6.4). The reference's table writes
// queueName, queueType, cuCount, createTime, resourceId… in camelCase, its
// example and the SDK use snake_case for some of them (create_time,
// resource_id, resource_mode, cu_spec, cu_scale_*_limit): those are sent in
// both spellings.
type showQueueJSON struct {
	IsSuccess           bool   `json:"is_success"`
	Message             string `json:"message"`
	QueueID             int64  `json:"queue_id"`
	QueueName           string `json:"queueName"`
	Description         string `json:"description"`
	Owner               string `json:"owner"`
	CreateTime          int64  `json:"createTime"`
	CreateTimeSnake     int64  `json:"create_time"`
	QueueType           string `json:"queueType"`
	CUCount             int    `json:"cuCount"`
	ChargingMode        int    `json:"chargingMode"`
	ResourceID          string `json:"resourceId"`
	ResourceIDSnake     string `json:"resource_id"`
	ResourceMode        int    `json:"resourceMode"`
	ResourceModeSnake   int    `json:"resource_mode"`
	EnterpriseProjectID string `json:"enterpriseProjectId"`
	EnterpriseSnake     string `json:"enterprise_project_id"`
	ResourceType        string `json:"resource_type"`
	CUSpec              int    `json:"cuSpec"`
	CUSpecSnake         int    `json:"cu_spec"`
	CUScaleOutLimit     int    `json:"cuScaleOutLimit"`
	CUScaleOutSnake     int    `json:"cu_scale_out_limit"`
	CUScaleInLimit      int    `json:"cuScaleInLimit"`
	CUScaleInSnake      int    `json:"cu_scale_in_limit"`
}

func (q *queue) showJSON() showQueueJSON {
	rid := resourceID(q.id)
	ms := q.created.UnixMilli()
	return showQueueJSON{
		IsSuccess: true, QueueID: q.id, QueueName: q.name, Description: q.description, Owner: q.owner,
		CreateTime: ms, CreateTimeSnake: ms, QueueType: q.qtype, CUCount: q.cu, ChargingMode: q.chargingMode,
		ResourceID: rid, ResourceIDSnake: rid, ResourceMode: q.resourceMode, ResourceModeSnake: q.resourceMode,
		EnterpriseProjectID: "0", EnterpriseSnake: "0", ResourceType: "vm",
		CUSpec: q.cuSpec, CUSpecSnake: q.cuSpec, CUScaleOutLimit: q.maxCU, CUScaleOutSnake: q.maxCU,
		CUScaleInLimit: q.minCU, CUScaleInSnake: q.minCU,
	}
}

// lookupQueue finds the path's queue or answers 400 DLI.0008 as 6.7 does.
func (e *Emulator) lookupQueue(w http.ResponseWriter, r *http.Request) *queue {
	name := r.PathValue("queue_name")
	q := e.queues.byName[strings.ToLower(name)]
	if q == nil {
		writeError(w, http.StatusBadRequest, "DLI.0008", "There is no queue named "+name+".")
	}
	return q
}

func (e *Emulator) registerQueues() {
	e.route("GET /v1.0/{project_id}/queues", e.listQueues)
	e.route("GET /v1.0/{project_id}/queues/{queue_name}", e.showQueue)
	e.route("PUT /v1.0/{project_id}/queues/{queue_name}/action", e.queueAction)
	e.route("POST /v1/{project_id}/queues/{queue_name}/plans", e.createPlan)
	e.route("GET /v1/{project_id}/queues/{queue_name}/plans", e.listPlans)
	e.route("POST /v1/{project_id}/queues/{queue_name}/plans/batch-delete", e.batchDeletePlans)
	e.route("DELETE /v1/{project_id}/queues/{queue_name}/plans/{plan_id}", e.deletePlan)
	e.route("PUT /v1/{project_id}/queues/{queue_name}/plans/{plan_id}", e.updatePlan)
	e.adminRoute("POST /_emulator/queues", func(w http.ResponseWriter, r *http.Request) {
		var spec QueueSpec
		if !decodeBody(w, r, &spec) {
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		e.catchUpLocked()
		q, err := e.addQueueLocked(spec)
		if errors.Is(err, errExists) {
			writeError(w, http.StatusConflict, "DLI.0006", err.Error())
			return
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "DLI.0001", err.Error())
			return
		}
		writeJSON(w, http.StatusCreated, q.state(e.clock.Now()))
	})
}

// listQueues is 6.3.
func (e *Emulator) listQueues(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bad := func(msg string) { writeError(w, http.StatusBadRequest, "DLI.0001", msg) }
	qtype := q.Get("queue_type")
	switch qtype {
	case "":
		qtype = QueueTypeSQL
	case QueueTypeSQL, QueueTypeGeneral, QueueTypeAll:
	default:
		bad("queue_type " + strconv.Quote(qtype) + " must be sql, general or all")
		return
	}
	for _, b := range []string{"with-priv", "with-charge-info"} {
		if v := q.Get(b); v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				bad(b + " must be true or false")
				return
			}
		}
	}
	pageSize, currentPage := 0, 1
	for _, p := range []struct {
		name string
		dst  *int
	}{{"page-size", &pageSize}, {"current-page", &currentPage}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				bad(p.name + " must be a positive integer")
				return
			}
			*p.dst = n
		}
	}
	order := q.Get("order")
	if order == "" {
		order = "queue_name_asc"
	}
	var less func(a, b *queue) bool
	switch order {
	case "queue_name_asc":
		less = func(a, b *queue) bool { return a.name < b.name }
	case "queue_name_desc":
		less = func(a, b *queue) bool { return a.name > b.name }
	case "cu_asc":
		less = func(a, b *queue) bool { return a.cu < b.cu || a.cu == b.cu && a.name < b.name }
	case "cu_desc":
		less = func(a, b *queue) bool { return a.cu > b.cu || a.cu == b.cu && a.name < b.name }
	default:
		bad("order " + strconv.Quote(order) + " must be queue_name_asc, queue_name_desc, cu_asc or cu_desc")
		return
	}
	tagFilter, err := parseTagFilter(q.Get("tags"))
	if err != nil {
		bad(err.Error())
		return
	}
	var list []*queue
	for _, qu := range e.queues.byName {
		if qtype != QueueTypeAll && qu.qtype != qtype {
			continue
		}
		if !matchTags(qu.tags, tagFilter) {
			continue
		}
		list = append(list, qu)
	}
	sort.Slice(list, func(i, j int) bool { return less(list[i], list[j]) })
	if pageSize > 0 {
		start := (currentPage - 1) * pageSize
		if start > len(list) {
			start = len(list)
		}
		list = list[start:min(start+pageSize, len(list))]
	}
	now := e.clock.Now()
	out := make([]queueJSON, 0, len(list))
	for _, qu := range list {
		out = append(out, qu.listJSON(now))
	}
	writeJSON(w, http.StatusOK, struct {
		IsSuccess bool        `json:"is_success"`
		Message   string      `json:"message"`
		Queues    []queueJSON `json:"queues"`
	}{true, "", out})
}

// parseTagFilter reads "k=v,k2=v2" (a bare "k" matches any value).
func parseTagFilter(s string) (map[string]*string, error) {
	if s == "" {
		return nil, nil
	}
	f := map[string]*string{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if k == "" {
			return nil, fmt.Errorf("tags %q: want key=value pairs separated by commas", s)
		}
		if ok {
			f[k] = &v
		} else {
			f[k] = nil
		}
	}
	return f, nil
}

func matchTags(tags map[string]string, f map[string]*string) bool {
	for k, want := range f {
		v, ok := tags[k]
		if !ok || want != nil && *want != v {
			return false
		}
	}
	return true
}

// showQueue is 6.4.
func (e *Emulator) showQueue(w http.ResponseWriter, r *http.Request) {
	if q := e.lookupQueue(w, r); q != nil {
		writeJSON(w, http.StatusOK, q.showJSON())
	}
}

// flexBool decodes a JSON boolean or the strings "true"/"false" (6.5's
// example sends "force": "false").
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	s := strings.Trim(string(data), `"`)
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, got %s", data)
	}
	*b = flexBool(v)
	return nil
}

// queueAction is 6.5: restart, scale_out, scale_in. cu_count is the number
// of CUs to add or remove (the reference: "Number of CUs to be scaled in or
// out"), a positive multiple of 16; the result must stay within the queue's
// scale limits. A queue that is scaling or restarting is busy (DLI.0999).
func (e *Emulator) queueAction(w http.ResponseWriter, r *http.Request) {
	q := e.lookupQueue(w, r)
	if q == nil {
		return
	}
	var req struct {
		Action  string    `json:"action"`
		Force   *flexBool `json:"force"`
		CUCount *int      `json:"cu_count"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	bad := func(code, msg string) { writeError(w, http.StatusBadRequest, code, msg) }
	now := e.clock.Now()
	switch req.Action {
	case "restart":
		if q.qtype == QueueTypeGeneral {
			bad("DLI.0007", "Only queues for SQL jobs can be restarted; queue "+q.name+" is a general queue.")
			return
		}
		if st := q.status(now); st != QueueAvailable {
			bad("DLI.0999", "The queue "+q.name+" is busy ("+st+"), please try again later.")
			return
		}
		q.restartUntil = now.Add(e.opts.Timing.RestartTime)
		q.restarts++
		if req.Force != nil && *req.Force {
			writeJSON(w, http.StatusOK, map[string]any{
				"is_success": true,
				"message":    "Submit restart job success, it need some time to cancel jobs, please wait for a while and check job status",
				"job_id":     resourceID(e.nextID()),
			})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"is_success": true, "message": "Restart success"})
	case "scale_out", "scale_in":
		if req.CUCount == nil {
			bad("DLI.0001", "cu_count is required for "+req.Action)
			return
		}
		n := *req.CUCount
		if n <= 0 || n%16 != 0 {
			bad("DLI.0001", fmt.Sprintf("cu_count %d must be a positive multiple of 16", n))
			return
		}
		if st := q.status(now); st != QueueAvailable {
			bad("DLI.0999", "The queue "+q.name+" is busy ("+st+"), please try again later.")
			return
		}
		target := q.cu + n
		if req.Action == "scale_in" {
			target = q.cu - n
		}
		if target > q.maxCU {
			bad("DLI.0001", fmt.Sprintf("scaling queue %s out by %d CUs to %d exceeds its scale-out limit of %d CUs", q.name, n, target, q.maxCU))
			return
		}
		if target < q.minCU || target < 16 {
			bad("DLI.0001", fmt.Sprintf("scaling queue %s in by %d CUs to %d goes below its scale-in limit of %d CUs", q.name, n, target, max(q.minCU, 16)))
			return
		}
		e.queues.dirty = true
		q.pending = &PendingScale{Action: req.Action, FromCU: q.cu, TargetCU: target, RequestedAt: now, DueAt: now.Add(e.opts.Timing.ScaleDelay)}
		writeJSON(w, http.StatusOK, map[string]any{"is_success": true, "message": "", "queue_name": q.name, "result": true})
	case "":
		bad("DLI.0001", "action is required: restart, scale_out or scale_in")
	default:
		bad("DLI.0001", "action "+strconv.Quote(req.Action)+" is not supported: use restart, scale_out or scale_in")
	}
}

// seed adds the demo queues: default (sql, 16 CUs), adhoc (sql, 16), etl
// (sql, 64, with a nightly scale-up plan and a morning scale-down plan) and
// prod (general, 128, for Flink and Spark). Caller holds e.mu.
func (s *queueState) seed(e *Emulator) {
	for _, spec := range []QueueSpec{
		{Name: "default", Type: QueueTypeSQL, CUCount: 16, Description: "default SQL queue"},
		{Name: "adhoc", Type: QueueTypeSQL, CUCount: 16, MaxCU: 64, Description: "ad-hoc queries"},
		{Name: "etl", Type: QueueTypeSQL, CUCount: 64, MinCU: 16, MaxCU: 256, Description: "nightly ETL"},
		{Name: "prod", Type: QueueTypeGeneral, CUCount: 128, MinCU: 64, MaxCU: 512, Description: "Flink and Spark jobs"},
	} {
		if _, err := e.addQueueLocked(spec); err != nil {
			panic("dlitest: demo seed: " + err.Error())
		}
	}
	s.dirty = true
	etl := s.byName["etl"]
	everyDay := []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"}
	etl.plans = append(etl.plans,
		&plan{id: e.nextID(), name: "nightly_up", targetCU: 128, hour: 1, minute: 0, days: everyDay, activate: true, created: e.clock.Now()},
		&plan{id: e.nextID(), name: "morning_down", targetCU: 64, hour: 7, minute: 0, days: everyDay, activate: true, created: e.clock.Now()},
	)
}

// pathPlanID parses the plan_id path segment.
func pathPlanID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	raw := r.PathValue("plan_id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "DLI.0001", "plan_id "+strconv.Quote(raw)+" must be a positive integer")
		return 0, false
	}
	return id, true
}
