package dlitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

func (e *Emulator) registerSpark() {
	e.route("POST /v2.0/{project_id}/batches", e.sparkCreate)
	e.route("GET /v2.0/{project_id}/batches", e.sparkList)
	e.route("GET /v2.0/{project_id}/batches/{batch_id}", e.sparkShow)
	e.route("DELETE /v2.0/{project_id}/batches/{batch_id}", e.sparkCancel)
	e.route("GET /v2.0/{project_id}/batches/{batch_id}/state", e.sparkState)
	e.route("GET /v2.0/{project_id}/batches/{batch_id}/log", e.sparkLog)
	e.registerSparkAdmin()
}

// sparkResource is an element of resources (Table 10-4).
type sparkResource struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// sparkCreateBody is the 10.1.1 body. Where the reference (snake_case) and
// the official SDK (Livy-style camelCase) name a field differently, both
// are accepted; giving both with different values is an error.
type sparkCreateBody struct {
	File        string          `json:"file"`
	ClassName   string          `json:"class_name"`
	ClassNameL  string          `json:"className"`
	Queue       string          `json:"queue"`
	ClusterName string          `json:"cluster_name"`
	Args        []string        `json:"args"`
	ScType      string          `json:"sc_type"`
	Jars        []string        `json:"jars"`
	PythonFiles []string        `json:"python_files"`
	PyFiles     []string        `json:"pyFiles"`
	Files       []string        `json:"files"`
	Modules     []string        `json:"modules"`
	Resources   []sparkResource `json:"resources"`
	Groups      []struct {
		Name      string          `json:"name"`
		Resources []sparkResource `json:"resources"`
	} `json:"groups"`
	Conf            json.RawMessage `json:"conf"`
	Name            string          `json:"name"`
	DriverMemory    *string         `json:"driver_memory"`
	DriverMemoryL   *string         `json:"driverMemory"`
	DriverCores     *int            `json:"driver_cores"`
	DriverCoresL    *int            `json:"driverCores"`
	ExecutorMemory  *string         `json:"executor_memory"`
	ExecutorMemoryL *string         `json:"executorMemory"`
	ExecutorCores   *int            `json:"executor_cores"`
	ExecutorCoresL  *int            `json:"executorCores"`
	NumExecutors    *int            `json:"num_executors"`
	NumExecutorsL   *int            `json:"numExecutors"`
	ObsBucket       string          `json:"obs_bucket"`
	AutoRecover     *bool           `json:"auto_recover"`
	AutoRecovery    *bool           `json:"auto_recovery"`
	MaxRetryTimes   *int            `json:"max_retry_times"`
	CatalogName     *string         `json:"catalog_name"`
	Feature         string          `json:"feature"`
	SparkVersion    string          `json:"spark_version"`
	Image           string          `json:"image"`
}

// sparkMemoryRe matches a memory size with its unit ("2G", "2048 MB").
var sparkMemoryRe = regexp.MustCompile(`^(?i)[1-9][0-9]*\s*[KMGT]B?$`)

// pickStr merges a reference-named and an SDK-named string field.
func pickStr(ref, sdk string, refName, sdkName string) (string, error) {
	if ref != "" && sdk != "" && ref != sdk {
		return "", fmt.Errorf("%s and %s disagree (%q vs %q)", refName, sdkName, ref, sdk)
	}
	if ref != "" {
		return ref, nil
	}
	return sdk, nil
}

func pickPtr[T comparable](ref, sdk *T, refName, sdkName string) (*T, error) {
	if ref != nil && sdk != nil && *ref != *sdk {
		return nil, fmt.Errorf("%s and %s disagree (%v vs %v)", refName, sdkName, *ref, *sdk)
	}
	if ref != nil {
		return ref, nil
	}
	return sdk, nil
}

// sparkSpec is a validated create request.
type sparkSpec struct {
	name, file, className, queue, clusterName, scType, kind string
	res                                                     sparkResources
	autoRecover                                             bool
	maxRetries                                              int
}

