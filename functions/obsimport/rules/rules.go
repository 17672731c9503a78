// Package rules is obsimport's rules file (OBSIMPORT_RULES): which objects
// go to which DLI table, and how. A [Set] is loaded from YAML and validated
// at start, every error naming the file, line and field; [Set.Match] maps a
// bucket and key to the import it calls for.
//
// A rule matches a bucket (exact name or glob) and a key: a glob, where "*"
// matches within one path segment, "**" across segments, "?" one
// character and "{name}" captures part of one segment; or a regular
// expression with named groups. Captures fill "{name}" templates in
// database, table, queue, bad_records_path and partition values. The first
// matching rule wins.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/dlibot/dlibot/pkg/yamlfile"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// ErrInvalid reports a rules file that does not validate; the message
// names the file, line and field.
var ErrInvalid = errors.New("rules: invalid rules file")

// Formats are the data types DLI imports.
var Formats = []string{"csv", "parquet", "orc", "json", "avro"}

// Triggers.
const (
	// TriggerEach imports every matching object on its own (batched with
	// others for the same table when the backend allows).
	TriggerEach = "each"
	// TriggerMarker imports a whole folder once, when its marker object
	// (default "_SUCCESS") lands.
	TriggerMarker = "marker"
)

// Re-upload policies: what a new ETag (or version) of an object already
// handled does.
const (
	// ReuploadReload imports the new content (the default).
	ReuploadReload = "reload"
	// ReuploadSkip ignores it (counted and logged).
	ReuploadSkip = "skip"
	// ReuploadAlert ignores it and posts a Slack message.
	ReuploadAlert = "alert"
)

// DefaultMarker is the marker object name of marker rules.
const DefaultMarker = "_SUCCESS"

// CSV are CSV import options; empty fields mean DLI's defaults.
type CSV struct {
	// Header says the first line holds column names (default false).
	Header bool `yaml:"header"`
	// Delimiter is the column separator, one character (DLI default ",").
	Delimiter string `yaml:"delimiter"`
	// Quote is the quote character (DLI default `"`).
	Quote string `yaml:"quote"`
	// Escape is the escape character (DLI default `\`).
	Escape string `yaml:"escape"`
	// DateFormat is a Java date pattern (DLI default yyyy-MM-dd); CSV and
	// JSON only.
	DateFormat string `yaml:"date_format"`
	// TimestampFormat is a Java timestamp pattern (DLI default
	// yyyy-MM-dd HH:mm:ss); CSV and JSON only.
	TimestampFormat string `yaml:"timestamp_format"`
}

// Rule is one entry of the rules file.
type Rule struct {
	// Name is unique; used in logs, metrics and events. Required.
	Name string `yaml:"name"`
	// Bucket is the bucket's exact name or a glob. Required.
	Bucket string `yaml:"bucket"`
	// Key is a key glob; exactly one of Key and Regex is required.
	Key string `yaml:"key"`
	// Regex is a Go regular expression matched against the whole key, with
	// named groups as captures.
	Regex string `yaml:"regex"`
	// Database and Table name the target; may use {captures}. Required.
	Database string `yaml:"database"`
	Table    string `yaml:"table"`
	// Format is csv, parquet, orc, json or avro; empty takes it from the
	// key's extension (a trailing .gz, .bz2, .deflate, .snappy, .lz4 or
	// .zst is looked through).
	Format string `yaml:"format"`
	// CSV holds CSV options (date/timestamp formats also apply to JSON).
	CSV *CSV `yaml:"csv"`
	// BadRecordsPath is an obs:// path where DLI writes bad records; may
	// use {captures}.
	BadRecordsPath string `yaml:"bad_records_path"`
	// Partition is the partition_spec, column → value template, e.g.
	// {dt: "{dt}"}.
	Partition map[string]string `yaml:"partition"`
	// Queue is the DLI queue; empty means OBSIMPORT_QUEUE, then DLI's
	// default. May use {captures}.
	Queue string `yaml:"queue"`
	// Overwrite replaces the table's (or partition's) data instead of
	// appending (default false).
	Overwrite bool `yaml:"overwrite"`
	// Trigger is each (default) or marker.
	Trigger string `yaml:"trigger"`
	// Marker is the marker object's name with trigger marker (default
	// _SUCCESS).
	Marker string `yaml:"marker"`
	// OnReupload is reload (default), skip or alert.
	OnReupload string `yaml:"on_reupload"`
	// Conf are extra DLI job settings, "key=value".
	Conf []string `yaml:"conf"`

	line     int
	bucketRe *regexp.Regexp
	keyRe    *regexp.Regexp
	dirRe    *regexp.Regexp // marker rules with a glob: the key's folder
	names    map[string]bool
}

