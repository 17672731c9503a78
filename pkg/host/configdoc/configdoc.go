// Package configdoc renders the configuration reference (docs/config.md)
// from the envconfig-tagged configuration structs themselves: variable
// names, defaults and required-ness from the `env` tags, secrets from the
// `secret` tag (or a secret-looking name), and the description from each
// field's doc comment, read from the Go source of the struct's package.
//
// It reads source files, so it runs in tests and `make docs`, never in the
// Lambda binary.
package configdoc

import (
	"bufio"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/dlibot/dlibot/pkg/host/secretvar"
)

// Section is one group of variables in the reference.
type Section struct {
	// Title is the section heading, e.g. "jobwatch".
	Title string
	// Intro is a paragraph under the heading; optional.
	Intro string
	// Config is an envconfig-tagged struct or a pointer to one. Nil lists
	// only Names.
	Config any
	// Prefix is prepended to every variable of Config, for structs read
	// through envconfig.PrefixLookuper (tags without the prefix).
	Prefix string
	// Names are extra variables to list without a description (e.g. ones
	// a function reads that no struct declares). Optional.
	Names []string
}

// Variable is one documented environment variable.
type Variable struct {
	// Name is the full variable name, prefixes included.
	Name string
	// Type is a short description of the accepted values ("duration",
	// "list of string", …).
	Type string
	// Default is the tag's default, "" when none.
	Default string
	// Required is set by the tag's `required` option.
	Required bool
	// Secret says the value is a secret (never logged).
	Secret bool
	// Doc is the field's doc comment, joined into one paragraph.
	Doc string
}

// Variables lists the variables of s in declaration order (nested structs
// with prefix= expanded), with doc comments read from the package sources
// under moduleRoot (the directory holding go.mod).
func Variables(moduleRoot string, s Section) ([]Variable, error) {
	var out []Variable
	if s.Config != nil {
		t := reflect.TypeOf(s.Config)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil, fmt.Errorf("configdoc: section %q: Config is a %s, want a struct", s.Title, t.Kind())
		}
		src := &sources{root: moduleRoot, docs: map[string]map[string]string{}}
		if err := collect(src, t, s.Prefix, &out); err != nil {
			return nil, fmt.Errorf("configdoc: section %q: %w", s.Title, err)
		}
	}
	seen := map[string]bool{}
	for _, v := range out {
		seen[v.Name] = true
	}
	extra := append([]string(nil), s.Names...)
	sort.Strings(extra)
	for _, n := range extra {
		if !seen[n] {
			seen[n] = true
			out = append(out, Variable{Name: n, Secret: secretvar.Is("", n)})
		}
	}
	return out, nil
}

func collect(src *sources, t reflect.Type, prefix string, out *[]Variable) error {
	docs, err := src.fieldDocs(t)
	if err != nil {
		return err
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("env"), ",")
		name = strings.TrimSpace(name)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if name == "" {
			if ft.Kind() == reflect.Struct && ft.PkgPath() != "time" {
				p := prefix
				if v, ok := option(opts, "prefix"); ok {
					p += v
				}
				if err := collect(src, ft, p, out); err != nil {
					return err
				}
			}
			continue
		}
		v := Variable{Name: prefix + name, Type: typeName(ft), Doc: docs[f.Name]}
		v.Default, _ = option(opts, "default")
		_, v.Required = option(opts, "required")
		v.Secret = secretvar.Is(f.Tag, v.Name)
		*out = append(*out, v)
	}
	return nil
}

// option returns the value of an envconfig tag option; default= takes the
// rest of the tag verbatim (commas included), as envconfig does.
func option(opts, key string) (string, bool) {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		o = strings.TrimSpace(o)
		if o == key {
			return "", true
		}
		if k, v, ok := strings.Cut(o, "="); ok && k == key {
			if key == "default" && opts != "" {
				v += "," + opts
			}
			return v, true
		}
	}
	return "", false
}

func typeName(t reflect.Type) string {
	switch {
	case t.PkgPath() == "time" && t.Name() == "Duration":
		return "duration"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Map:
		return "map " + typeName(t.Key()) + ":" + typeName(t.Elem())
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.String:
		return "string"
	}
	return t.String()
}

