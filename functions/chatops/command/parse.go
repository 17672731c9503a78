package command

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxText is the longest command text parsed, in bytes; Slack itself caps
// a message at 40,000 characters.
const MaxText = 16 << 10

// Command is a parsed /dli command.
type Command struct {
	// Spec is the command's declaration.
	Spec *Spec
	// Args are the positional arguments (a variadic argument's words are
	// the trailing elements). For `sql <statement>` it is one element, the
	// statement as typed.
	Args []string
	// Flags holds the flags given: name → value ("true" for a boolean flag).
	Flags map[string]string
	// Help is set when the user asked for the command's help
	// (`scale --help`, `help scale`).
	Help bool
}

// Name is the command's name, e.g. "flink stop".
func (c *Command) Name() string { return c.Spec.Name }

// Flag returns the value of a flag ("" when not given).
func (c *Command) Flag(name string) string { return c.Flags[name] }

// Bool reports whether a boolean flag was given.
func (c *Command) Bool(name string) bool { return c.Flags[name] == "true" }

// Error is a parse error meant for the user: what is wrong, the usage of
// the command when known, and a suggestion when the input is close to
// something valid.
type Error struct {
	// Msg says what is wrong.
	Msg string
	// Spec is the command being parsed, when known (its usage is shown).
	Spec *Spec
	// Suggestion is the closest valid word, when one is close enough.
	Suggestion string
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Suggestion != "" {
		s += fmt.Sprintf(" Did you mean `%s`?", e.Suggestion)
	}
	if e.Spec != nil {
		s += " Usage: `/dli " + e.Spec.Usage() + "`"
	}
	return s
}

// ErrTooLong reports a command text over MaxText.
var ErrTooLong = errors.New("command text too long")

// Parse parses the text after "/dli". Empty text is `help`.
func Parse(text string) (*Command, error) {
	if len(text) > MaxText {
		return nil, &Error{Msg: fmt.Sprintf("The command is too long (%d bytes, at most %d).", len(text), MaxText)}
	}
	if !utf8.ValidString(text) {
		return nil, &Error{Msg: "The command is not valid UTF-8."}
	}
	text = normalize(text)
	toks, err := tokenize(text)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return &Command{Spec: byName["help"], Flags: map[string]string{}}, nil
	}
	first := strings.ToLower(toks[0].s)
	if first == "--help" || first == "-h" {
		return &Command{Spec: byName["help"], Flags: map[string]string{}}, nil
	}
	name, rest := first, toks[1:]
	if subs, ok := groups[first]; ok {
		if len(rest) == 0 {
			return nil, &Error{Msg: fmt.Sprintf("`%s` needs a sub-command: %s.", first, joinTicks(subs))}
		}
		sub := strings.ToLower(rest[0].s)
		if sub == "--help" || sub == "-h" || sub == "help" {
			return nil, &Error{Msg: fmt.Sprintf("`%s` has the sub-commands %s; try `/dli %s %s --help`.", first, joinTicks(subs), first, subs[0])}
		}
		name = first + " " + sub
		if byName[name] == nil {
			return nil, &Error{Msg: fmt.Sprintf("`%s` has no sub-command `%s`.", first, rest[0].s), Suggestion: suggest(first+" "+sub, prefixed(first))}
		}
		rest = rest[1:]
	} else if first == "sql" && len(rest) > 0 {
		switch strings.ToLower(rest[0].s) {
		case "status", "result", "cancel":
			name, rest = "sql "+strings.ToLower(rest[0].s), rest[1:]
		}
	}
	spec := byName[name]
	if spec == nil {
		if sp := groups[first]; sp == nil && first == "sql" {
			spec = byName["sql"]
		} else {
			return nil, &Error{Msg: fmt.Sprintf("I don't know the command `%s`.", toks[0].s), Suggestion: suggest(first, topWords())}
		}
	}
	c := &Command{Spec: spec, Flags: map[string]string{}}
	if spec.Name == "sql" {
		return parseSQL(c, text, rest)
	}
	if spec.Name == "help" {
		for _, t := range rest {
			c.Args = append(c.Args, strings.ToLower(t.s))
		}
		return c, nil
	}
	for i := 0; i < len(rest); i++ {
		t := rest[i]
		if !t.quoted && (t.s == "--help" || t.s == "-h" || (t.s == "help" && i == 0 && len(spec.Args) > 0)) {
			c.Help = true
			return c, nil
		}
		if !t.quoted && strings.HasPrefix(t.s, "--") && len(t.s) > 2 {
			n, v, hasV := strings.Cut(t.s[2:], "=")
			n = strings.ToLower(n)
			f := spec.flag(n)
			if f == nil {
				var names []string
				for _, f := range spec.Flags {
					names = append(names, "--"+f.Name)
				}
				if len(names) == 0 {
					return nil, &Error{Msg: fmt.Sprintf("`%s` takes no flags, got `%s`.", spec.Name, t.s), Spec: spec}
				}
				return nil, &Error{Msg: fmt.Sprintf("`%s` has no flag `%s`.", spec.Name, t.s), Spec: spec, Suggestion: suggest("--"+n, names)}
			}
			if f.Value == "" {
				if hasV {
					return nil, &Error{Msg: fmt.Sprintf("`--%s` takes no value.", f.Name), Spec: spec}
				}
				c.Flags[f.Name] = "true"
				continue
			}
			if !hasV {
				if i+1 >= len(rest) {
					return nil, &Error{Msg: fmt.Sprintf("`--%s` needs a value, e.g. `--%s %s`.", f.Name, f.Name, f.Value), Spec: spec}
				}
				i++
				v = rest[i].s
			}
			if _, dup := c.Flags[f.Name]; dup {
				return nil, &Error{Msg: fmt.Sprintf("`--%s` given twice.", f.Name), Spec: spec}
			}
			c.Flags[f.Name] = v
			continue
		}
		c.Args = append(c.Args, t.s)
	}
	if err := checkArgs(spec, c.Args); err != nil {
		return nil, err
	}
	return c, nil
}

