package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// CloudEvent types of dlibot (contract). docs/events.md lists each type's
// subject, data schema and an example.
const (
	// TypeObjectCreated: an OBS object was created; data is [ObjectCreated];
	// subject [ObsSubject]. Consumed by obsimport.
	TypeObjectCreated = "dlibot.obs.object.created"
	// TypeMetricsSample: load samples of a DLI queue in Cloud Eye style;
	// data is one [MetricSample] or a JSON array of them; subject
	// [MetricsSubject]. Consumed by autoscale.
	TypeMetricsSample = "dlibot.metrics.sample"
	// TypeTick: a schedule tick for one function; data is [Tick]; subject
	// [TickSubject]. Consumed by the function it names.
	TypeTick = "dlibot.tick"

	// TypeIncidentOpened: jobwatch opened an incident; subject
	// OutSubject("jobwatch", "incident").
	TypeIncidentOpened = "dlibot.jobwatch.incident.opened"
	// TypeIncidentUpdated: jobwatch updated an open incident.
	TypeIncidentUpdated = "dlibot.jobwatch.incident.updated"
	// TypeIncidentResolved: jobwatch resolved an incident.
	TypeIncidentResolved = "dlibot.jobwatch.incident.resolved"

	// TypeImportSubmitted: obsimport submitted a DLI import job; subject
	// OutSubject("obsimport", "import").
	TypeImportSubmitted = "dlibot.obsimport.import.submitted"
	// TypeImportSucceeded: the import job finished successfully.
	TypeImportSucceeded = "dlibot.obsimport.import.succeeded"
	// TypeImportFailed: the import job failed.
	TypeImportFailed = "dlibot.obsimport.import.failed"

	// TypeChatopsCommand: chatops ran (or refused) a command; the audit
	// trail; subject OutSubject("chatops", "command").
	TypeChatopsCommand = "dlibot.chatops.command"

	// TypeAutoscaleDecision: autoscale decided a scale change or plan
	// update; subject OutSubject("autoscale", "decision").
	TypeAutoscaleDecision = "dlibot.autoscale.decision"
)

// Well-known CloudEvent sources of events dlibot itself produces.
const (
	// SourceTick is the source of ticks published by [PublishTick].
	SourceTick = "/dlibot/tick"
	// SourceObs is the source of object events dlibot converts from raw
	// OBS/S3 notifications (the receiver may append "/<bucket>").
	SourceObs = "/dlibot/obs"
)

// FunctionSource is the CloudEvent source of events a function emits:
// "/dlibot/<function>".
func FunctionSource(function string) string { return "/dlibot/" + function }

// ErrBadData reports event data that does not match its type's schema.
var ErrBadData = errors.New("events: bad event data")

// Tick is the data of a [TypeTick] event.
type Tick struct {
	// Function is the function the tick is for, e.g. "jobwatch".
	Function string `json:"function"`
	// PeriodStart is the start of the schedule period (UTC, RFC 3339); the
	// tick's CloudEvent id is "<function>/<PeriodStart>".
	PeriodStart time.Time `json:"period_start"`
}

// ObjectCreated is the data of a [TypeObjectCreated] event: one created
// object, converted from an OBS, FunctionGraph or S3 notification.
type ObjectCreated struct {
	// Bucket is the OBS bucket name.
	Bucket string `json:"bucket"`
	// Key is the object key, URL-decoded ("a b.csv", not "a+b.csv").
	Key string `json:"key"`
	// Size is the object size in bytes.
	Size int64 `json:"size"`
	// ETag is the object's entity tag without quotes, if known.
	ETag string `json:"etag,omitempty"`
	// VersionID is the object version, if the bucket is versioned
	// (notifications send "null" otherwise; converters drop that).
	VersionID string `json:"version_id,omitempty"`
	// EventName is the original notification's event name, e.g.
	// "ObjectCreated:Put".
	EventName string `json:"event_name,omitempty"`
	// EventTime is when the object was created (UTC).
	EventTime time.Time `json:"event_time"`
	// Region is the bucket's region, if known.
	Region string `json:"region,omitempty"`
}

// Validate checks the fields obsimport relies on.
func (o ObjectCreated) Validate() error {
	switch {
	case o.Bucket == "":
		return fmt.Errorf("%w: object.created without bucket", ErrBadData)
	case o.Key == "":
		return fmt.Errorf("%w: object.created without key", ErrBadData)
	case o.Size < 0:
		return fmt.Errorf("%w: object.created with negative size %d", ErrBadData, o.Size)
	}
	return nil
}

// NamespaceDLI is the Cloud Eye namespace of DLI metrics.
const NamespaceDLI = "SYS.DLI"

