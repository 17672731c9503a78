package obsimport

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dlibot/dlibot/pkg/dli"
)

// DLI is the part of the DLI API obsimport uses; *dli.Client has it.
type DLI interface {
	ImportData(ctx context.Context, req dli.ImportRequest) (string, error)
	SubmitSQL(ctx context.Context, req dli.SQLRequest) (dli.SQLSubmission, error)
	SQLJobStatus(ctx context.Context, jobID string) (dli.SQLJob, error)
	ListSQLJobs(ctx context.Context, q dli.SQLJobQuery) (dli.SQLJobPage, error)
}

var _ DLI = (*dli.Client)(nil)

// Backends.
const (
	// BackendImport submits through the import API (reference 7.3.1).
	BackendImport = "import"
	// BackendSQL submits LOAD DATA INPATH … INTO TABLE … as a SQL job
	// (reference 7.3.3), tagged with the batch id.
	BackendSQL = "sql"
)

// TagBatch is the job tag carrying the batch id (SQL backend).
const TagBatch = "dlibot_obsimport_batch"

// backend submits a batch and finds it again after a crash.
type backend interface {
	name() string
	submit(ctx context.Context, b *Batch) (jobID string, err error)
	// find returns the job DLI created for b, "" when there is none.
	find(ctx context.Context, b *Batch) (string, error)
}

// errUnsafePath reports an object path the SQL backend refuses to quote.
var errUnsafePath = errors.New("obsimport: path cannot be quoted safely")

var identRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,128}$`)

// QuoteSQLString returns s as a Spark SQL string literal in single quotes:
// backslash, both quotes and control characters are escaped, so the
// literal always ends where it should and decodes to s. It refuses
// invalid UTF-8, which cannot be an OBS key.
func QuoteSQLString(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: %q is not valid UTF-8", errUnsafePath, s)
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04x`, r)
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String(), nil
}

// quoteIdent returns a validated identifier in backquotes.
func quoteIdent(s string) (string, error) {
	if !identRe.MatchString(s) {
		return "", fmt.Errorf("%w: %q is not a DLI name", errUnsafePath, s)
	}
	return "`" + s + "`", nil
}

// LoadDataSQL is the SQL backend's statement for a batch: LOAD DATA INPATH
// '<data path>' [OVERWRITE] INTO TABLE `db`.`table` [PARTITION (…)]
// [OPTIONS (…)]. Every value is a quoted literal, every name a validated
// identifier.
func LoadDataSQL(dataPath, database, table string, s Spec) (string, error) {
	p, err := QuoteSQLString(dataPath)
	if err != nil {
		return "", err
	}
	db, err := quoteIdent(database)
	if err != nil {
		return "", err
	}
	tb, err := quoteIdent(table)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("LOAD DATA INPATH " + p + " ")
	if s.Overwrite {
		b.WriteString("OVERWRITE ")
	}
	b.WriteString("INTO TABLE " + db + "." + tb)
	if len(s.Partition) > 0 {
		cols := make([]string, 0, len(s.Partition))
		for c := range s.Partition {
			cols = append(cols, c)
		}
		sort.Strings(cols)
		parts := make([]string, len(cols))
		for i, c := range cols {
			qc, err := quoteIdent(c)
			if err != nil {
				return "", err
			}
			qv, err := QuoteSQLString(s.Partition[c])
			if err != nil {
				return "", err
			}
			parts[i] = qc + "=" + qv
		}
		b.WriteString(" PARTITION (" + strings.Join(parts, ", ") + ")")
	}
	var opts [][2]string
	if s.Format == "csv" {
		opts = append(opts, [2]string{"HEADER", fmt.Sprint(s.Header)})
		for _, o := range [][2]string{{"DELIMITER", s.Delimiter}, {"QUOTECHAR", s.Quote}, {"ESCAPECHAR", s.Escape}} {
			if o[1] != "" {
				opts = append(opts, o)
			}
		}
	}
	for _, o := range [][2]string{{"DATEFORMAT", s.DateFormat}, {"TIMESTAMPFORMAT", s.TimestampFormat}} {
		if o[1] != "" {
			opts = append(opts, o)
		}
	}
	if s.BadRecordsPath != "" {
		opts = append(opts, [2]string{"BAD_RECORDS_LOGGER_ENABLE", "true"}, [2]string{"BAD_RECORD_ACTION", "REDIRECT"},
			[2]string{"BAD_RECORD_PATH", s.BadRecordsPath})
	}
	if len(opts) > 0 {
		parts := make([]string, len(opts))
		for i, o := range opts {
			qv, err := QuoteSQLString(o[1])
			if err != nil {
				return "", err
			}
			parts[i] = "'" + o[0] + "'=" + qv
		}
		b.WriteString(" OPTIONS (" + strings.Join(parts, ", ") + ")")
	}
	return b.String(), nil
}