// sources finds doc comments of struct fields in the module's source.
type sources struct {
	root   string
	module string
	docs   map[string]map[string]string // "pkgpath.Type" → field → doc
}

func (s *sources) modulePath() (string, error) {
	if s.module != "" {
		return s.module, nil
	}
	f, err := os.Open(filepath.Join(s.root, "go.mod"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			s.module = strings.Trim(strings.TrimSpace(m), `"`)
			return s.module, nil
		}
	}
	return "", errors.New("no module line in go.mod")
}

// fieldDocs returns the doc comment of every field of the named struct
// type t, keyed by field name.
func (s *sources) fieldDocs(t reflect.Type) (map[string]string, error) {
	key := t.PkgPath() + "." + t.Name()
	if d, ok := s.docs[key]; ok {
		return d, nil
	}
	mod, err := s.modulePath()
	if err != nil {
		return nil, err
	}
	rel, ok := strings.CutPrefix(t.PkgPath(), mod)
	if !ok || t.Name() == "" {
		return nil, fmt.Errorf("type %s is not a named type of module %s", t, mod)
	}
	dir := filepath.Join(s.root, filepath.FromSlash(strings.TrimPrefix(rel, "/")))
	docs := map[string]string{}
	// Package files first; test files only if the type is not there (a
	// test's own fixture types).
	found, err := parseDocs(dir, t.Name(), false, docs)
	if err == nil && !found {
		found, err = parseDocs(dir, t.Name(), true, docs)
	}
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("struct %s not found in %s", t.Name(), dir)
	}
	s.docs[key] = docs
	return docs, nil
}

// parseDocs fills docs with the field doc comments of struct typeName
// declared in dir's .go files (test files when tests is set) and reports
// whether it found the type.
func parseDocs(dir, typeName string, tests bool, docs map[string]string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	fset := token.NewFileSet()
	found := false
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") != tests {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ParseComments)
		if err != nil {
			return false, err
		}
		ast.Inspect(f, func(node ast.Node) bool {
			ts, ok := node.(*ast.TypeSpec)
			if !ok || ts.Name.Name != typeName {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			found = true
			for _, fld := range st.Fields.List {
				doc := fld.Doc.Text()
				if doc == "" {
					doc = fld.Comment.Text()
				}
				for _, id := range fld.Names {
					docs[id.Name] = strings.Join(strings.Fields(doc), " ")
				}
			}
			return false
		})
	}
	return found, nil
}

// Write renders the reference as Markdown: a title, then per section a
// heading, its intro and a table of variables.
func Write(w io.Writer, moduleRoot, title, intro string, sections []Section) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", title)
	if intro != "" {
		fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(intro))
	}
	for _, s := range sections {
		vars, err := Variables(moduleRoot, s)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "## %s\n\n", s.Title)
		if s.Intro != "" {
			fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(s.Intro))
		}
		if len(vars) == 0 {
			b.WriteString("No variables.\n\n")
			continue
		}
		b.WriteString("| Variable | Type | Default | Description |\n|---|---|---|---|\n")
		for _, v := range vars {
			def := "—"
			switch {
			case v.Required:
				def = "required"
			case v.Default != "":
				def = "`" + strings.ReplaceAll(v.Default, "|", `\|`) + "`"
			}
			doc := v.Doc
			if v.Secret {
				doc = strings.TrimSpace("**Secret** (never logged). " + doc)
			}
			typ := v.Type
			if typ == "" {
				typ = "—"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", v.Name, typ, def, cell(doc))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cell makes text safe inside a Markdown table cell: pipes escaped, and
// angle brackets outside code spans written as entities (so "<Region>"
// shows instead of vanishing as an unknown HTML tag).
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	if s == "" {
		return "—"
	}
	var b strings.Builder
	code := false
	for _, r := range s {
		switch {
		case r == '`':
			code = !code
			b.WriteRune(r)
		case r == '<' && !code:
			b.WriteString("&lt;")
		case r == '>' && !code:
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
