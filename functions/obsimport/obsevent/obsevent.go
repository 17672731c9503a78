// Package obsevent decodes the object notifications obsimport accepts into
// one normalised shape: OBS native notifications (eventVersion 3.0,
// Records[].obs), the same wrapped in an SMN HTTP(S) message, FunctionGraph's
// S3-compatible records and AWS S3 notifications (Records[].s3), EventGrid
// CloudEvents for OBS (a single record in data), and dlibot's own
// dlibot.obs.object.created CloudEvent.
//
// Keys are decoded exactly as each source encodes them: OBS, FunctionGraph,
// S3 and EventGrid send the key URL-encoded in query style ("+" is a space,
// "%2F" a slash), so they are unescaped with [url.QueryUnescape]; dlibot's
// own event carries the decoded key and is taken as is. An invalid escape is
// a malformed event, never a silently wrong key.
//
// Events that are not object creations (ObjectRemoved…), test events (the
// S3 s3:TestEvent) and folder markers (a key ending in "/") are reported as
// [Ignored] with a reason, not as errors.
package obsevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dlibot/dlibot/pkg/events"
)

// ErrMalformed reports a notification obsevent cannot decode; the message
// says what is wrong. A webhook answers it 400; a consumer drops the event
// to the DLQ with the message as the reason.
var ErrMalformed = errors.New("obsevent: malformed notification")

// Format names the shape a notification came in.
type Format string

// The formats obsevent decodes.
const (
	// FormatOBS is OBS's native notification (eventVersion 3.0,
	// Records[].obs, eventSource "OBS").
	FormatOBS Format = "obs"
	// FormatSMN is an SMN HTTP(S) message; a Notification's message is
	// decoded recursively (its objects keep the inner format).
	FormatSMN Format = "smn"
	// FormatS3 is the S3 record shape (Records[].s3): AWS S3 notifications
	// and FunctionGraph's S3-compatible OBS trigger (eventVersion 2.x).
	FormatS3 Format = "s3"
	// FormatEventGrid is a CloudEvent from Huawei EventGrid whose data is
	// one OBS record (source HC.OBS…, type OBS:…).
	FormatEventGrid Format = "eventgrid"
	// FormatDlibot is dlibot's own normalised dlibot.obs.object.created
	// CloudEvent.
	FormatDlibot Format = "dlibot"
	// FormatS3Test is the s3:TestEvent S3 sends when a notification is
	// configured.
	FormatS3Test Format = "s3-test"
)

// Object is one created object, normalised.
type Object struct {
	events.ObjectCreated
	// Sequencer is the source's sequencer, if any (orders events of one
	// key only, and OBS says not reliably; kept for logs).
	Sequencer string `json:"sequencer,omitempty"`
	// RequestID is the storage request id, if the source sent one.
	RequestID string `json:"request_id,omitempty"`
	// Format is the shape the object was decoded from.
	Format Format `json:"format"`
}

// ContentID identifies the object's content: the version id when the
// bucket is versioned, else the ETag ("" when neither is known).
func (o Object) ContentID() string {
	switch {
	case o.VersionID != "" && o.ETag != "":
		return o.ETag + "#" + o.VersionID
	case o.VersionID != "":
		return "#" + o.VersionID
	}
	return o.ETag
}

// Ignored is a record that was understood but is not an object to import.
type Ignored struct {
	// Format is the record's shape.
	Format Format
	// EventName is the record's event name, e.g. "ObjectRemoved:Delete".
	EventName string
	// Bucket and Key are set when the record had them.
	Bucket, Key string
	// Reason is a metric label: "not_create", "test_event",
	// "folder_marker" or "control" (SMN subscription messages).
	Reason string
}

// Result is a decoded notification.
type Result struct {
	// Format is the outermost shape.
	Format Format
	// Objects are the created objects, in record order.
	Objects []Object
	// Ignored are the records that are not objects to import.
	Ignored []Ignored
	// SMN is the SMN envelope when the notification came through SMN.
	SMN *SMNMessage
}