func checkArgs(spec *Spec, args []string) error {
	min, max := 0, 0
	for _, a := range spec.Args {
		if !a.Optional {
			min++
		}
		if a.Variadic {
			max = -1
		} else if max >= 0 {
			max++
		}
	}
	if len(args) < min {
		missing := spec.Args[len(args)].Name
		return &Error{Msg: fmt.Sprintf("`%s` is missing <%s>.", spec.Name, missing), Spec: spec}
	}
	if max >= 0 && len(args) > max {
		return &Error{Msg: fmt.Sprintf("`%s` takes %d argument(s), got %d (extra: `%s`).", spec.Name, max, len(args), args[max]), Spec: spec}
	}
	return nil
}

// parseSQL keeps the statement as typed: flags (--queue, --db) may come
// before it or after it, never inside it.
func parseSQL(c *Command, text string, rest []token) (*Command, error) {
	spec := c.Spec
	isFlag := func(t token) (string, bool) {
		if t.quoted || !strings.HasPrefix(t.s, "--") {
			return "", false
		}
		n := strings.ToLower(strings.TrimPrefix(t.s, "--"))
		if n == "help" {
			return n, true
		}
		if k, _, ok := strings.Cut(n, "="); ok {
			n = k
		}
		return n, spec.flag(n) != nil
	}
	take := func(toks []token, i int) (consumed int, err error) {
		n, _ := isFlag(toks[i])
		if n == "help" {
			c.Help = true
			return 1, nil
		}
		if _, dup := c.Flags[n]; dup {
			return 0, &Error{Msg: fmt.Sprintf("`--%s` given twice.", n), Spec: spec}
		}
		if _, v, ok := strings.Cut(toks[i].s, "="); ok {
			c.Flags[n] = v
			return 1, nil
		}
		if i+1 >= len(toks) {
			return 0, &Error{Msg: fmt.Sprintf("`--%s` needs a value.", n), Spec: spec}
		}
		c.Flags[n] = toks[i+1].s
		return 2, nil
	}
	// leading flags
	i := 0
	for i < len(rest) {
		if _, ok := isFlag(rest[i]); !ok {
			break
		}
		k, err := take(rest, i)
		if err != nil {
			return nil, err
		}
		i += k
	}
	if c.Help {
		return c, nil
	}
	// trailing flags: "--name value" pairs or "--name=value" from the end
	j := len(rest)
	if j > i {
		if n, ok := isFlag(rest[j-1]); ok && n != "help" && !strings.Contains(rest[j-1].s, "=") {
			return nil, &Error{Msg: fmt.Sprintf("`--%s` needs a value.", n), Spec: spec}
		}
	}
	for j > i {
		if _, ok := isFlag(rest[j-1]); ok && (strings.Contains(rest[j-1].s, "=") || strings.EqualFold(rest[j-1].s, "--help")) {
			if _, err := take(rest, j-1); err != nil {
				return nil, err
			}
			j--
			continue
		}
		if j-2 >= i {
			if _, ok := isFlag(rest[j-2]); ok && !strings.Contains(rest[j-2].s, "=") {
				if _, err := take(rest, j-2); err != nil {
					return nil, err
				}
				j -= 2
				continue
			}
		}
		break
	}
	if c.Help {
		return c, nil
	}
	if i >= j {
		return nil, &Error{Msg: "`sql` needs a statement, e.g. `/dli sql SELECT count(*) FROM demo.events`.", Spec: spec}
	}
	stmt := strings.TrimSpace(text[rest[i].start:rest[j-1].end])
	stmt = strings.TrimSuffix(strings.TrimSpace(stmt), ";")
	if strings.TrimSpace(stmt) == "" {
		return nil, &Error{Msg: "`sql` needs a statement.", Spec: spec}
	}
	c.Args = []string{stmt}
	return c, nil
}

