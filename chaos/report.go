package chaos

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Status is a scenario's result.
type Status string

// Scenario results.
const (
	Pass   Status = "pass"
	Fail   Status = "FAIL"
	NotRun Status = "not run"
	// KnownBug marks a scenario that found a reported bug and was skipped
	// (t.Skip with the reason) so the build stays green.
	KnownBug Status = "KNOWN BUG (skipped)"
)

// Row is one scenario's line in the results table.
type Row struct {
	// Scenario is the scenario name, e.g. "ingest/kill-9".
	Scenario string
	// Attack says what was broken.
	Attack string
	// Status is pass, FAIL or not run.
	Status Status
	// Detail says what was checked and measured, or why it did not run.
	Detail string
	// Took is the scenario's wall time.
	Took time.Duration
}

// Table collects scenario rows; safe for concurrent use.
type Table struct {
	mu   sync.Mutex
	rows []Row
}

// Add appends a row.
func (t *Table) Add(r Row) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = append(t.rows, r)
}

// Rows returns a copy of the rows.
func (t *Table) Rows() []Row {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Row(nil), t.rows...)
}

// WriteMarkdown writes the rows as a Markdown table, sorted by scenario.
func (t *Table) WriteMarkdown(w io.Writer) {
	fmt.Fprintln(w, "| scenario | attack | result | time | checked / measured |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	rows := t.Rows()
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Scenario < rows[j].Scenario })
	for _, r := range rows {
		took := "–"
		if r.Took > 0 {
			took = r.Took.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.Scenario, esc(r.Attack), r.Status, took, esc(r.Detail))
	}
}

func esc(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