// Line is the rule's line in the rules file.
func (r *Rule) Line() int { return r.line }

// file is the document shape.
type file struct {
	Rules []*Rule `yaml:"rules"`
}

// Set is a validated, ordered list of rules.
type Set struct {
	// File is the file the rules came from (for messages).
	File  string
	Rules []*Rule
}

// Load reads and validates a rules file.
func Load(filename string) (*Set, error) {
	b, err := os.ReadFile(filename)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return Parse(filename, b)
}

// Parse validates rules from YAML; filename is used in messages. Every
// problem is reported (joined), each as "file:line:col: field: problem".
func Parse(filename string, data []byte) (*Set, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: %s: the file is empty (want a rules: list)", ErrInvalid, filename)
	}
	astFile, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlErr(filename, err)
	}
	var f file
	if err := yamlfile.Unmarshal(data, &f, yaml.DisallowUnknownField()); err != nil {
		return nil, yamlErr(filename, err)
	}
	if len(f.Rules) == 0 {
		return nil, fmt.Errorf("%w: %s: no rules (want a non-empty rules: list)", ErrInvalid, filename)
	}
	s := &Set{File: filename, Rules: f.Rules}
	var errs []error
	names := map[string]int{}
	for i, r := range f.Rules {
		if r == nil {
			errs = append(errs, posErr(filename, astFile, fmt.Sprintf("$.rules[%d]", i), fmt.Sprintf("rules[%d]", i), "empty rule"))
			continue
		}
		r.line = nodeLine(astFile, fmt.Sprintf("$.rules[%d]", i))
		for _, p := range r.validate() {
			field := fmt.Sprintf("rules[%d]", i)
			if r.Name != "" {
				field = fmt.Sprintf("rules[%d] (%s)", i, r.Name)
			}
			if p.field != "" {
				field += "." + p.field
			}
			yp := fmt.Sprintf("$.rules[%d]", i)
			if p.field != "" {
				yp += "." + strings.SplitN(p.field, ".", 2)[0]
			}
			errs = append(errs, posErr(filename, astFile, yp, field, p.msg))
		}
		if r.Name != "" {
			if j, dup := names[r.Name]; dup {
				errs = append(errs, posErr(filename, astFile, fmt.Sprintf("$.rules[%d].name", i), fmt.Sprintf("rules[%d].name", i),
					fmt.Sprintf("%q is already the name of rules[%d]", r.Name, j)))
			}
			names[r.Name] = i
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalid, errors.Join(errs...))
	}
	return s, nil
}

func yamlErr(filename string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		p := ye.GetToken().Position
		return fmt.Errorf("%w: %s:%d:%d: %s", ErrInvalid, filename, p.Line, p.Column, ye.GetMessage())
	}
	return fmt.Errorf("%w: %s: %v", ErrInvalid, filename, err)
}

func nodeAt(f *ast.File, p string) ast.Node {
	yp, err := yaml.PathString(p)
	if err != nil {
		return nil
	}
	n, err := yp.FilterFile(f)
	if err != nil || n == nil {
		return nil
	}
	return n
}

func nodeLine(f *ast.File, p string) int {
	if n := nodeAt(f, p); n != nil && n.GetToken() != nil {
		return n.GetToken().Position.Line
	}
	return 0
}

