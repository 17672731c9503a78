package dli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors for errors.Is. A *Error matches the one its HTTP status
// and DLI error code (reference 14.1 and 14.2) stand for.
var (
	// ErrNotFound: the object does not exist (404, DLI.0002, DLI.0023, and
	// DLI.0008, which 6.7 answers for a missing queue).
	ErrNotFound = errors.New("dli: not found")
	// ErrAuth: authentication or permission failed (401, 403, DLI.0013,
	// DLI.0014, DLI.0015, DLI.0016, and the permission checks DLI.0003 and
	// DLI.0011).
	ErrAuth = errors.New("dli: authentication or permission failed")
	// ErrThrottled: DLI asked the client to slow down (429).
	ErrThrottled = errors.New("dli: throttled")
	// ErrQuota: a quota or system limit is exhausted (DLI.1028, DLI.0009).
	ErrQuota = errors.New("dli: quota exceeded")
	// ErrConflict: the object exists or the request conflicts with the
	// object's state (409, DLI.0006).
	ErrConflict = errors.New("dli: conflict")
	// ErrInvalid: the request is invalid — rejected by the client before
	// sending or by DLI's parameter, SQL syntax or semantics checks
	// (DLI.0001, DLI.0004, DLI.0005).
	ErrInvalid = errors.New("dli: invalid request")
)

// Error is a failed DLI call. Status, Code and Message come from DLI's
// answer when there was one; Err is the underlying cause otherwise (a
// network error, the context's error, a decoding error).
type Error struct {
	// Op is the client operation, e.g. "GetQueue".
	Op string
	// Status is the HTTP status of the last attempt; 0 when there was no
	// answer.
	Status int
	// Code is DLI's error_code, e.g. "DLI.0002"; empty when absent.
	Code string
	// Message is DLI's error_msg, or a description of the failure.
	Message string
	// RequestID is the X-Request-Id of the answer, when there was one.
	RequestID string
	// RetryAfter is the wait DLI asked for (Retry-After), 0 when absent.
	RetryAfter time.Duration
	// Attempts is how many attempts were made.
	Attempts int
	// Ambiguous reports that the request may have reached DLI and been
	// acted on although no success answer arrived (a timeout or reset after
	// the request was written, or a 5xx). For a call that is not idempotent
	// (submit, import, create, run, scale) a retry could duplicate its
	// effect, so Retryable reports false for it; check DLI's state first.
	Ambiguous bool
	// Err is the underlying cause, if any (see errors.Unwrap).
	Err error

	idempotent bool
	invalid    bool // rejected by the client before sending
}

// Error describes the failure. It never contains credentials.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("dli ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.Status)
		if e.Code != "" {
			b.WriteString(" ")
			b.WriteString(e.Code)
		}
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
	} else if e.Message != "" {
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		if e.Status != 0 || e.Message != "" {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel errors (ErrNotFound, ErrAuth, …).
func (e *Error) Is(target error) bool {
	k := e.kind()
	return k != nil && k == target
}

// kind returns the sentinel this error stands for, or nil.
func (e *Error) kind() error {
	if e.invalid {
		return ErrInvalid
	}
	switch e.Code {
	case "DLI.0002", "DLI.0023", "DLI.0008":
		return ErrNotFound
	case "DLI.0013", "DLI.0014", "DLI.0015", "DLI.0016", "DLI.0003", "DLI.0011":
		return ErrAuth
	case "DLI.0006":
		return ErrConflict
	case "DLI.1028", "DLI.0009":
		return ErrQuota
	case "DLI.0001", "DLI.0004", "DLI.0005":
		return ErrInvalid
	}
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrAuth
	case http.StatusTooManyRequests:
		return ErrThrottled
	case http.StatusConflict:
		return ErrConflict
	}
	return nil
}

// transient reports whether the failure class is one a later attempt may
// not see: throttling, a server error, a timeout or a network error.
func (e *Error) transient() bool {
	if e.Err != nil && (errors.Is(e.Err, context.Canceled) || errors.Is(e.Err, errCallerDeadline)) {
		return false
	}
	switch {
	case e.Status == http.StatusTooManyRequests, e.Status == http.StatusRequestTimeout:
		return true
	case e.Status >= 500:
		return true
	case e.Status == 0 && e.Err != nil:
		return isNetworkError(e.Err)
	}
	return false
}

// Unavailable reports whether err says DLI could not serve the call:
// throttling (429), a server error (5xx, 408) or no answer at all (a
// network error or timeout) — not a cancellation, not the caller's
// deadline, not a client error. Unlike Retryable it says nothing about
// whether repeating the call is safe.
func Unavailable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.transient()
}

// Retryable reports whether err is a DLI failure worth retrying later:
// throttling (429), a server error (5xx, 408) or a network error or
// timeout — except when the call was not idempotent and may already have
// taken effect (Error.Ambiguous), where a retry could create a second job.
// Context cancellation, the caller's deadline and client errors (4xx) are
// not retryable.
func Retryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if !e.transient() {
		return false
	}
	if e.Ambiguous && !e.idempotent && e.Status != http.StatusTooManyRequests {
		return false
	}
	return true
}

// outcome names the error's class for the Observer hook.
func outcome(err error) string {
	if err == nil {
		return OutcomeOK
	}
	var e *Error
	if !errors.As(err, &e) {
		return OutcomeError
	}
	switch {
	case e.Err != nil && errors.Is(e.Err, context.Canceled):
		return OutcomeCanceled
	case e.Err != nil && errors.Is(e.Err, errCallerDeadline):
		return OutcomeTimeout
	}
	switch e.kind() {
	case ErrNotFound:
		return OutcomeNotFound
	case ErrAuth:
		return OutcomeAuth
	case ErrThrottled:
		return OutcomeThrottled
	case ErrQuota:
		return OutcomeQuota
	case ErrConflict:
		return OutcomeConflict
	case ErrInvalid:
		return OutcomeInvalid
	}
	switch {
	case e.Status >= 500:
		return OutcomeServerError
	case e.Status >= 400:
		return OutcomeClientError
	case e.Status == 0 && e.Err != nil && isNetworkError(e.Err):
		return OutcomeNetwork
	}
	return OutcomeError
}

// Outcomes reported to the Observer hook.
const (
	OutcomeOK          = "ok"
	OutcomeRecovered   = "ok_after_retry" // succeeded after one or more failed attempts
	OutcomeNotFound    = "not_found"
	OutcomeAuth        = "auth"
	OutcomeThrottled   = "throttled"
	OutcomeQuota       = "quota"
	OutcomeConflict    = "conflict"
	OutcomeInvalid     = "invalid"
	OutcomeClientError = "client_error" // other 4xx
	OutcomeServerError = "server_error" // 5xx
	OutcomeNetwork     = "network"      // no answer: connection or attempt timeout
	OutcomeCanceled    = "canceled"     // the caller's context was cancelled
	OutcomeTimeout     = "timeout"      // the caller's context deadline passed
	OutcomeError       = "error"        // anything else (e.g. an undecodable answer)
)

// errCallerDeadline wraps context.DeadlineExceeded when the caller's own
// context (not the per-attempt timeout) expired.
var errCallerDeadline = fmt.Errorf("caller's %w", context.DeadlineExceeded)

// invalidf returns a client-side validation error for op.
func invalidf(op, format string, args ...any) error {
	return &Error{Op: op, Message: "invalid request: " + fmt.Sprintf(format, args...), invalid: true}
}
