package dli

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// pastDeadline is a context whose deadline has passed but whose Done is
// not closed yet: what a process resumed after a SIGSTOP sees before the
// context's timer fires.
type pastDeadline struct {
	context.Context
	dl time.Time
}

func (c pastDeadline) Deadline() (time.Time, bool) { return c.dl, true }

// TestNoRequestAfterDeadline: a call whose caller's deadline has passed by
// the clock sends nothing, even before the context reports it, and the
// error is not ambiguous (nothing reached DLI).
func TestNoRequestAfterDeadline(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 32)
	c, _ := newClient(t, srv)
	ctx := pastDeadline{Context: context.Background(), dl: time.Now().Add(-time.Second)}
	_, err := c.ImportData(ctx, ImportRequest{DataPath: "obs://raw/a.csv", DataType: "csv", Database: "analytics", Table: "events", Queue: "etl"})
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ImportData after the deadline: %v, want a *Error matching context.DeadlineExceeded", err)
	}
	if e.Ambiguous {
		t.Errorf("error %v is ambiguous; the request was never sent", err)
	}
	o := srv.Options()
	if n := countRequests(srv, http.MethodPost, "/v1.0/"+o.ProjectID+"/jobs/import-table"); n != 0 {
		t.Errorf("%d import requests reached DLI after the deadline", n)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests reached DLI after the deadline", n)
	}
}
