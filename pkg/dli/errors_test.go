package dli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
)

func TestErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		want   error
	}{
		{400, "DLI.0002", ErrNotFound},
		{404, "", ErrNotFound},
		{404, "DLI.0023", ErrNotFound},
		{400, "DLI.0008", ErrNotFound},
		{401, "DLI.0013", ErrAuth},
		{401, "DLI.0014", ErrAuth},
		{400, "DLI.0015", ErrAuth},
		{403, "", ErrAuth},
		{400, "DLI.0003", ErrAuth},
		{429, "", ErrThrottled},
		{400, "DLI.0006", ErrConflict},
		{409, "", ErrConflict},
		{400, "DLI.1028", ErrQuota},
		{400, "DLI.0009", ErrQuota},
		{400, "DLI.0001", ErrInvalid},
		{400, "DLI.0004", ErrInvalid},
		{400, "DLI.0005", ErrInvalid},
		{400, "DLI.0999", nil},
		{500, "", nil},
	} {
		e := &Error{Op: "X", Status: tc.status, Code: tc.code}
		for _, s := range []error{ErrNotFound, ErrAuth, ErrThrottled, ErrConflict, ErrQuota, ErrInvalid} {
			if got := errors.Is(e, s); got != (s == tc.want) {
				t.Errorf("%d %s: errors.Is(%v) = %v", tc.status, tc.code, s, got)
			}
		}
		// The sentinel survives wrapping.
		if tc.want != nil && !errors.Is(fmt.Errorf("handler: %w", e), tc.want) {
			t.Errorf("%d %s: lost through wrapping", tc.status, tc.code)
		}
	}
}

func TestRetryableClasses(t *testing.T) {
	refused := &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("x"), false},
		{"429", &Error{Status: 429}, true},
		{"429 ambiguous non-idempotent", &Error{Status: 429, Ambiguous: true}, true},
		{"500 idempotent", &Error{Status: 500, Ambiguous: true, idempotent: true}, true},
		{"503 non-idempotent", &Error{Status: 503, Ambiguous: true}, false},
		{"408 idempotent", &Error{Status: 408, Ambiguous: true, idempotent: true}, true},
		{"400", &Error{Status: 400, Code: "DLI.0001"}, false},
		{"404", &Error{Status: 404}, false},
		{"refused", &Error{Err: refused}, true},
		{"reset after write, non-idempotent", &Error{Err: syscall.ECONNRESET, Ambiguous: true}, false},
		{"reset after write, idempotent", &Error{Err: io.EOF, Ambiguous: true, idempotent: true}, true},
		{"attempt timeout, idempotent", &Error{Err: errAttemptTimeout, Ambiguous: true, idempotent: true}, true},
		{"canceled", &Error{Err: context.Canceled, idempotent: true}, false},
		{"caller deadline", &Error{Err: errCallerDeadline, idempotent: true}, false},
		{"undecodable answer", &Error{Status: 200, Message: "cannot decode"}, false},
		{"client-side invalid", invalidf("Op", "bad"), false},
		{"wrapped 429", fmt.Errorf("ctx: %w", &Error{Status: 429}), true},
	} {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("%s: Retryable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "GetQueue", Status: 400, Code: "DLI.0002", Message: "There is no queue named q", RequestID: "r-1"},
			"dli GetQueue: HTTP 400 DLI.0002: There is no queue named q (request id r-1)"},
		{&Error{Op: "SubmitSQL", Err: io.EOF, Attempts: 1}, "dli SubmitSQL: EOF"},
		{&Error{Op: "ListQueues", Status: 503, Attempts: 4}, "dli ListQueues: HTTP 503 after 4 attempts"},
		{invalidf("CreatePlan", "plan name is empty").(*Error), "dli CreatePlan: invalid request: plan name is empty"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	if !errors.Is(&Error{Err: context.Canceled}, context.Canceled) {
		t.Error("an *Error must unwrap to its cause")
	}
	if !errors.Is(&Error{Err: errCallerDeadline}, context.DeadlineExceeded) {
		t.Error("the caller's deadline must match context.DeadlineExceeded")
	}
}

func TestParseFlexBool(t *testing.T) {
	for in, want := range map[string]bool{"true": true, "TRUE": true, `"true"`: true, "false": false, " False ": false} {
		if got, err := parseFlexBool(in); err != nil || got != want {
			t.Errorf("parseFlexBool(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := parseFlexBool("yes"); err == nil || !strings.Contains(err.Error(), "yes") {
		t.Errorf("parseFlexBool(yes) = %v, want an error", err)
	}
	ok, no, msg := "true", "false", "m"
	if checkSuccessString(&ok, &msg) != nil || checkSuccessString(nil, nil) != nil || checkSuccessString(&no, &msg) == nil {
		t.Error("checkSuccessString: want an error for \"false\" only")
	}
	tr, fa := true, false
	if checkSuccess(&tr, nil) != nil || checkSuccess(nil, nil) != nil || checkSuccess(&fa, &msg) == nil {
		t.Error("checkSuccess: want an error for false only")
	}
}
