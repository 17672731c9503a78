package dlitest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Statement analysis: the job type (reference 7.3.3/7.3.5 job types), the
// target table and a deterministic fake result. This is keyword matching,
// not a SQL parser; it is only as smart as the emulator needs.

// sqlJobTypes are the job types of reference 7.3.5's job-type filter.
var sqlJobTypes = map[string]bool{
	"DDL": true, "DCL": true, "IMPORT": true, "EXPORT": true, "QUERY": true, "INSERT": true,
	"DATA_MIGRATION": true, "UPDATE": true, "DELETE": true, "RESTART_QUEUE": true, "SCALE_QUEUE": true,
}

// sqlKeywordTypes maps a statement's first keyword to its job type.
var sqlKeywordTypes = map[string]string{
	"SELECT": "QUERY", "WITH": "QUERY", "VALUES": "QUERY", "EXPLAIN": "QUERY", "FROM": "QUERY",
	"CREATE": "DDL", "DROP": "DDL", "ALTER": "DDL", "DESC": "DDL", "DESCRIBE": "DDL", "SHOW": "DDL",
	"TRUNCATE": "DDL", "MSCK": "DDL", "ANALYZE": "DDL", "USE": "DDL", "REFRESH": "DDL",
	"CACHE": "DDL", "UNCACHE": "DDL", "CLEAR": "DDL", "SET": "DDL", "RESET": "DDL",
	"GRANT": "DCL", "REVOKE": "DCL",
	"INSERT": "INSERT",
	"LOAD":   "IMPORT",
	"EXPORT": "EXPORT",
	"UPDATE": "UPDATE",
	"DELETE": "DELETE",
}

var (
	sqlLineComment  = regexp.MustCompile(`--[^\n]*`)
	sqlBlockComment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	sqlWithInsert   = regexp.MustCompile(`(?i)\binsert\s+(into|overwrite)\b`)
	sqlIdent        = "`?[A-Za-z0-9_]+`?(?:\\.`?[A-Za-z0-9_]+`?)?"
	sqlFromRe       = regexp.MustCompile(`(?i)\bfrom\s+(` + sqlIdent + `)`)
	sqlInsertRe     = regexp.MustCompile(`(?i)\binsert\s+(?:into|overwrite)\s+(?:table\s+)?(` + sqlIdent + `)`)
	sqlUpdateRe     = regexp.MustCompile(`(?i)^\s*update\s+(` + sqlIdent + `)`)
	sqlDDLRe        = regexp.MustCompile(`(?i)\b(?:table|view|desc|describe)\s+(?:if\s+(?:not\s+)?exists\s+|formatted\s+|extended\s+)?(` + sqlIdent + `)`)
	sqlLoadHeadRe   = regexp.MustCompile(`(?is)^load\s+data\s+(?:local\s+)?inpath\s*`)
	sqlLoadTailRe   = regexp.MustCompile(`(?is)^\s*(overwrite\s+)?into\s+table\s+(` + sqlIdent + `)`)
	sqlLimitRe      = regexp.MustCompile(`(?i)\blimit\s+(\d+)\s*;?\s*$`)
	sqlAliasRe      = regexp.MustCompile("(?is)^(.*?)\\s+(?:as\\s+)?`?([A-Za-z_][A-Za-z0-9_]*)`?$")
	sqlColumnRe     = regexp.MustCompile("^`?(?:[A-Za-z0-9_]+`?\\.`?)?([A-Za-z_][A-Za-z0-9_]*)`?$")
	sqlNumberRe     = regexp.MustCompile(`^-?\d+(\.\d+)?$`)
	sqlGroupByRe    = regexp.MustCompile(`(?i)\bgroup\s+by\b`)
	sqlAggregateRe  = regexp.MustCompile(`(?i)^(count|sum|avg|min|max)\s*\(`)
	sqlCountRe      = regexp.MustCompile(`(?i)^count\s*\(`)
)

// sqlStrip removes comments and surrounding blanks and parentheses.
func sqlStrip(stmt string) string {
	s := sqlBlockComment.ReplaceAllString(stmt, " ")
	s = sqlLineComment.ReplaceAllString(s, " ")
	return strings.TrimLeft(strings.TrimSpace(s), "( \t\r\n")
}

// sqlClassify returns the statement's job type, or "" when the statement
// does not start with a known keyword.
func sqlClassify(stmt string) string {
	s := sqlStrip(stmt)
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z')
	})
	if end < 0 {
		end = len(s)
	}
	kw := strings.ToUpper(s[:end])
	t := sqlKeywordTypes[kw]
	if kw == "WITH" && sqlWithInsert.MatchString(s) {
		t = "INSERT"
	}
	return t
}