// Dimension is one Cloud Eye metric dimension.
type Dimension struct {
	// Name is the dimension name, e.g. "queue_name" or "queue_id".
	Name string `json:"name"`
	// Value is the dimension value, e.g. the queue name.
	Value string `json:"value"`
}

// MetricSample is one load sample of a [TypeMetricsSample] event, shaped
// like a Cloud Eye data point.
type MetricSample struct {
	// Namespace is the Cloud Eye namespace; [NamespaceDLI] for DLI metrics.
	Namespace string `json:"namespace"`
	// MetricName is the Cloud Eye metric, e.g. "queue_cu_num" or
	// "queue_job_launching_num".
	MetricName string `json:"metric_name"`
	// Dimensions identify the queue; see [MetricSample.Queue].
	Dimensions []Dimension `json:"dimensions"`
	// Value is the sample value in Unit.
	Value float64 `json:"value"`
	// Unit is the Cloud Eye unit, e.g. "Count" or "%"; optional.
	Unit string `json:"unit,omitempty"`
	// Timestamp is when the sample was taken (UTC). On input it may be an
	// RFC 3339 string or Cloud Eye's Unix time in milliseconds; it is
	// written as RFC 3339.
	Timestamp time.Time `json:"-"`
}

type metricSampleJSON struct {
	Namespace  string          `json:"namespace"`
	MetricName string          `json:"metric_name"`
	Dimensions []Dimension     `json:"dimensions"`
	Value      *float64        `json:"value"`
	Unit       string          `json:"unit,omitempty"`
	Timestamp  json.RawMessage `json:"timestamp"`
}

// MarshalJSON writes the sample with an RFC 3339 timestamp.
func (m MetricSample) MarshalJSON() ([]byte, error) {
	ts, err := json.Marshal(m.Timestamp.UTC())
	if err != nil {
		return nil, err
	}
	v := m.Value
	return json.Marshal(metricSampleJSON{m.Namespace, m.MetricName, m.Dimensions, &v, m.Unit, ts})
}

// UnmarshalJSON reads a sample; timestamp may be RFC 3339 or Unix
// milliseconds.
func (m *MetricSample) UnmarshalJSON(b []byte) error {
	var j metricSampleJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.Value == nil {
		return fmt.Errorf("%w: metric sample without value", ErrBadData)
	}
	ts, err := parseTimestamp(j.Timestamp)
	if err != nil {
		return err
	}
	*m = MetricSample{j.Namespace, j.MetricName, j.Dimensions, *j.Value, j.Unit, ts}
	return nil
}

func parseTimestamp(raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, fmt.Errorf("%w: metric sample without timestamp", ErrBadData)
	}
	if raw[0] == '"' {
		var t time.Time
		if err := json.Unmarshal(raw, &t); err != nil {
			return time.Time{}, fmt.Errorf("%w: timestamp: %v", ErrBadData, err)
		}
		return t.UTC(), nil
	}
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: timestamp %s is neither RFC 3339 nor Unix milliseconds", ErrBadData, raw)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// Queue returns the DLI queue the sample is about: the value of the
// "queue_name", "queue" or "queue_id" dimension, in that order of preference.
func (m MetricSample) Queue() string {
	for _, name := range []string{"queue_name", "queue", "queue_id"} {
		for _, d := range m.Dimensions {
			if d.Name == name {
				return d.Value
			}
		}
	}
	return ""
}

// Validate checks the fields autoscale relies on.
func (m MetricSample) Validate() error {
	switch {
	case m.MetricName == "":
		return fmt.Errorf("%w: metric sample without metric_name", ErrBadData)
	case m.Queue() == "":
		return fmt.Errorf("%w: metric sample %s without a queue_name/queue/queue_id dimension", ErrBadData, m.MetricName)
	case m.Timestamp.IsZero():
		return fmt.Errorf("%w: metric sample %s without timestamp", ErrBadData, m.MetricName)
	}
	return nil
}

// DecodeMetricSamples decodes the data of a [TypeMetricsSample] event: one
// sample object or a JSON array of samples. Every sample is validated.
func DecodeMetricSamples(data []byte) ([]MetricSample, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty metrics data", ErrBadData)
	}
	var out []MetricSample
	if data[0] == '[' {
		if err := json.Unmarshal(data, &out); err != nil {
			return nil, fmt.Errorf("%w: metrics batch: %w", ErrBadData, err)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: empty metrics batch", ErrBadData)
		}
	} else {
		var one MetricSample
		if err := json.Unmarshal(data, &one); err != nil {
			return nil, fmt.Errorf("%w: metric sample: %w", ErrBadData, err)
		}
		out = []MetricSample{one}
	}
	for i, s := range out {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
	}
	return out, nil
}
