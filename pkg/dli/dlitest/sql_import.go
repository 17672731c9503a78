package dlitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// 7.3.1 Importing Data: POST /v1.0/{project_id}/jobs/import-table makes an
// IMPORT job (the job type the reference's lists and 7.3.8 use) that runs
// for Timing.SQLLaunch + Timing.ImportRun and records the rows it imported.
// A data_path containing SQLFailMarker makes the job end FAILED.

// sqlFlexBool is a boolean that also accepts "true"/"false" strings (the
// reference's 7.3.2 example sends with_column_header as a string).
type sqlFlexBool struct {
	set, v bool
}

// UnmarshalJSON accepts true, false, "true", "false" and null.
func (b *sqlFlexBool) UnmarshalJSON(data []byte) error {
	switch string(bytes.TrimSpace(data)) {
	case "null":
		*b = sqlFlexBool{}
	case "true", `"true"`:
		*b = sqlFlexBool{set: true, v: true}
	case "false", `"false"`:
		*b = sqlFlexBool{set: true, v: false}
	default:
		return fmt.Errorf("want true or false, got %s", data)
	}
	return nil
}

// sqlImportRequest is 7.3.1's body. partition_spec is an object in the
// reference and a string in the SDK (ImportTableRequestBody): both are
// accepted, the string as a JSON object or as "k1=v1,k2=v2".
type sqlImportRequest struct {
	DataPath         string          `json:"data_path"`
	DataType         string          `json:"data_type"`
	DatabaseName     string          `json:"database_name"`
	TableName        string          `json:"table_name"`
	WithColumnHeader sqlFlexBool     `json:"with_column_header"`
	Delimiter        *string         `json:"delimiter"`
	QuoteChar        *string         `json:"quote_char"`
	EscapeChar       *string         `json:"escape_char"`
	DateFormat       *string         `json:"date_format"`
	BadRecordsPath   *string         `json:"bad_records_path"`
	TimestampFormat  *string         `json:"timestamp_format"`
	QueueName        string          `json:"queue_name"`
	Overwrite        sqlFlexBool     `json:"overwrite"`
	PartitionSpec    json.RawMessage `json:"partition_spec"`
	Conf             []string        `json:"conf"`
}

// sqlImportResponse is 7.3.1's response.
type sqlImportResponse struct {
	IsSuccess bool   `json:"is_success"`
	Message   string `json:"message"`
	JobID     string `json:"job_id"`
	JobMode   string `json:"job_mode"`
}

var (
	sqlDataTypes = map[string]bool{"csv": true, "parquet": true, "orc": true, "json": true, "avro": true}
	// sqlOBSPathRe: obs://bucket[/key] (s3a:// is what older DLI versions
	// required and is accepted too).
	sqlOBSPathRe   = regexp.MustCompile(`^(obs|s3a)://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$`)
	sqlTableNameRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,128}$`)
)

// sqlCheckDateFormat validates a Java date pattern: letters must be
// pattern letters (table 7-49, plus Y L F E k K Z X of SimpleDateFormat);
// text is quoted with '.
func sqlCheckDateFormat(p string) string {
	if strings.TrimSpace(p) == "" {
		return "must not be empty"
	}
	quoted := false
	for _, r := range p {
		switch {
		case r == '\'':
			quoted = !quoted
		case quoted:
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			if !strings.ContainsRune("GyYMLwWDdFEuaHkKhmsSzZX", r) {
				return fmt.Sprintf("has the unknown pattern letter %q", r)
			}
		}
	}
	if quoted {
		return "has an unclosed quote"
	}
	return ""
}

// sqlParsePartitionSpec reads partition_spec as an object or a string.
func sqlParsePartitionSpec(raw json.RawMessage) (map[string]string, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, ""
	}
	var obj map[string]any
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, "partition_spec: " + err.Error()
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, ""
		}
		if strings.HasPrefix(s, "{") {
			if err := json.Unmarshal([]byte(s), &obj); err != nil {
				return nil, "partition_spec is not a JSON object: " + err.Error()
			}
		} else {
			obj = map[string]any{}
			for _, pair := range strings.Split(s, ",") {
				k, v, ok := strings.Cut(pair, "=")
				if !ok {
					return nil, fmt.Sprintf("partition_spec %q is not column=value pairs", s)
				}
				obj[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `'"`)
			}
		}
	} else if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, "partition_spec must be an object of column: value: " + err.Error()
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		if strings.TrimSpace(k) == "" {
			return nil, "partition_spec has an empty column name"
		}
		switch v := v.(type) {
		case string:
			out[k] = v
		case float64, bool:
			out[k] = fmt.Sprint(v)
		default:
			return nil, fmt.Sprintf("partition_spec value of %s must be a string, number or boolean", k)
		}
	}
	return out, ""
}