// sqlSplitName splits "db.table" (backquotes removed); db falls back to
// currentdb.
func sqlSplitName(name, currentdb string) (db, table string) {
	name = strings.ReplaceAll(name, "`", "")
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return currentdb, name
}

// sqlTarget returns the table a statement reads or writes, best effort.
func sqlTarget(jobType, stmt, currentdb string) (db, table string) {
	s := sqlStrip(stmt)
	var re *regexp.Regexp
	switch jobType {
	case "QUERY":
		re = sqlFromRe
	case "INSERT":
		re = sqlInsertRe
	case "UPDATE":
		re = sqlUpdateRe
	case "DELETE":
		re = sqlFromRe
	case "DDL":
		re = sqlDDLRe
	case "IMPORT":
		if l, ok := sqlParseLoad(stmt); ok {
			return sqlSplitName(l.table, currentdb)
		}
		return currentdb, ""
	default:
		return currentdb, ""
	}
	if m := re.FindStringSubmatch(s); m != nil {
		return sqlSplitName(m[1], currentdb)
	}
	return currentdb, ""
}

// sqlLoad is a parsed LOAD DATA [LOCAL] INPATH 'path' [OVERWRITE] INTO
// TABLE name statement.
type sqlLoad struct {
	path      string // the decoded path literal
	overwrite bool
	table     string // "db.table" or "table", as written (backquotes kept)
}

// sqlParseLoad parses a LOAD DATA statement's path and target table. The
// path is a Spark string literal (sqlStringLiteral): its quotes, escapes,
// semicolons and comment markers never end the statement early.
func sqlParseLoad(stmt string) (sqlLoad, bool) {
	s := sqlSkipComments(stmt)
	s = strings.TrimLeft(s, "( \t\r\n")
	head := sqlLoadHeadRe.FindStringIndex(s)
	if head == nil {
		return sqlLoad{}, false
	}
	path, n, ok := sqlStringLiteral(s[head[1]:])
	if !ok {
		return sqlLoad{}, false
	}
	m := sqlLoadTailRe.FindStringSubmatch(s[head[1]+n:])
	if m == nil {
		return sqlLoad{}, false
	}
	return sqlLoad{path: path, overwrite: m[1] != "", table: m[2]}, true
}

// sqlSkipComments drops the blanks and comments (-- to the end of the
// line, /* … */) that precede a statement.
func sqlSkipComments(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s[2:], "*/")
			if i < 0 {
				return ""
			}
			s = s[2+i+2:]
		default:
			return s
		}
	}
}

// sqlStringLiteral reads the Spark string literal at the start of s and
// returns its value and length. Spark's rules (its lexer's STRING_LITERAL
// and DOUBLEQUOTED_STRING tokens, unescaped as by unescapeSQLString):
// either quote; a backslash escapes the next character, so \' and \" do
// not end the literal; \0 \b \n \r \t \Z \\ are control characters and
// a backslash, \uXXXX a Unicode code point, \ooo (first digit 0 or 1) an
// octal one; \% and \_ keep their backslash; any other escaped character
// stands for itself. R'…' and r"…" are raw literals: no escapes, they end
// at the next quote of their kind. ok is false when s does not start with
// a complete literal.
func sqlStringLiteral(s string) (val string, n int, ok bool) {
	i, raw := 0, false
	if len(s) > 0 && (s[0] == 'r' || s[0] == 'R') {
		i, raw = 1, true
	}
	if i >= len(s) || s[i] != '\'' && s[i] != '"' {
		return "", 0, false
	}
	q := s[i]
	i++
	var b strings.Builder
	for i < len(s) {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, true
		case c != '\\' || raw:
			b.WriteByte(c)
			i++
		case i+1 >= len(s):
			return "", 0, false
		default:
			i += 1 + sqlUnescape(&b, s[i+1:])
		}
	}
	return "", 0, false
}