// Decode decodes a notification body; header (HTTP or NATS, matched
// case-insensitively; may be nil) tells SMN messages and binary-mode
// CloudEvents apart. Every error wraps [ErrMalformed].
func Decode(header map[string][]string, body []byte) (Result, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return Result{}, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if len(body) > events.MaxEventSize {
		return Result{}, fmt.Errorf("%w: %d bytes exceeds the %d byte limit", ErrMalformed, len(body), events.MaxEventSize)
	}
	if headerGet(header, "ce-specversion") != "" {
		e, err := events.Decode(header, body)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return FromCloudEvent(e)
	}
	if body[0] != '{' {
		return Result{}, fmt.Errorf("%w: body is not a JSON object", ErrMalformed)
	}
	if headerGet(header, HeaderSMNType) == "" {
		// OBS and S3 records, the common case, in one pass. Anything else
		// (no Records, null Records, a CloudEvent, an error anywhere) goes
		// the general way below, which decides and words errors as before.
		var direct struct {
			SpecVersion json.RawMessage `json:"specversion"`
			Records     []record        `json:"Records"`
			// Decoded only so that a wrong type fails here as in the
			// general way.
			TopicURN *string `json:"topic_urn"`
			Type     *string `json:"type"`
			Event    string  `json:"Event"`
		}
		if err := json.Unmarshal(body, &direct); err == nil && direct.SpecVersion == nil && direct.Records != nil {
			return fromRecords(direct.Records)
		}
	}
	return decodeObject(header, body)
}

// decodeObject decodes a JSON object body of any shape: a probe for the
// shape's fields, then the shape's decoder.
func decodeObject(header map[string][]string, body []byte) (Result, error) {
	var probe struct {
		SpecVersion json.RawMessage `json:"specversion"`
		Records     json.RawMessage `json:"Records"`
		TopicURN    *string         `json:"topic_urn"`
		Type        *string         `json:"type"`
		Event       string          `json:"Event"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case headerGet(header, HeaderSMNType) != "" || (probe.TopicURN != nil && probe.Type != nil && probe.Records == nil):
		return decodeSMN(header, body)
	case probe.SpecVersion != nil:
		e, err := events.Decode(map[string][]string{"Content-Type": {events.ContentType}}, body)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return FromCloudEvent(e)
	case probe.Records != nil:
		return decodeRecords(probe.Records)
	case probe.Event == "s3:TestEvent":
		return Result{Format: FormatS3Test, Ignored: []Ignored{{Format: FormatS3Test, EventName: probe.Event, Reason: "test_event"}}}, nil
	}
	return Result{}, fmt.Errorf("%w: not an OBS, SMN, S3 or CloudEvent notification (no Records, specversion or topic_urn)", ErrMalformed)
}

// FromCloudEvent decodes a CloudEvent: dlibot's object.created, or an
// EventGrid OBS event. Other types are malformed for obsimport.
func FromCloudEvent(e events.Event) (Result, error) {
	switch {
	case e.Type() == events.TypeObjectCreated:
		var o events.ObjectCreated
		if err := json.Unmarshal(e.Data(), &o); err != nil {
			return Result{}, fmt.Errorf("%w: %s data: %v", ErrMalformed, e.Type(), err)
		}
		if err := o.Validate(); err != nil {
			return Result{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		o.ETag = strings.Trim(o.ETag, `"`)
		if o.VersionID == "null" {
			o.VersionID = ""
		}
		obj := Object{ObjectCreated: o, Format: FormatDlibot}
		if isFolderMarker(o.Key) {
			return Result{Format: FormatDlibot, Ignored: []Ignored{{FormatDlibot, o.EventName, o.Bucket, o.Key, "folder_marker"}}}, nil
		}
		return Result{Format: FormatDlibot, Objects: []Object{obj}}, nil
	case strings.HasPrefix(e.Source(), "HC.OBS") || strings.HasPrefix(e.Type(), "OBS:"):
		data := bytes.TrimSpace(e.Data())
		if len(data) == 0 || data[0] != '{' {
			return Result{}, fmt.Errorf("%w: EventGrid OBS event %s without a JSON object as data", ErrMalformed, e.ID())
		}
		var probe struct {
			Records json.RawMessage `json:"Records"`
		}
		if err := json.Unmarshal(data, &probe); err != nil {
			return Result{}, fmt.Errorf("%w: EventGrid data: %v", ErrMalformed, err)
		}
		var res Result
		var err error
		if probe.Records != nil {
			res, err = decodeRecords(probe.Records)
		} else {
			res, err = decodeRecords(append(append([]byte{'['}, data...), ']'))
		}
		if err != nil {
			return Result{}, err
		}
		res.Format = FormatEventGrid
		for i := range res.Objects {
			res.Objects[i].Format = FormatEventGrid
			// The envelope time is UTC; the record's eventTime was seen
			// carrying local time labelled Z (research §2.3).
			if t := e.Time(); !t.IsZero() {
				res.Objects[i].EventTime = t.UTC()
			}
			if res.Objects[i].RequestID == "" {
				res.Objects[i].RequestID = e.ID()
			}
		}
		for i := range res.Ignored {
			res.Ignored[i].Format = FormatEventGrid
		}
		return res, nil
	}
	return Result{}, fmt.Errorf("%w: CloudEvent type %q (source %q) is not an object event (want %s or an EventGrid OBS event)",
		ErrMalformed, e.Type(), e.Source(), events.TypeObjectCreated)
}