// posErr names the position of the YAML path p (or its parent rule when
// the field is absent).
func posErr(filename string, f *ast.File, p, field, msg string) error {
	n := nodeAt(f, p)
	if n == nil {
		if i := strings.LastIndex(p, "."); i > 1 {
			n = nodeAt(f, p[:i])
		}
	}
	if n != nil && n.GetToken() != nil {
		pos := n.GetToken().Position
		return fmt.Errorf("%s:%d:%d: %s: %s", filename, pos.Line, pos.Column, field, msg)
	}
	return fmt.Errorf("%s: %s: %s", filename, field, msg)
}

type problem struct{ field, msg string }

var (
	templateRe = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)
	identRe    = regexp.MustCompile(`^[A-Za-z0-9_]{1,128}$`)
	columnRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	javaDateRe = regexp.MustCompile(`^[GyYMLwWDdFEuaHkKhmsSzZX' \-:/.,T]+$`)
)

func oneChar(s string) bool { return len([]rune(s)) == 1 }

func (r *Rule) validate() []problem {
	var ps []problem
	add := func(field, format string, a ...any) { ps = append(ps, problem{field, fmt.Sprintf(format, a...)}) }
	if strings.TrimSpace(r.Name) == "" {
		add("name", "is required")
	} else if !regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`).MatchString(r.Name) {
		add("name", "%q may only contain letters, digits, '.', '-' and '_' (1-64)", r.Name)
	}
	r.names = map[string]bool{}
	if r.Bucket == "" {
		add("bucket", "is required (an exact name or a glob)")
	} else if re, names, err := compileGlob(r.Bucket, false); err != nil {
		add("bucket", "%v", err)
	} else {
		r.bucketRe = re
		for _, n := range names {
			r.names[n] = true
		}
	}
	switch {
	case r.Key == "" && r.Regex == "":
		add("key", "one of key (a glob) and regex is required")
	case r.Key != "" && r.Regex != "":
		add("regex", "give key or regex, not both")
	case r.Key != "":
		re, names, err := compileGlob(r.Key, true)
		if err != nil {
			add("key", "%v", err)
			break
		}
		r.keyRe = re
		for _, n := range names {
			if r.names[n] {
				add("key", "capture {%s} is used twice", n)
			}
			r.names[n] = true
		}
	default:
		re, err := regexp.Compile(`^(?:` + r.Regex + `)$`)
		if err != nil {
			add("regex", "%v", err)
			break
		}
		r.keyRe = re
		for _, n := range re.SubexpNames() {
			if n != "" {
				r.names[n] = true
			}
		}
	}
	checkTemplate := func(field, v string, required bool) {
		if v == "" {
			if required {
				add(field, "is required")
			}
			return
		}
		for _, m := range templateRe.FindAllStringSubmatch(v, -1) {
			if !r.names[m[1]] {
				add(field, "uses {%s}, which the key pattern does not capture (captures: %s)", m[1], r.captureList())
			}
		}
		if !strings.Contains(v, "{") && (field == "database" || field == "table") && !identRe.MatchString(v) {
			add(field, "%q is not a DLI name (letters, digits and '_', up to 128)", v)
		}
	}
	checkTemplate("database", r.Database, true)
	checkTemplate("table", r.Table, true)
	checkTemplate("queue", r.Queue, false)
	checkTemplate("bad_records_path", r.BadRecordsPath, false)
	if r.BadRecordsPath != "" && !strings.HasPrefix(r.BadRecordsPath, "obs://") {
		add("bad_records_path", "%q must be an obs:// path", r.BadRecordsPath)
	}
	cols := make([]string, 0, len(r.Partition))
	for c := range r.Partition {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	for _, c := range cols {
		if !columnRe.MatchString(c) {
			add("partition."+c, "%q is not a column name", c)
		}
		checkTemplate("partition."+c, r.Partition[c], true)
	}
	if r.Format != "" {
		r.Format = strings.ToLower(r.Format)
		ok := false
		for _, f := range Formats {
			ok = ok || f == r.Format
		}
		if !ok {
			add("format", "%q is not one of %s", r.Format, strings.Join(Formats, ", "))
		}
	}
	if c := r.CSV; c != nil {
		if r.Format != "" && r.Format != "csv" && (c.Header || c.Delimiter != "" || c.Quote != "" || c.Escape != "") {
			add("csv", "header, delimiter, quote and escape apply to csv only (format is %s)", r.Format)
		}
		for _, o := range []struct{ field, v string }{{"csv.delimiter", c.Delimiter}, {"csv.quote", c.Quote}, {"csv.escape", c.Escape}} {
			if o.v != "" && !oneChar(o.v) {
				add(o.field, "%q must be a single character", o.v)
			}
		}
		for _, o := range []struct{ field, v string }{{"csv.date_format", c.DateFormat}, {"csv.timestamp_format", c.TimestampFormat}} {
			if o.v != "" && !javaDateRe.MatchString(o.v) {
				add(o.field, "%q is not a Java date pattern (letters GyYMLwWDdFEuaHkKhmsSzZX, quotes, separators)", o.v)
			}
		}
	}
	switch r.Trigger {
	case "":
		r.Trigger = TriggerEach
	case TriggerEach, TriggerMarker:
	default:
		add("trigger", "%q is not each or marker", r.Trigger)
	}
	if r.Marker != "" && r.Trigger != TriggerMarker {
		add("marker", "is only used with trigger: marker")
	}
	if r.Trigger == TriggerMarker {
		if r.Marker == "" {
			r.Marker = DefaultMarker
		}
		if strings.Contains(r.Marker, "/") {
			add("marker", "%q must be an object name without '/'", r.Marker)
		}
		if r.Key != "" && r.keyRe != nil {
			dir := path.Dir(r.Key)
			if dir == "." {
				dir = ""
			}
			if re, _, err := compileGlob(dir, true); err == nil {
				r.dirRe = re
			}
		}
	}
	switch r.OnReupload {
	case "":
		r.OnReupload = ReuploadReload
	case ReuploadReload, ReuploadSkip, ReuploadAlert:
	default:
		add("on_reupload", "%q is not reload, skip or alert", r.OnReupload)
	}
	for i, c := range r.Conf {
		if k, _, ok := strings.Cut(c, "="); !ok || strings.TrimSpace(k) == "" {
			add(fmt.Sprintf("conf[%d]", i), "%q is not key=value", c)
		}
	}
	return ps
}

func (r *Rule) captureList() string {
	var n []string
	for k := range r.names {
		n = append(n, "{"+k+"}")
	}
	sort.Strings(n)
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, " ")
}

// compileGlob turns a glob into an anchored regexp: "**" matches anything,
// "*" anything but '/', "?" one character but '/', "{name}" captures one
// or more characters but '/' (only when captures is true; otherwise braces
// are literal). Other characters match themselves.
func compileGlob(g string, captures bool) (*regexp.Regexp, []string, error) {
	var b strings.Builder
	var names []string
	b.WriteString("(?s)^") // keys may hold newlines
	for i := 0; i < len(g); {
		switch {
		case strings.HasPrefix(g[i:], "**"):
			b.WriteString(".*")
			i += 2
		case g[i] == '*':
			b.WriteString("[^/]*")
			i++
		case g[i] == '?':
			b.WriteString("[^/]")
			i++
		case g[i] == '{' && captures:
			j := strings.IndexByte(g[i:], '}')
			if j < 0 {
				return nil, nil, fmt.Errorf("glob %q: unclosed {", g)
			}
			name := g[i+1 : i+j]
			if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(name) {
				return nil, nil, fmt.Errorf("glob %q: {%s} is not a capture name (letters, digits, '_')", g, name)
			}
			for _, n := range names {
				if n == name {
					return nil, nil, fmt.Errorf("glob %q: capture {%s} is used twice", g, name)
				}
			}
			names = append(names, name)
			b.WriteString("(?P<" + name + ">[^/]+?)")
			i += j + 1
		default:
			j := i + 1
			for j < len(g) && !strings.ContainsRune("*?{", rune(g[j])) {
				j++
			}
			b.WriteString(regexp.QuoteMeta(g[i:j]))
			i = j
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, nil, fmt.Errorf("glob %q: %v", g, err)
	}
	return re, names, nil
}
