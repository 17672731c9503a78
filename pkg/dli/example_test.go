package dli_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

// A client for an emulator; against the real DLI, take the configuration
// from the environment with dli.ConfigFromEnv.
func Example() {
	emu, err := dlitest.New(dlitest.Options{AK: "my-ak", SK: "my-sk", ProjectID: "my-project"})
	if err != nil {
		log.Fatal(err)
	}
	if err := emu.AddQueue(dlitest.QueueSpec{Name: "etl", Type: "sql", CUCount: 32}); err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()

	c, err := dli.New(dli.Config{
		AK: "my-ak", SK: "my-sk", ProjectID: "my-project",
		Endpoint: srv.URL, // default: https://dli.<DLI_REGION>.myhuaweicloud.com
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	q, err := c.GetQueue(ctx, "etl")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(q.Name, q.CUs, q.Type)

	_, err = c.GetQueue(ctx, "missing")
	fmt.Println(errors.Is(err, dli.ErrNotFound), dli.Retryable(err))
	// Output:
	// etl 32 sql
	// true false
}