type token struct {
	s          string
	quoted     bool
	start, end int // byte offsets in the normalized text
}

// tokenize splits on white space; "double" and 'single' quotes group words
// (the quotes themselves are dropped). An unclosed quote is an error.
func tokenize(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			i += w
			continue
		}
		start := i
		var b strings.Builder
		quoted := false
		for i < len(s) {
			r, w = utf8.DecodeRuneInString(s[i:])
			if unicode.IsSpace(r) {
				break
			}
			if r == '"' || r == '\'' {
				end := strings.IndexRune(s[i+w:], r)
				if end < 0 {
					return nil, &Error{Msg: fmt.Sprintf("Unclosed quote %c.", r)}
				}
				b.WriteString(s[i+w : i+w+end])
				i += w + end + w
				quoted = true
				continue
			}
			b.WriteRune(r)
			i += w
		}
		toks = append(toks, token{s: b.String(), quoted: quoted, start: start, end: i})
	}
	return toks, nil
}

// normalize undoes what Slack clients do to typed text: curly quotes become
// straight ones, and a dash that phones substitute for "--" (— or –) at the
// start of a word becomes "--". Replacements keep byte offsets meaningful
// for the normalized text only.
func normalize(s string) string {
	if isASCII(s) {
		return s
	}
	r := strings.NewReplacer("“", `"`, "”", `"`, "‘", "'", "’", "'", " —", " --", " –", " --", "\u00a0", " ")
	s = r.Replace(s)
	if strings.HasPrefix(s, "—") || strings.HasPrefix(s, "–") {
		_, w := utf8.DecodeRuneInString(s)
		s = "--" + s[w:]
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func joinTicks(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = "`" + w + "`"
	}
	return strings.Join(q, ", ")
}

// topWords are the words a command may start with.
func topWords() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range Specs {
		w, _, _ := strings.Cut(s.Name, " ")
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	// whole names too, so "flinklist" suggests "flink list"
	for _, s := range Specs {
		if strings.Contains(s.Name, " ") {
			out = append(out, s.Name)
		}
	}
	return out
}

func prefixed(group string) []string {
	var out []string
	for _, s := range Specs {
		if strings.HasPrefix(s.Name, group+" ") {
			out = append(out, s.Name)
		}
	}
	return out
}

// Suggest returns the candidate closest to word by edit distance, or ""
// when none is close enough (distance at most 2, or a third of the word).
func Suggest(word string, candidates []string) string { return suggest(word, candidates) }

func suggest(word string, candidates []string) string {
	word = strings.ToLower(word)
	if len(word) > 64 {
		return ""
	}
	best, bestD := "", 1<<30
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		d := Distance(word, c)
		if strings.HasPrefix(c, word) && len(word) >= 3 {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(2, utf8.RuneCountInString(word)/3)
	if bestD > limit {
		return ""
	}
	return best
}

// Distance is the Levenshtein edit distance between a and b, in runes.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