// sqlUnescape writes the character escaped by the backslash before e
// (non-empty) and returns how many bytes of e the escape used.
func sqlUnescape(b *strings.Builder, e string) int {
	if e[0] == 'u' && len(e) >= 5 {
		if r, err := strconv.ParseUint(e[1:5], 16, 32); err == nil && !strings.ContainsAny(e[1:5], "+-") {
			b.WriteRune(rune(r))
			return 5
		}
	}
	if len(e) >= 3 && e[0] >= '0' && e[0] <= '1' && e[1] >= '0' && e[1] <= '7' && e[2] >= '0' && e[2] <= '7' {
		b.WriteByte((e[0]-'0')<<6 | (e[1]-'0')<<3 | (e[2] - '0'))
		return 3
	}
	switch c := e[0]; c {
	case '0':
		b.WriteByte(0)
	case 'b':
		b.WriteByte('\b')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'Z':
		b.WriteByte(0x1a)
	case '%', '_':
		b.WriteByte('\\')
		b.WriteByte(c)
	default:
		b.WriteByte(c)
	}
	return 1
}

// sqlColumn is a result column; typ is a Hive type (int, bigint, double,
// string, boolean). literal, when set, is the value of every row.
type sqlColumn struct {
	name    string
	typ     string
	literal any
}

// sqlSplitTop splits s on commas outside parentheses and quotes.
func sqlSplitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	var quote rune
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"' || r == '`':
			quote = r
		case r == '(':
			depth++
		case r == ')':
			depth--
		case r == ',' && depth == 0:
			parts = append(parts, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(parts, strings.TrimSpace(s[start:]))
}

// sqlSelectList returns the text between the first SELECT and the FROM at
// the same nesting level (or the end).
func sqlSelectList(s string) string {
	low := sqlASCIILower(s) // same byte offsets as s, unlike strings.ToLower
	i := strings.Index(low, "select")
	if i < 0 {
		return ""
	}
	rest := s[i+len("select"):]
	lowRest := low[i+len("select"):]
	depth := 0
	var quote byte
	for k := 0; k < len(rest); k++ {
		c := rest[k]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && strings.HasPrefix(lowRest[k:], "from") &&
			(k == 0 || strings.ContainsRune(" \t\r\n)", rune(rest[k-1]))) &&
			(k+4 == len(rest) || strings.ContainsRune(" \t\r\n(`", rune(rest[k+4]))):
			return strings.TrimSpace(rest[:k])
		}
	}
	rest = sqlLimitRe.ReplaceAllString(rest, "")
	return strings.TrimSpace(strings.TrimRight(strings.TrimSpace(rest), ";"))
}

// sqlASCIILower lower-cases ASCII letters only, keeping every byte offset.
func sqlASCIILower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// sqlQueryResult derives a QUERY's columns and row count from its text:
// aliases or column names become column names, `*` becomes (id int, name
// string), aggregates without GROUP BY give one row, LIMIT n gives n rows
// (at most 10000), otherwise 10 rows (1 without FROM).
func sqlQueryResult(stmt string) sqlResult {
	s := sqlStrip(stmt)
	var cols []sqlColumn
	for i, expr := range sqlSplitTop(sqlSelectList(s)) {
		if expr == "" {
			continue
		}
		if expr == "*" || strings.HasSuffix(expr, ".*") {
			cols = append(cols, sqlColumn{name: "id", typ: "int"}, sqlColumn{name: "name", typ: "string"})
			continue
		}
		cols = append(cols, sqlExprColumn(expr, i))
	}
	if len(cols) == 0 {
		cols = []sqlColumn{{name: "_c0", typ: "string"}}
	}
	rows := int64(10)
	hasFrom := sqlFromRe.MatchString(s)
	if !hasFrom {
		rows = 1
	} else if !sqlGroupByRe.MatchString(s) && sqlAllAggregates(s) {
		rows = 1
	}
	if m := sqlLimitRe.FindStringSubmatch(s); m != nil {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err == nil {
			rows = n
		}
	}
	rows = min(rows, 10000)
	return sqlResult{columns: cols, rowCount: rows, inputRows: rows, inputSize: rows * 64}
}

func sqlAllAggregates(s string) bool {
	exprs := sqlSplitTop(sqlSelectList(s))
	for _, e := range exprs {
		if !sqlAggregateRe.MatchString(e) {
			return false
		}
	}
	return len(exprs) > 0
}