// validateSparkCreate checks a 10.1.1 body. A non-nil error is a
// parameter error (400 DLI.0001).
func validateSparkCreate(b *sparkCreateBody) (sparkSpec, error) {
	var sp sparkSpec
	var err error
	if sp.file = strings.TrimSpace(b.File); sp.file == "" {
		return sp, fmt.Errorf("file is mandatory")
	}
	if sp.className, err = pickStr(b.ClassName, b.ClassNameL, "class_name", "className"); err != nil {
		return sp, err
	}
	sp.kind = "spark"
	if strings.HasSuffix(strings.ToLower(sp.file), ".py") {
		sp.kind = "pyspark"
	} else if sp.className == "" {
		return sp, fmt.Errorf("class_name (className) is mandatory for a JAR application")
	}
	q, c := strings.TrimSpace(b.Queue), strings.TrimSpace(b.ClusterName)
	switch {
	case q != "" && c != "":
		return sp, fmt.Errorf("queue and cluster_name cannot coexist; use queue")
	case q == "" && c == "":
		return sp, fmt.Errorf("queue is mandatory")
	case q != "":
		sp.queue = q
	default:
		sp.queue = c
	}
	if !validQueueName(sp.queue) {
		return sp, fmt.Errorf("queue name %q is invalid: letters, digits and underscores, not only digits, not starting with an underscore", sp.queue)
	}
	sp.queue = strings.ToLower(sp.queue) // DLI queue names are case-insensitive
	sp.clusterName = sp.queue
	if sp.name = b.Name; len([]rune(sp.name)) > 128 {
		return sp, fmt.Errorf("name must be at most 128 characters long")
	}
	sp.scType = "A"
	if b.ScType != "" {
		sp.scType = strings.ToUpper(b.ScType)
		if _, ok := sparkScTypes[sp.scType]; !ok {
			return sp, fmt.Errorf("sc_type %q is invalid; valid values: A, B, C", b.ScType)
		}
	}
	sp.res = sparkScTypes[sp.scType]
	custom := false
	for _, m := range []struct {
		ref, sdk         *string
		refName, sdkName string
		dst              *string
	}{
		{b.DriverMemory, b.DriverMemoryL, "driver_memory", "driverMemory", &sp.res.driverMemory},
		{b.ExecutorMemory, b.ExecutorMemoryL, "executor_memory", "executorMemory", &sp.res.executorMemory},
	} {
		v, err := pickPtr(m.ref, m.sdk, m.refName, m.sdkName)
		if err != nil {
			return sp, err
		}
		if v == nil {
			continue
		}
		if !sparkMemoryRe.MatchString(strings.TrimSpace(*v)) {
			return sp, fmt.Errorf("%s must be a size with its unit, e.g. 2G or 2048 MB; got %q", m.refName, *v)
		}
		*m.dst, custom = strings.ReplaceAll(strings.TrimSpace(*v), " ", ""), true
	}
	for _, n := range []struct {
		ref, sdk         *int
		refName, sdkName string
		dst              *int
	}{
		{b.DriverCores, b.DriverCoresL, "driver_cores", "driverCores", &sp.res.driverCores},
		{b.ExecutorCores, b.ExecutorCoresL, "executor_cores", "executorCores", &sp.res.executorCores},
		{b.NumExecutors, b.NumExecutorsL, "num_executors", "numExecutors", &sp.res.numExecutors},
	} {
		v, err := pickPtr(n.ref, n.sdk, n.refName, n.sdkName)
		if err != nil {
			return sp, err
		}
		if v == nil {
			continue
		}
		if *v < 1 {
			return sp, fmt.Errorf("%s must be at least 1, got %d", n.refName, *v)
		}
		*n.dst, custom = *v, true
	}
	if custom {
		sp.scType = "CUSTOMIZED"
	}
	ar, err := pickPtr(b.AutoRecover, b.AutoRecovery, "auto_recover", "auto_recovery")
	if err != nil {
		return sp, err
	}
	sp.autoRecover = ar != nil && *ar
	sp.maxRetries = 20
	if b.MaxRetryTimes != nil {
		if *b.MaxRetryTimes < 0 || *b.MaxRetryTimes > 100 {
			return sp, fmt.Errorf("max_retry_times must be between 0 and 100, got %d", *b.MaxRetryTimes)
		}
		sp.maxRetries = *b.MaxRetryTimes
	}
	if b.CatalogName != nil && *b.CatalogName != "dli" {
		return sp, fmt.Errorf("catalog_name must be \"dli\", got %q", *b.CatalogName)
	}
	switch b.Feature {
	case "", "basic", "ai":
	case "custom":
		if b.Image == "" {
			return sp, fmt.Errorf("image is mandatory when feature is custom")
		}
	default:
		return sp, fmt.Errorf("feature %q is invalid; valid values: basic, ai, custom", b.Feature)
	}
	if c := bytes.TrimSpace(b.Conf); len(c) > 0 && c[0] != '{' && c[0] != '[' && string(c) != "null" {
		return sp, fmt.Errorf("conf must be a JSON object")
	}
	if _, err := pickStr(strings.Join(b.PythonFiles, "\x00"), strings.Join(b.PyFiles, "\x00"), "python_files", "pyFiles"); err != nil {
		return sp, fmt.Errorf("python_files and pyFiles disagree")
	}
	for i, r := range b.Resources {
		if r.Name == "" {
			return sp, fmt.Errorf("resources[%d].name is mandatory", i)
		}
	}
	for i, g := range b.Groups {
		if g.Name == "" {
			return sp, fmt.Errorf("groups[%d].name is mandatory", i)
		}
	}
	return sp, nil
}