// record is the union of the OBS (v3.0) and S3 (v2.x) record shapes.
type record struct {
	EventVersion     string `json:"eventVersion"`
	EventSource      string `json:"eventSource"`
	EventRegion      string `json:"eventRegion"`
	AWSRegion        string `json:"awsRegion"`
	EventTime        string `json:"eventTime"`
	EventName        string `json:"eventName"`
	ResponseElements struct {
		OBSRequestID string `json:"x-obs-request-id"`
		AMZRequestID string `json:"x-amz-request-id"`
	} `json:"responseElements"`
	OBS               *recordBody `json:"obs"`
	S3                *recordBody `json:"s3"`
	decodedBodyFormat Format
}

type recordBody struct {
	Bucket struct {
		Name   string `json:"name"`
		Bucket string `json:"bucket"`
	} `json:"bucket"`
	Object struct {
		Key       *string   `json:"key"`
		ETag      string    `json:"eTag"`
		Size      flexInt64 `json:"size"`
		VersionID string    `json:"versionId"`
		Sequencer string    `json:"sequencer"`
	} `json:"object"`
}

// flexInt64 accepts a JSON number or a string holding one.
type flexInt64 int64

func (f *flexInt64) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return nil
	}
	s = strings.Trim(s, `"`)
	if s == "" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("size %s is not an integer", b)
	}
	*f = flexInt64(n)
	return nil
}

func decodeRecords(raw json.RawMessage) (Result, error) {
	var recs []record
	if err := json.Unmarshal(raw, &recs); err != nil {
		return Result{}, fmt.Errorf("%w: Records: %v", ErrMalformed, err)
	}
	return fromRecords(recs)
}

func fromRecords(recs []record) (Result, error) {
	if len(recs) == 0 {
		return Result{}, fmt.Errorf("%w: Records is empty", ErrMalformed)
	}
	var res Result
	for i, r := range recs {
		obj, ign, err := r.decode()
		if err != nil {
			return Result{}, fmt.Errorf("record %d: %w", i, err)
		}
		if res.Format == "" {
			res.Format = obj.Format
			if ign != nil {
				res.Format = ign.Format
			}
		}
		if ign != nil {
			res.Ignored = append(res.Ignored, *ign)
			continue
		}
		res.Objects = append(res.Objects, obj)
	}
	return res, nil
}