// sqlExprColumn names and types one select expression.
func sqlExprColumn(expr string, i int) sqlColumn {
	name := fmt.Sprintf("_c%d", i)
	body := expr
	if m := sqlColumnRe.FindStringSubmatch(expr); m != nil {
		name = m[1]
	} else if m := sqlAliasRe.FindStringSubmatch(expr); m != nil {
		body, name = strings.TrimSpace(m[1]), m[2]
	}
	c := sqlColumn{name: name, typ: "string"}
	switch {
	case sqlNumberRe.MatchString(body):
		if strings.Contains(body, ".") {
			f, _ := strconv.ParseFloat(body, 64)
			c.typ, c.literal = "double", f
		} else {
			n, _ := strconv.ParseInt(body, 10, 64)
			c.typ, c.literal = "int", n
		}
	case len(body) >= 2 && body[0] == '\'' && body[len(body)-1] == '\'':
		c.literal = body[1 : len(body)-1]
	case sqlCountRe.MatchString(body):
		c.typ = "bigint"
	case sqlAggregateRe.MatchString(body):
		c.typ = "double"
	case name == "id" || strings.HasSuffix(name, "_id"):
		c.typ = "int"
	}
	return c
}

// cell is the deterministic value of column col in row (0-based).
func (c sqlColumn) cell(col int, row int64) any {
	if c.literal != nil {
		return c.literal
	}
	switch c.typ {
	case "int", "bigint":
		return (row + 1) * int64(col+1)
	case "double":
		return float64(row+1) * 1.5
	case "boolean":
		return row%2 == 0
	}
	return fmt.Sprintf("%s_%d", c.name, row+1)
}

// schema is the preview/submit schema: one {name: type} object per column
// (reference 7.3.6).
func (r sqlResult) schema() []map[string]string {
	out := make([]map[string]string, len(r.columns))
	for i, c := range r.columns {
		out[i] = map[string]string{c.name: c.typ}
	}
	return out
}

// rows returns rows [from, from+n) of the result.
func (r sqlResult) rows(from, n int64) [][]any {
	if r.fixedRows != nil {
		if from >= int64(len(r.fixedRows)) {
			return [][]any{}
		}
		return r.fixedRows[from:min(from+n, int64(len(r.fixedRows)))]
	}
	out := make([][]any, 0, max(0, min(n, r.rowCount-from)))
	for row := from; row < r.rowCount && row < from+n; row++ {
		vals := make([]any, len(r.columns))
		for i, c := range r.columns {
			vals[i] = c.cell(i, row)
		}
		out = append(out, vals)
	}
	return out
}

// sparkTypes maps Hive types to the Spark struct type names of the
// "detail" field.
var sparkTypes = map[string]string{
	"int": "integer", "bigint": "long", "double": "double", "string": "string", "boolean": "boolean",
}

// detail is the "detail" string of 7.3.5/7.3.7: the result columns as a
// Spark struct type in JSON; "" when the job has no columns.
func (r sqlResult) detail() string {
	if len(r.columns) == 0 {
		return ""
	}
	type field struct {
		Name     string         `json:"name"`
		Type     string         `json:"type"`
		Nullable bool           `json:"nullable"`
		Metadata map[string]any `json:"metadata"`
	}
	st := struct {
		Type   string  `json:"type"`
		Fields []field `json:"fields"`
	}{Type: "struct"}
	for _, c := range r.columns {
		st.Fields = append(st.Fields, field{Name: c.name, Type: sparkTypes[c.typ], Nullable: true, Metadata: map[string]any{}})
	}
	b, _ := json.Marshal(st)
	return string(b)
}

// sqlDDLResult is the synchronous answer of DESC and SHOW statements (the
// 7.3.3 example's schema and rows); other DDL/DCL statements have none.
func sqlDDLResult(stmt, db, table string) sqlResult {
	s := strings.ToLower(sqlStrip(stmt))
	f := strings.Fields(s)
	switch {
	case len(f) > 0 && (f[0] == "desc" || f[0] == "describe"):
		return sqlResult{
			columns:   []sqlColumn{{name: "col_name", typ: "string"}, {name: "data_type", typ: "string"}, {name: "comment", typ: "string"}},
			fixedRows: [][]any{{"id", "int", nil}, {"name", "string", nil}},
			rowCount:  2,
		}
	case len(f) > 1 && f[0] == "show" && (f[1] == "databases" || f[1] == "schemas"):
		return sqlResult{
			columns:   []sqlColumn{{name: "databaseName", typ: "string"}},
			fixedRows: [][]any{{"default"}},
			rowCount:  1,
		}
	case len(f) > 1 && f[0] == "show" && f[1] == "tables":
		if db == "" {
			db = "default"
		}
		return sqlResult{
			columns:   []sqlColumn{{name: "database", typ: "string"}, {name: "tableName", typ: "string"}, {name: "isTemporary", typ: "boolean"}},
			fixedRows: [][]any{{db, "demo_table", false}},
			rowCount:  1,
		}
	}
	return sqlResult{}
}
