//go:build !lambda.norpc

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

func init() {
	register("emulator", command{
		summary: "run the DLI emulator (docs/emulator.md)",
		run:     runEmulator,
	})
}

// emulatorShutdownTimeout bounds the graceful shutdown after ctx ends.
const emulatorShutdownTimeout = 5 * time.Second

func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dlibot emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on; port 0 picks a free port (printed at start)")
	project := fs.String("project", "", "the one project ID served (default $HUAWEICLOUD_SDK_PROJECT_ID, else emulator-project)")
	ak := fs.String("ak", "", "access key accepted by the signature check (default $HUAWEICLOUD_SDK_AK, else emulator-ak)")
	sk := fs.String("sk", "", "secret key of the signature check (default $HUAWEICLOUD_SDK_SK, else emulator-sk); never printed")
	token := fs.String("security-token", "", "require this X-Security-Token (temporary credentials; default $HUAWEICLOUD_SDK_SECURITY_TOKEN, else none)")
	seed := fs.String("seed", "", `data set to load at start: "demo" or empty`)
	realTime := fs.Bool("real-time", true, "clock follows the wall clock (false: a manual clock moved only by POST /_emulator/clock)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: dlibot emulator [--listen ADDR] [--project ID] [--ak AK] [--sk SK] [--seed demo] [--real-time=false]")
		fmt.Fprintln(fs.Output(), "\nServes the DLI API (signed with SDK-HMAC-SHA256) and its admin API under /_emulator/ until interrupted.")
		fmt.Fprintln(fs.Output(), "See docs/emulator.md.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see dlibot emulator --help)", fs.Arg(0))
	}
	fromEnv := func(v *string, name string) {
		if *v == "" {
			*v = os.Getenv(name)
		}
	}
	fromEnv(project, "HUAWEICLOUD_SDK_PROJECT_ID")
	fromEnv(ak, "HUAWEICLOUD_SDK_AK")
	fromEnv(sk, "HUAWEICLOUD_SDK_SK")
	fromEnv(token, "HUAWEICLOUD_SDK_SECURITY_TOKEN")

	emu, err := dlitest.New(dlitest.Options{
		ProjectID: *project, AK: *ak, SK: *sk, SecurityToken: *token, Seed: *seed, RealTime: *realTime,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	o := emu.Options()
	mode := "real-time clock"
	if !*realTime {
		mode = "manual clock"
	}
	tokenNote := ""
	if o.SecurityToken != "" {
		tokenNote = ", security token required"
	}
	fmt.Fprintf(stdout, "DLI emulator listening on http://%s (project %s, AK %s%s, %s)\n", ln.Addr(), o.ProjectID, o.AK, tokenNote, mode)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), emulatorShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-errc // http.ErrServerClosed
	return nil
}