// decode normalises one record: an object, or the reason it is ignored.
func (r record) decode() (Object, *Ignored, error) {
	body, format := r.OBS, FormatOBS
	if body == nil {
		body, format = r.S3, FormatS3
	}
	if body == nil {
		return Object{}, nil, fmt.Errorf("%w: record has neither obs nor s3", ErrMalformed)
	}
	bucket := body.Bucket.Name
	if bucket == "" {
		bucket = body.Bucket.Bucket
	}
	name := r.EventName
	for _, p := range []string{"s3:", "obs:", "OBS:"} {
		name = strings.TrimPrefix(name, p)
	}
	if name == "" {
		return Object{}, nil, fmt.Errorf("%w: record without eventName", ErrMalformed)
	}
	if bucket == "" {
		return Object{}, nil, fmt.Errorf("%w: record without bucket name", ErrMalformed)
	}
	var key string
	if body.Object.Key != nil {
		k, err := url.QueryUnescape(*body.Object.Key)
		if err != nil {
			return Object{}, nil, fmt.Errorf("%w: object key %q is not URL-encoded correctly: %v", ErrMalformed, *body.Object.Key, err)
		}
		key = k
	}
	if !strings.HasPrefix(strings.ToLower(name), "objectcreated:") {
		return Object{}, &Ignored{Format: format, EventName: name, Bucket: bucket, Key: key, Reason: "not_create"}, nil
	}
	if key == "" {
		return Object{}, nil, fmt.Errorf("%w: %s record without object key", ErrMalformed, name)
	}
	if isFolderMarker(key) {
		return Object{}, &Ignored{Format: format, EventName: name, Bucket: bucket, Key: key, Reason: "folder_marker"}, nil
	}
	if body.Object.Size < 0 {
		return Object{}, nil, fmt.Errorf("%w: negative object size %d", ErrMalformed, body.Object.Size)
	}
	version := body.Object.VersionID
	if version == "null" {
		version = ""
	}
	var t time.Time
	if r.EventTime != "" {
		pt, err := time.Parse(time.RFC3339Nano, r.EventTime)
		if err != nil {
			return Object{}, nil, fmt.Errorf("%w: eventTime %q is not RFC 3339", ErrMalformed, r.EventTime)
		}
		t = pt.UTC()
	}
	region := r.EventRegion
	if region == "" {
		region = r.AWSRegion
	}
	reqID := r.ResponseElements.OBSRequestID
	if reqID == "" {
		reqID = r.ResponseElements.AMZRequestID
	}
	return Object{
		ObjectCreated: events.ObjectCreated{
			Bucket: bucket, Key: key, Size: int64(body.Object.Size), ETag: strings.Trim(body.Object.ETag, `"`),
			VersionID: version, EventName: name, EventTime: t, Region: region,
		},
		Sequencer: body.Object.Sequencer, RequestID: reqID, Format: format,
	}, nil, nil
}

func isFolderMarker(key string) bool { return strings.HasSuffix(key, "/") }

// headerGet returns the first value of header name, case-insensitively.
func headerGet(h map[string][]string, name string) string {
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return vs[0]
		}
	}
	return ""
}

// Event converts o to dlibot's normalised object.created CloudEvent: id
// "<bucket>/<key>@<content id>" (stable, so a redelivered notification is
// stored once within the stream's duplicate window), source
// "/dlibot/obs/<bucket>", subject the key, time the event time.
func (o Object) Event() (events.Event, error) {
	id := o.Bucket + "/" + o.Key + "@" + o.ContentID()
	e, err := events.NewEvent(id, events.SourceObs+"/"+o.Bucket, events.TypeObjectCreated, o.ObjectCreated)
	if err != nil {
		return events.Event{}, err
	}
	if strings.TrimSpace(o.Key) != "" { // the CloudEvents SDK refuses a blank subject
		e.SetSubject(o.Key)
	}
	if !o.EventTime.IsZero() {
		e.SetTime(o.EventTime)
	}
	return e, nil
}
