package rules

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// ErrUnusable reports a key that matched a rule but cannot be imported
// (no format could be inferred, a capture made an invalid table name).
var ErrUnusable = errors.New("rules: matched but not importable")

// Match is what a rule makes of one object: the import it calls for.
type Match struct {
	// Rule is the rule that matched.
	Rule *Rule
	// Captures are the named captures of the bucket and key patterns.
	Captures map[string]string
	// Database, Table, Queue and BadRecordsPath are the rule's templates
	// filled with the captures.
	Database, Table, Queue, BadRecordsPath string
	// Format is the data type (the rule's, or from the extension).
	Format string
	// Partition is the partition_spec, filled.
	Partition map[string]string
	// Path is what to import, relative to the bucket: the key, or for a
	// marker the folder (ending in "/").
	Path string
	// Marker says the key is a marker object: import its folder.
	Marker bool
	// AwaitMarker says the key is a data file of a marker rule: it is
	// imported with its folder when the marker lands, not on its own.
	AwaitMarker bool
}

// TableID is "database.table".
func (m *Match) TableID() string { return m.Database + "." + m.Table }

// compressions are suffixes looked through to find a data format.
var compressions = []string{".gz", ".bz2", ".deflate", ".snappy", ".lz4", ".zst"}

// FormatFromKey infers the data type from a key's extension ("" if none
// is recognised).
func FormatFromKey(key string) string {
	k := strings.ToLower(key)
	for _, c := range compressions {
		k = strings.TrimSuffix(k, c)
	}
	switch path.Ext(k) {
	case ".csv", ".tsv", ".txt":
		return "csv"
	case ".parquet", ".parq":
		return "parquet"
	case ".orc":
		return "orc"
	case ".json", ".jsonl", ".ndjson":
		return "json"
	case ".avro":
		return "avro"
	}
	return ""
}

// Match returns the import the first matching rule calls for, nil when no
// rule matches, or an error wrapping [ErrUnusable] when the matching rule
// cannot import the key.
func (s *Set) Match(bucket, key string) (*Match, error) {
	for _, r := range s.Rules {
		m, ok, err := r.match(bucket, key)
		if ok || err != nil {
			return m, err
		}
	}
	return nil, nil
}

func (r *Rule) match(bucket, key string) (*Match, bool, error) {
	var bm []string
	if r.bucketRe.NumSubexp() == 0 {
		if !r.bucketRe.MatchString(bucket) {
			return nil, false, nil
		}
	} else if bm = r.bucketRe.FindStringSubmatch(bucket); bm == nil {
		return nil, false, nil
	}
	km := r.keyRe.FindStringSubmatch(key)
	if km == nil && r.Trigger != TriggerMarker {
		return nil, false, nil
	}
	m := &Match{Rule: r, Path: key}
	var capRe = r.keyRe
	if r.Trigger == TriggerMarker {
		base, dir := path.Base(key), ""
		if i := strings.LastIndexByte(key, '/'); i >= 0 {
			dir = key[:i]
		}
		switch {
		case base == r.Marker && r.dirRe != nil && r.dirRe.MatchString(dir):
			km, capRe = r.dirRe.FindStringSubmatch(dir), r.dirRe
			m.Marker = true
		case base == r.Marker && r.dirRe == nil && km != nil:
			m.Marker = true
		case km != nil:
			m.AwaitMarker = true
		default:
			return nil, false, nil
		}
		if m.Marker {
			m.Path = ""
			if dir != "" {
				m.Path = dir + "/"
			}
		}
	} else if km == nil {
		return nil, false, nil
	}
	caps := map[string]string{}
	for i, n := range r.bucketRe.SubexpNames() {
		if n != "" && bm != nil {
			caps[n] = bm[i]
		}
	}
	for i, n := range capRe.SubexpNames() {
		if n != "" {
			caps[n] = km[i]
		}
	}
	m.Captures = caps
	fill := func(t string) string { return fillTemplate(t, caps) }
	m.Database, m.Table = fill(r.Database), fill(r.Table)
	m.Queue, m.BadRecordsPath = fill(r.Queue), fill(r.BadRecordsPath)
	if len(r.Partition) > 0 {
		m.Partition = make(map[string]string, len(r.Partition))
		for c, v := range r.Partition {
			m.Partition[c] = fill(v)
		}
	}
	if m.AwaitMarker {
		return m, true, nil
	}
	m.Format = r.Format
	switch {
	case m.Format == "" && m.Marker:
		m.Format = FormatFromKey(r.Key) // e.g. "dt={dt}/*.csv"
	case m.Format == "":
		m.Format = FormatFromKey(key)
	}
	switch {
	case m.Format == "":
		return m, true, fmt.Errorf("%w: rule %s: no format for %q (set format: or use a known extension)", ErrUnusable, r.Name, key)
	case !identRe.MatchString(m.Database) || !identRe.MatchString(m.Table):
		return m, true, fmt.Errorf("%w: rule %s: %q.%q is not a valid table name for %q", ErrUnusable, r.Name, m.Database, m.Table, key)
	}
	for c, v := range m.Partition {
		if v == "" {
			return m, true, fmt.Errorf("%w: rule %s: partition %s is empty for %q", ErrUnusable, r.Name, c, key)
		}
	}
	return m, true, nil
}

// fillTemplate replaces each {name} in t (name as templateRe has it: a
// letter or _, then letters, digits or _) with caps[name] ("" when
// missing) — templateRe.ReplaceAllStringFunc without the regexp, on every
// object's path.
func fillTemplate(t string, caps map[string]string) string {
	i := strings.IndexByte(t, '{')
	if i < 0 {
		return t
	}
	var b strings.Builder
	b.Grow(len(t) + 16)
	for i >= 0 {
		b.WriteString(t[:i])
		t = t[i:]
		n := templateName(t)
		if n == 0 {
			b.WriteByte('{')
			t = t[1:]
		} else {
			b.WriteString(caps[t[1:n-1]])
			t = t[n:]
		}
		i = strings.IndexByte(t, '{')
	}
	b.WriteString(t)
	return b.String()
}

// templateName returns the length of the "{name}" at the start of t, or
// 0 when t does not start with one.
func templateName(t string) int {
	isAlpha := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
	if len(t) < 3 || t[0] != '{' || !isAlpha(t[1]) {
		return 0
	}
	for j := 2; j < len(t); j++ {
		switch c := t[j]; {
		case c == '}':
			return j + 1
		case isAlpha(c) || c >= '0' && c <= '9':
		default:
			return 0
		}
	}
	return 0
}

// Describe is a one-line summary of the match for `check-rules`.
func (m *Match) Describe(bucket string) string {
	if m.AwaitMarker {
		return fmt.Sprintf("rule %s (line %d): data file of a marker rule; imported with its folder when %s lands",
			m.Rule.Name, m.Rule.line, m.Rule.Marker)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rule %s (line %d): import obs://%s/%s as %s into %s", m.Rule.Name, m.Rule.line, bucket, m.Path, m.Format, m.TableID())
	if len(m.Partition) > 0 {
		cols := make([]string, 0, len(m.Partition))
		for c := range m.Partition {
			cols = append(cols, c)
		}
		sort.Strings(cols)
		for i, c := range cols {
			cols[i] = c + "=" + m.Partition[c]
		}
		fmt.Fprintf(&b, " partition (%s)", strings.Join(cols, ", "))
	}
	if m.Queue != "" {
		fmt.Fprintf(&b, " on queue %s", m.Queue)
	}
	if m.Rule.Overwrite {
		b.WriteString(", overwrite")
	}
	return b.String()
}