func (e *Emulator) sparkCreate(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "DLI.0001", "invalid request body: "+err.Error())
		return
	}
	var body sparkCreateBody
	r.Body = io.NopCloser(bytes.NewReader(raw))
	if !decodeBody(w, r, &body) {
		return
	}
	sp, err := validateSparkCreate(&body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "DLI.0001", err.Error())
		return
	}
	if !e.queueExists(sp.queue) {
		writeError(w, http.StatusBadRequest, "DLI.0002", "There is no queue named "+sp.queue)
		return
	}
	owner := r.Header.Get("USER-ID")
	if owner == "" {
		owner = emulatorUser
	}
	var compact bytes.Buffer
	if json.Compact(&compact, raw) != nil {
		compact.Reset()
	}
	now := e.clock.Now()
	b := e.newBatch(sp, owner, now)
	b.reqBody = compact.String()
	e.spark.add(b)
	e.spark.begin(e, b, now)
	writeJSON(w, http.StatusOK, b.json(now, false))
}

// newBatch builds a batch (not yet added or started). Caller holds e.mu.
func (e *Emulator) newBatch(sp sparkSpec, owner string, created time.Time) *batch {
	seq := e.nextID()
	return &batch{
		seq: seq, id: batchUUID(seq), name: sp.name, owner: owner, queue: sp.queue,
		clusterName: sp.clusterName, scType: sp.scType, kind: sp.kind, file: sp.file,
		className: sp.className, res: sp.res, createTime: created, updateTime: created,
		fail: strings.Contains(sp.name, SparkFailMarker), autoRecover: sp.autoRecover,
		maxRetries: sp.maxRetries, log: []string{},
	}
}

// batchByPath finds the batch named by {batch_id}, answering the error
// itself when there is none.
func (e *Emulator) batchByPath(w http.ResponseWriter, r *http.Request) *batch {
	id := r.PathValue("batch_id")
	if !validBatchID(id) {
		writeError(w, http.StatusBadRequest, "DLI.0001", fmt.Sprintf("batch_id %q is invalid", id))
		return nil
	}
	b := e.spark.byID[strings.ToLower(id)]
	if b == nil {
		writeError(w, http.StatusBadRequest, "DLI.0002", fmt.Sprintf("The batch job %s does not exist.", id))
		return nil
	}
	return b
}

func (e *Emulator) sparkShow(w http.ResponseWriter, r *http.Request) {
	if b := e.batchByPath(w, r); b != nil {
		writeJSON(w, http.StatusOK, b.json(e.clock.Now(), true))
	}
}

func (e *Emulator) sparkState(w http.ResponseWriter, r *http.Request) {
	if b := e.batchByPath(w, r); b != nil {
		writeJSON(w, http.StatusOK, struct {
			ID    string `json:"id"`
			State string `json:"state"`
		}{b.id, b.state})
	}
}

func (e *Emulator) sparkCancel(w http.ResponseWriter, r *http.Request) {
	b := e.batchByPath(w, r)
	if b == nil {
		return
	}
	if !e.spark.cancel(b, e.clock.Now()) {
		writeError(w, http.StatusBadRequest, "DLI.0007", fmt.Sprintf("The batch job %s is in state %s and cannot be canceled.", b.id, b.state))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"msg": "deleted"})
}

func (e *Emulator) sparkLog(w http.ResponseWriter, r *http.Request) {
	b := e.batchByPath(w, r)
	if b == nil {
		return
	}
	from, size, err := parseSparkLogQuery(r.URL.Query(), b)
	if err != nil {
		writeError(w, http.StatusBadRequest, "DLI.0001", err.Error())
		return
	}
	total := int64(len(b.log))
	lines := []string{}
	if from < total {
		lines = append(lines, b.log[from:min(from+size, total)]...)
	}
	writeJSON(w, http.StatusOK, struct {
		ID    string   `json:"id"`
		From  int64    `json:"from"`
		Total int64    `json:"total"`
		Log   []string `json:"log"`
	}{b.id, from, total, lines})
}

// parseSparkLogQuery parses 10.1.6's query: from (default: the last 100
// lines), size (default 100), type ("driver" or empty) and index (a driver
// attempt, 0 to the batch's retries; every attempt shares one log here).
func parseSparkLogQuery(q url.Values, b *batch) (from, size int64, err error) {
	if from, err = queryInt(q, "from", max(int64(len(b.log))-100, 0), 0, 1<<53); err != nil {
		return 0, 0, err
	}
	if size, err = queryInt(q, "size", 100, 1, 1<<53); err != nil {
		return 0, 0, err
	}
	if _, err = queryInt(q, "index", 0, 0, int64(b.retries)); err != nil {
		return 0, 0, err
	}
	if t := q.Get("type"); t != "" && t != "driver" {
		return 0, 0, fmt.Errorf("type %q is invalid; valid value: driver", t)
	}
	return from, size, nil
}

