// Package command parses the text of a `/dli` slash command into a
// Command: which command (e.g. "flink stop"), its positional arguments and
// flags, or a help request. Unknown input gets an error with a suggestion
// (edit distance), never a panic.
//
// The commands and their arguments are declared once, in Specs; help texts,
// policy validation (which command names exist) and the parser all read that
// table.
package command

// Arg is a positional argument of a command.
type Arg struct {
	// Name is shown in usage, e.g. "queue".
	Name string
	// Optional arguments may be left out; they come after the required ones.
	Optional bool
	// Variadic takes every remaining word (at least one unless Optional).
	Variadic bool
}

// Flag is a --flag of a command.
type Flag struct {
	// Name is the flag without dashes, e.g. "queue".
	Name string
	// Value is the placeholder of the flag's value ("q", "2h"); empty for
	// a boolean flag.
	Value string
	// Help is a short description.
	Help string
}

// Spec describes one command.
type Spec struct {
	// Name is the command as typed and as named in the policy, e.g.
	// "flink stop".
	Name string
	// Summary is a one-line description.
	Summary string
	// Args are the positional arguments in order.
	Args []Arg
	// Flags are the accepted flags.
	Flags []Flag
	// Mutating commands change DLI; they need a confirmation click (and
	// NATS, where confirmations are stored).
	Mutating bool
	// Example is a sample invocation (without "/dli").
	Example string
}

// SQLWrite is the policy name that allows `sql` with a statement that is
// not read-only (anything but SELECT, SHOW, DESCRIBE, EXPLAIN). It is not a
// command of its own: `sql <statement>` checks it when the statement writes.
const SQLWrite = "sql write"

