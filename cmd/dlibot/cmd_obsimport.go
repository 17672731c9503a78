package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dlibot/dlibot/functions/obsimport"
	"github.com/dlibot/dlibot/functions/obsimport/rules"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/host"
)

func init() {
	register("obsimport", command{
		summary: "check which rule an OBS key hits; replay keys or saved events into obsimport",
		run:     runObsimport,
	})
}

const obsimportUsage = `Usage: dlibot obsimport <check-rules|replay> [flags]

  check-rules [--bucket B] FILE KEY…
      validate the rules FILE and show, for each KEY ("bucket/key",
      "obs://bucket/key", or a bare key with --bucket), the rule it hits and
      the import it would make.
  replay [--rules FILE] [--dry-run] FILE
      publish every object listed in FILE (one "obs://bucket/key" or
      "bucket/key" per line, or saved notifications, one JSON per line or a
      JSON array) to dlibot.in.obs.<bucket>, the path live events take; the
      ledger keeps it idempotent. Needs NATS_URL; the rules default to
      OBSIMPORT_RULES.
`

func runObsimport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, obsimportUsage)
		return errors.New("missing sub-command")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, obsimportUsage)
		return nil
	case "check-rules":
		return obsimportCheckRules(args[1:], stdout)
	case "replay":
		return obsimportReplay(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, obsimportUsage)
	return fmt.Errorf("unknown sub-command %q", args[0])
}

func obsimportFlags(name string, args []string, stdout io.Writer, setup func(*flag.FlagSet)) (*flag.FlagSet, bool, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	setup(fs)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, obsimportUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return fs, true, nil
	} else if err != nil {
		return fs, false, err
	}
	return fs, false, nil
}

func obsimportCheckRules(args []string, stdout io.Writer) error {
	var bucket string
	fs, done, err := obsimportFlags("check-rules", args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&bucket, "bucket", "", "bucket of bare keys (otherwise each key is bucket/key or obs://bucket/key)")
	})
	if done || err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return errors.New("usage: dlibot obsimport check-rules [--bucket B] FILE KEY…")
	}
	set, err := rules.Load(fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d rules, valid\n", fs.Arg(0), len(set.Rules))
	for _, line := range obsimport.CheckRules(set, bucket, fs.Args()[1:]) {
		fmt.Fprintln(stdout, line)
	}
	return nil
}

func obsimportReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var rulesFile string
	var dry bool
	fs, done, err := obsimportFlags("replay", args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&rulesFile, "rules", os.Getenv("OBSIMPORT_RULES"), "rules file (default $OBSIMPORT_RULES)")
		fs.BoolVar(&dry, "dry-run", false, "show what would be published, publish nothing")
	})
	if done || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: dlibot obsimport replay [--rules FILE] [--dry-run] FILE")
	}
	if rulesFile == "" {
		return errors.New("no rules: set OBSIMPORT_RULES or --rules")
	}
	set, err := rules.Load(rulesFile)
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	objs, err := obsimport.ReadReplay(f)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	if dry {
		for _, o := range objs {
			for _, line := range obsimport.CheckRules(set, o.Bucket, []string{o.Key}) {
				fmt.Fprintln(stdout, line)
			}
		}
		fmt.Fprintf(stdout, "%d objects (dry run: nothing published)\n", len(objs))
		return nil
	}
	cfg, err := host.LoadConfig(ctx)
	if err != nil {
		return err
	}
	if cfg.NATSURL == "" {
		return errors.New("replay publishes to JetStream and needs NATS_URL")
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	nc, js, err := cfg.Connect(cctx, "dlibot obsimport replay", cfg.NewLogger(stderr))
	cancel()
	if err != nil {
		return err
	}
	defer func() { _ = nc.Drain() }()
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		return err
	}
	in := &host.Ingester{JS: js, Conn: nc}
	rep, err := obsimport.Replay(ctx, set, objs, func(ctx context.Context, subject string, e events.Event) (bool, error) {
		st, err := in.Store(ctx, subject, e)
		return st.Duplicate, err
	})
	fmt.Fprintf(stdout, "published %d events (%d already in the stream's duplicate window); %d objects match no rule\n",
		rep.Published, rep.Duplicates, rep.NoRule)
	return err
}