// sparkListQuery is the parsed 10.1.3 query.
type sparkListQuery struct {
	queue, state, owner, name, id string
	start, end                    int64 // ms; -1: unset
	from, size                    int64
	order                         string // create_time_desc (default), create_time_asc, duration_desc, duration_asc
}

func parseSparkListQuery(q url.Values) (sparkListQuery, error) {
	f := sparkListQuery{start: -1, end: -1}
	var err error
	c, qn := q.Get("cluster_name"), q.Get("queue_name")
	for _, v := range []struct{ name, val string }{{"cluster_name", c}, {"queue_name", qn}} {
		if v.val != "" && !validQueueName(v.val) {
			return f, fmt.Errorf("%s %q is invalid", v.name, v.val)
		}
	}
	if strings.EqualFold(c, qn) {
		c = ""
	}
	if c != "" && qn != "" {
		return f, fmt.Errorf("cluster_name and queue_name name different queues")
	}
	f.queue = strings.ToLower(qn + c)
	if f.state = strings.ToLower(q.Get("state")); f.state != "" && !validBatchState(f.state) {
		return f, fmt.Errorf("state %q is invalid; valid values: %s", q.Get("state"), strings.Join(BatchStates, ", "))
	}
	f.owner, f.name = q.Get("owner"), q.Get("job_name")
	f.id = q.Get("job_id")
	if f.id == "" {
		f.id = q.Get("job-id") // the SDK's spelling
	}
	if f.id != "" && !validBatchID(f.id) {
		return f, fmt.Errorf("job_id %q is invalid", f.id)
	}
	f.id = strings.ToLower(f.id)
	if f.from, err = queryInt(q, "from", 0, 0, 1<<53); err != nil {
		return f, err
	}
	if f.size, err = queryInt(q, "size", 100, 1, 1<<53); err != nil {
		return f, err
	}
	if f.start, err = queryInt(q, "start", -1, 0, 1<<53); err != nil {
		return f, err
	}
	if f.end, err = queryInt(q, "end", -1, 0, 1<<53); err != nil {
		return f, err
	}
	if f.start >= 0 && f.end >= 0 && f.start > f.end {
		return f, fmt.Errorf("start (%d) must not be after end (%d)", f.start, f.end)
	}
	switch f.order = strings.ToLower(q.Get("order")); f.order {
	case "":
		f.order = "create_time_desc"
	case "create_time_desc", "create_time_asc", "duration_desc", "duration_asc":
	default:
		return f, fmt.Errorf("order %q is invalid; valid values: CREATE_TIME_DESC, CREATE_TIME_ASC, DURATION_DESC, DURATION_ASC", q.Get("order"))
	}
	return f, nil
}

func (f *sparkListQuery) match(b *batch) bool {
	if f.queue != "" && b.queue != f.queue ||
		f.state != "" && b.state != f.state ||
		f.owner != "" && b.owner != f.owner ||
		f.id != "" && b.id != f.id {
		return false
	}
	if f.name != "" && !containsFold(b.name, f.name) {
		return false
	}
	ms := b.createTime.UnixMilli()
	return (f.start < 0 || ms >= f.start) && (f.end < 0 || ms <= f.end)
}

func (e *Emulator) sparkList(w http.ResponseWriter, r *http.Request) {
	f, err := parseSparkListQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, "DLI.0001", err.Error())
		return
	}
	now := e.clock.Now()
	all := e.spark.batches
	sessions := []batchJSON{}
	total := int64(0)
	switch f.order {
	case "create_time_desc", "create_time_asc":
		for i := range all {
			b := all[i]
			if f.order == "create_time_desc" {
				b = all[len(all)-1-i]
			}
			if !f.match(b) {
				continue
			}
			if total >= f.from && total < f.from+f.size {
				sessions = append(sessions, b.json(now, false))
			}
			total++
		}
	default:
		var hits []*batch
		for _, b := range all {
			if f.match(b) {
				hits = append(hits, b)
			}
		}
		desc := f.order == "duration_desc"
		sort.SliceStable(hits, func(i, j int) bool {
			di, dj := hits[i].durationMS(now), hits[j].durationMS(now)
			if desc {
				return di > dj
			}
			return di < dj
		})
		total = int64(len(hits))
		if f.from < total {
			for _, b := range hits[f.from:min(f.from+f.size, total)] {
				sessions = append(sessions, b.json(now, false))
			}
		}
	}
	writeJSON(w, http.StatusOK, struct {
		From     int64       `json:"from"`
		Total    int64       `json:"total"`
		Sessions []batchJSON `json:"sessions"`
	}{f.from, total, sessions})
}