// validate checks the request against 7.3.1's table and returns the import
// or an error message.
func (req *sqlImportRequest) validate() (*sqlImport, string) {
	switch {
	case req.DataPath == "":
		return nil, "data_path is required"
	case !sqlOBSPathRe.MatchString(req.DataPath):
		return nil, fmt.Sprintf("data_path %q must be an OBS path: obs://bucket/path", req.DataPath)
	case req.DataType == "":
		return nil, "data_type is required"
	case !sqlDataTypes[strings.ToLower(req.DataType)]:
		return nil, fmt.Sprintf("data_type %q is invalid: use csv, parquet, orc, json or avro", req.DataType)
	case req.DatabaseName == "":
		return nil, "database_name is required"
	case !sqlTableNameRe.MatchString(req.DatabaseName):
		return nil, fmt.Sprintf("database_name %q is invalid: use up to 128 letters, digits and underscores", req.DatabaseName)
	case req.TableName == "":
		return nil, "table_name is required"
	case !sqlTableNameRe.MatchString(req.TableName):
		return nil, fmt.Sprintf("table_name %q is invalid: use up to 128 letters, digits and underscores", req.TableName)
	}
	imp := &sqlImport{
		dataPath: req.DataPath, dataType: strings.ToLower(req.DataType), delimiter: req.Delimiter,
		quoteChar: req.QuoteChar, escapeChar: req.EscapeChar, dateFormat: req.DateFormat,
		timestampFormat: req.TimestampFormat, badRecordsPath: req.BadRecordsPath, overwrite: req.Overwrite.v,
	}
	if req.WithColumnHeader.set {
		h := req.WithColumnHeader.v
		imp.withHeader = &h
	}
	// CSV-only options (the reference: "can be specified when CSV data is
	// imported").
	csvOnly := []struct {
		name string
		set  bool
	}{
		{"with_column_header", req.WithColumnHeader.set}, {"delimiter", req.Delimiter != nil},
		{"quote_char", req.QuoteChar != nil}, {"escape_char", req.EscapeChar != nil},
	}
	for _, o := range csvOnly {
		if o.set && imp.dataType != "csv" {
			return nil, fmt.Sprintf("%s can only be specified when CSV data is imported (data_type is %s)", o.name, imp.dataType)
		}
	}
	for _, c := range []struct {
		name string
		v    *string
	}{{"delimiter", req.Delimiter}, {"quote_char", req.QuoteChar}, {"escape_char", req.EscapeChar}} {
		if c.v != nil && utf8.RuneCountInString(*c.v) != 1 {
			return nil, fmt.Sprintf("%s %q must be a single character", c.name, *c.v)
		}
	}
	for _, c := range []struct {
		name string
		v    *string
	}{{"date_format", req.DateFormat}, {"timestamp_format", req.TimestampFormat}} {
		if c.v == nil {
			continue
		}
		if imp.dataType != "csv" && imp.dataType != "json" {
			return nil, fmt.Sprintf("%s can only be specified when CSV or JSON data is imported (data_type is %s)", c.name, imp.dataType)
		}
		if msg := sqlCheckDateFormat(*c.v); msg != "" {
			return nil, fmt.Sprintf("%s %q %s", c.name, *c.v, msg)
		}
	}
	if p := req.BadRecordsPath; p != nil && !sqlOBSPathRe.MatchString(*p) {
		return nil, fmt.Sprintf("bad_records_path %q must be an OBS path: obs://bucket/path", *p)
	}
	part, msg := sqlParsePartitionSpec(req.PartitionSpec)
	if msg != "" {
		return nil, msg
	}
	imp.partition = part
	return imp, ""
}

// sqlImportStatement is the LOAD DATA statement an import-table job shows
// as its statement.
func sqlImportStatement(imp *sqlImport, db, table string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "LOAD DATA INPATH '%s' ", imp.dataPath)
	if imp.overwrite {
		b.WriteString("OVERWRITE ")
	}
	fmt.Fprintf(&b, "INTO TABLE %s.%s", db, table)
	if len(imp.partition) > 0 {
		keys := make([]string, 0, len(imp.partition))
		for k := range imp.partition {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s='%s'", k, imp.partition[k])
		}
		fmt.Fprintf(&b, " PARTITION (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintf(&b, " OPTIONS ('data_type'='%s')", imp.dataType)
	return b.String()
}

func (e *Emulator) sqlImportTable(w http.ResponseWriter, r *http.Request) {
	var req sqlImportRequest
	if !decodeBody(w, r, &req) {
		return
	}
	imp, msg := req.validate()
	if msg == "" {
		_, msg = sqlParseConf(req.Conf)
	}
	if msg != "" {
		writeError(w, http.StatusBadRequest, "DLI.0001", msg)
		return
	}
	queue, ok := e.sqlResolveQueue(w, "queue_name", req.QueueName)
	if !ok {
		return
	}
	if h := e.sql.sqlLockHolder(sqlLockKey(req.DatabaseName, req.TableName)); h != nil {
		sqlImportBusy(w, h)
		return
	}
	conf, _ := sqlParseConf(req.Conf)
	j := e.sqlNewJob(sqlJobSpec{
		statement: sqlImportStatement(imp, req.DatabaseName, req.TableName), jobType: "IMPORT",
		queue: queue, conf: conf, confList: req.Conf, imp: imp, failText: imp.dataPath,
		database: req.DatabaseName, table: req.TableName,
	}, e.clock.Now())
	e.sql.add(j)
	writeJSON(w, http.StatusOK, sqlImportResponse{
		IsSuccess: true, Message: "import data to table " + req.TableName + " started", JobID: j.id, JobMode: j.mode,
	})
}