// globEscape escapes the Hadoop glob metacharacters in a file name, so a
// batch path "dir/{a,b}" names exactly the files a and b.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\{}[]*?,`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// DataPath is the OBS path a batch imports: the object (or marker folder)
// itself for one path; for several objects of one folder a Hadoop glob
// "obs://bucket/dir/{a,b,c}" naming exactly them (their names escaped).
func DataPath(bucket string, paths []string) string {
	if len(paths) == 1 {
		return "obs://" + bucket + "/" + paths[0]
	}
	dir := ""
	if i := strings.LastIndexByte(paths[0], '/'); i >= 0 {
		dir = paths[0][:i+1]
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = globEscape(strings.TrimPrefix(p, dir))
	}
	return "obs://" + bucket + "/" + dir + "{" + strings.Join(names, ",") + "}"
}

// importBackend uses reference 7.3.1. The import API takes no tags; after
// a crash the job is found by its statement (DLI shows the data path in
// it), type IMPORT, table, and start time.
type importBackend struct {
	dli   DLI
	queue string
	skew  time.Duration
}

func (ib *importBackend) name() string { return BackendImport }

func (ib *importBackend) submit(ctx context.Context, b *Batch) (string, error) {
	s := b.Spec
	req := dli.ImportRequest{
		DataPath: b.DataPath, DataType: s.Format, Database: b.Database, Table: b.Table,
		DateFormat: s.DateFormat, TimestampFormat: s.TimestampFormat, BadRecordsPath: s.BadRecordsPath,
		Queue: firstNonEmpty(s.Queue, ib.queue), Overwrite: s.Overwrite, Partition: s.Partition, Conf: s.Conf,
	}
	if s.Format == "csv" {
		req.WithColumnHeader, req.Delimiter, req.QuoteChar, req.EscapeChar = s.Header, s.Delimiter, s.Quote, s.Escape
	}
	return ib.dli.ImportData(ctx, req)
}

func (ib *importBackend) find(ctx context.Context, b *Batch) (string, error) {
	page, err := ib.dli.ListSQLJobs(ctx, dli.SQLJobQuery{
		Type: "IMPORT", SQLPattern: b.DataPath, Start: b.IntentAt.Add(-ib.skew), Order: "start_time_asc",
	})
	if err != nil {
		return "", err
	}
	for _, j := range page.Jobs {
		if contains(b.PrevJobs, j.ID) || !strings.Contains(j.Statement, b.DataPath) {
			continue
		}
		if (j.Table != "" && !strings.EqualFold(j.Table, b.Table)) || (j.Database != "" && !strings.EqualFold(j.Database, b.Database)) {
			continue
		}
		return j.ID, nil
	}
	return "", nil
}

// sqlBackend uses reference 7.3.3 with LOAD DATA, tagging the job with the
// batch id so crash recovery finds it by tag.
type sqlBackend struct {
	dli   DLI
	queue string
	skew  time.Duration
}

func (sb *sqlBackend) name() string { return BackendSQL }

func (sb *sqlBackend) submit(ctx context.Context, b *Batch) (string, error) {
	stmt, err := LoadDataSQL(b.DataPath, b.Database, b.Table, b.Spec)
	if err != nil {
		return "", err
	}
	sub, err := sb.dli.SubmitSQL(ctx, dli.SQLRequest{
		SQL: stmt, Database: b.Database, Queue: firstNonEmpty(b.Spec.Queue, sb.queue), Conf: b.Spec.Conf,
		Tags: []dli.Tag{{Key: TagBatch, Value: b.ID}},
	})
	return sub.JobID, err
}

func (sb *sqlBackend) find(ctx context.Context, b *Batch) (string, error) {
	page, err := sb.dli.ListSQLJobs(ctx, dli.SQLJobQuery{
		Tags: TagBatch + "=" + b.ID, Start: b.IntentAt.Add(-sb.skew),
	})
	if err != nil {
		return "", err
	}
	for _, j := range page.Jobs {
		for _, t := range j.Tags {
			if t.Key == TagBatch && t.Value == b.ID {
				return j.ID, nil
			}
		}
	}
	return "", nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
