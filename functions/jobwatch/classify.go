package jobwatch

import (
	"sort"
	"strings"
)

// Job kinds (the first segment of an incident key).
const (
	KindFlink = "flink"
	KindSpark = "spark"
	KindSQL   = "sql"
)

// Incident kinds: what went wrong.
const (
	// IncidentFailed: the job failed (Flink job_submit_fail,
	// job_running_exception, job_cancel_fail; Spark dead; SQL FAILED).
	IncidentFailed = "failed"
	// IncidentBilling: the job was stopped for arrears
	// (job_arrearage_stopped).
	IncidentBilling = "billing"
	// IncidentUnknown: DLI reported a status jobwatch does not know.
	IncidentUnknown = "unknown"
	// IncidentStuck: the job stayed in a transitional state past its
	// threshold.
	IncidentStuck = "stuck"
	// IncidentFlapping: the job failed FlapCount times within FlapWindow
	// (an incident that started as failed becomes flapping).
	IncidentFlapping = "flapping"
	// IncidentSlow: the run takes far longer than the job's own history.
	IncidentSlow = "slow"
	// IncidentStopped: a streaming (Flink) job stopped without a user
	// stopping it.
	IncidentStopped = "stopped"
)

type class int

const (
	classUnknown      class = iota
	classHealthy            // running
	classTransitional       // on its way somewhere; stuck thresholds apply
	classFinished           // ended well, or stopped by a user
	classInactive           // draft or idle: nothing to watch
	classFailed
	classBilling
)

func (c class) String() string {
	return [...]string{"unknown", "healthy", "transitional", "finished", "inactive", "failed", "billing"}[c]
}

// statusInfo is the classification of one status of one kind.
type statusInfo struct {
	class class
	// text is a short human description.
	text string
}

var statusTable = map[string]map[string]statusInfo{
	KindFlink: {
		"job_init":                 {classInactive, "draft"},
		"job_submitting":           {classTransitional, "being submitted"},
		"job_submit_fail":          {classFailed, "submission failed"},
		"job_running":              {classHealthy, "running"},
		"job_running_exception":    {classFailed, "stopped by an exception"},
		"job_downloading":          {classTransitional, "being downloaded"},
		"job_idle":                 {classInactive, "idle"},
		"job_canceling":            {classTransitional, "being stopped"},
		"job_cancel_success":       {classFinished, "stopped"},
		"job_cancel_fail":          {classFailed, "stopping failed"},
		"job_savepointing":         {classTransitional, "creating a savepoint"},
		"job_finish":               {classFinished, "completed"},
		"job_arrearage_stopped":    {classBilling, "stopped for arrears (unpaid balance)"},
		"job_arrearage_recovering": {classTransitional, "recovering from arrears"},
	},
	KindSpark: {
		"starting":   {classTransitional, "starting"},
		"running":    {classHealthy, "running"},
		"dead":       {classFailed, "dead (failed or cancelled)"},
		"success":    {classFinished, "succeeded"},
		"recovering": {classTransitional, "being restored"},
	},
	KindSQL: {
		"LAUNCHING": {classTransitional, "launching"},
		"RUNNING":   {classHealthy, "running"},
		"SCALING":   {classTransitional, "scaling"},
		"FINISHED":  {classFinished, "finished"},
		"FAILED":    {classFailed, "failed"},
		"CANCELLED": {classFinished, "cancelled"},
	},
}

// normStatus spells a status as the table does: Spark lower case, SQL upper
// case, Flink as is.
func normStatus(kind, s string) string {
	switch kind {
	case KindSpark:
		return strings.ToLower(s)
	case KindSQL:
		return strings.ToUpper(s)
	}
	return s
}

func classify(kind, status string) statusInfo {
	if si, ok := statusTable[kind][normStatus(kind, status)]; ok {
		return si
	}
	return statusInfo{classUnknown, "unknown status " + status}
}

// kindOfState guesses the kind a state name belongs to (for JOBWATCH_STUCK).
func kindOfState(s string) string {
	for _, k := range []string{KindFlink, KindSpark, KindSQL} {
		if _, ok := statusTable[k][s]; ok {
			return k
		}
	}
	return ""
}

func transitionalStates() []string {
	var out []string
	for _, t := range statusTable {
		for s, si := range t {
			if si.class == classTransitional {
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}
