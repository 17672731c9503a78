package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/dlibot/dlibot/pkg/host"
)

func init() {
	register("config", command{
		summary: "check: print the effective configuration (secrets redacted) and validate it",
		run:     runConfig,
	})
}

const configHelp = `
check    prints every configuration variable dlibot reads with its effective
         value (defaults applied), secrets shown as <set> or <unset>, then
         validates the whole configuration. It exits non-zero when anything is
         invalid, naming the variable and what is wrong.`

func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := hostFlagSet("config", "dlibot config check", configHelp, stdout)
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.Usage()
			return nil
		}
	}
	if err := parseHostFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if fs.NArg() != 1 || fs.Arg(0) != "check" {
		fs.Usage()
		return errors.New("usage: dlibot config check")
	}
	rep := host.CheckConfig(ctx, nil)
	if err := rep.Write(stdout); err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("invalid configuration (%d problem(s), listed above)", len(rep.Problems))
	}
	return nil
}