// Specs is every command of /dli, in help order.
var Specs = []*Spec{
	{Name: "help", Summary: "the commands you may run", Args: []Arg{{Name: "command", Optional: true, Variadic: true}}, Example: "help scale"},
	{Name: "whoami", Summary: "your role and limits", Example: "whoami"},
	{Name: "queues", Summary: "list queues with their CUs", Example: "queues"},
	{Name: "queue", Summary: "one queue: CUs, scaling limits, scheduled CU changes", Args: []Arg{{Name: "name"}}, Example: "queue etl"},
	{Name: "scale", Summary: "set a queue's CUs (multiple of 16), optionally for a while", Mutating: true,
		Args: []Arg{{Name: "queue"}, {Name: "cu"}},
		Flags: []Flag{{Name: "for", Value: "2h", Help: "revert to the current CUs after this long"},
			{Name: "dry-run", Help: "show what would happen, change nothing"}},
		Example: "scale etl 128 --for 2h"},
	{Name: "plans", Summary: "a queue's scheduled CU changes", Args: []Arg{{Name: "queue"}}, Example: "plans etl"},
	{Name: "plan add", Summary: "add a scheduled CU change", Mutating: true,
		Args:    []Arg{{Name: "queue"}, {Name: "name"}, {Name: "cu"}, {Name: "HH:MM"}, {Name: "days", Variadic: true}},
		Example: "plan add etl nightly_up 128 01:00 mon tue wed thu fri"},
	{Name: "plan rm", Summary: "delete a scheduled CU change", Mutating: true, Args: []Arg{{Name: "queue"}, {Name: "id"}}, Example: "plan rm etl 12"},
	{Name: "flink list", Summary: "Flink jobs", Flags: []Flag{{Name: "queue", Value: "q", Help: "only this queue"}, {Name: "status", Value: "s", Help: "only this status, e.g. job_running"}}, Example: "flink list --status job_running"},
	{Name: "flink show", Summary: "one Flink job", Args: []Arg{{Name: "id"}}, Example: "flink show 42"},
	{Name: "flink stop", Summary: "stop a Flink job", Mutating: true, Args: []Arg{{Name: "id"}}, Flags: []Flag{{Name: "savepoint", Help: "take a savepoint first"}}, Example: "flink stop 42 --savepoint"},
	{Name: "flink start", Summary: "start a Flink job", Mutating: true, Args: []Arg{{Name: "id"}}, Flags: []Flag{{Name: "resume", Help: "resume from the latest savepoint"}}, Example: "flink start 42 --resume"},
	{Name: "spark list", Summary: "Spark batch jobs", Flags: []Flag{{Name: "queue", Value: "q", Help: "only this queue"}, {Name: "state", Value: "s", Help: "only this state, e.g. dead"}}, Example: "spark list --state dead"},
	{Name: "spark show", Summary: "one Spark batch job", Args: []Arg{{Name: "id"}}, Example: "spark show 0a1b2c"},
	{Name: "spark logs", Summary: "the tail of a Spark job's log", Args: []Arg{{Name: "id"}}, Flags: []Flag{{Name: "lines", Value: "N", Help: "how many lines (default 50, at most 1000)"}}, Example: "spark logs 0a1b2c --lines 200"},
	{Name: "spark cancel", Summary: "cancel a Spark batch job", Mutating: true, Args: []Arg{{Name: "id"}}, Example: "spark cancel 0a1b2c"},
	{Name: "sql", Summary: "run a SQL statement (read-only ones for viewers)", Args: []Arg{{Name: "statement", Variadic: true}},
		Flags: []Flag{{Name: "queue", Value: "q", Help: "queue to run on"}, {Name: "db", Value: "d", Help: "database"}}, Example: "sql SELECT count(*) FROM demo.events --db demo"},
	{Name: "sql status", Summary: "a SQL job's status", Args: []Arg{{Name: "job"}}, Example: "sql status 6f1c…"},
	{Name: "sql result", Summary: "preview a query's result as a table", Args: []Arg{{Name: "job"}}, Example: "sql result 6f1c…"},
	{Name: "sql cancel", Summary: "cancel a SQL job", Mutating: true, Args: []Arg{{Name: "job"}}, Example: "sql cancel 6f1c…"},
	{Name: "jobs", Summary: "recent SQL jobs", Flags: []Flag{{Name: "status", Value: "s", Help: "only this status, e.g. FAILED"}, {Name: "queue", Value: "q", Help: "only this queue"}}, Example: "jobs --status FAILED"},
}

var byName = func() map[string]*Spec {
	m := map[string]*Spec{}
	for _, s := range Specs {
		m[s.Name] = s
	}
	return m
}()

// Lookup returns the spec named name ("flink stop"), or nil.
func Lookup(name string) *Spec { return byName[name] }

// Names returns every command name plus SQLWrite: the names a policy may
// list.
func Names() []string {
	n := make([]string, 0, len(Specs)+1)
	for _, s := range Specs {
		n = append(n, s.Name)
	}
	return append(n, SQLWrite)
}

// groups are the first words that take a sub-command.
var groups = map[string][]string{
	"plan":  {"add", "rm"},
	"flink": {"list", "show", "stop", "start"},
	"spark": {"list", "show", "logs", "cancel"},
}

// Usage returns the usage line of s, e.g.
// "scale <queue> <cu> [--for 2h] [--dry-run]".
func (s *Spec) Usage() string {
	u := s.Name
	for _, a := range s.Args {
		n := "<" + a.Name + ">"
		if a.Variadic {
			n = "<" + a.Name + "…>"
		}
		if a.Optional {
			n = "[" + n + "]"
		}
		u += " " + n
	}
	for _, f := range s.Flags {
		if f.Value != "" {
			u += " [--" + f.Name + " " + f.Value + "]"
		} else {
			u += " [--" + f.Name + "]"
		}
	}
	return u
}

func (s *Spec) flag(name string) *Flag {
	for i := range s.Flags {
		if s.Flags[i].Name == name {
			return &s.Flags[i]
		}
	}
	return nil
}
