// Command dlibot hosts dlibot's functions (autoscale, jobwatch, chatops,
// obsimport) on AWS Lambda, as services on NATS JetStream, or all together
// on a laptop, and ships the tools that go with them (the DLI emulator,
// config checks, a Slack command sender).
//
// main only picks a sub-command; each lives in its own cmd_*.go file and
// registers itself in commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one `dlibot <name>` sub-command.
type command struct {
	summary string
	// run executes the command with its arguments (after the name). It
	// returns an error to print; a usage error should say what to type.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(name string, c command) {
	if _, dup := commands[name]; dup {
		panic("dlibot: command registered twice: " + name)
	}
	commands[name] = c
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if lambdaHook != nil && os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		if err := lambdaHook(); err != nil {
			fmt.Fprintln(stderr, "dlibot:", err)
			return 1
		}
		return 0
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "dlibot: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "dlibot %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// lambdaHook, when set by the Lambda host file, runs the Lambda runtime.
var lambdaHook func() error

func usage(w io.Writer) {
	fmt.Fprintln(w, "dlibot automates Huawei Cloud Data Lake Insight (DLI).")
	fmt.Fprintln(w, "\nUsage: dlibot <command> [flags]   (dlibot <command> --help for more)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
}
