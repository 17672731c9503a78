package dlitest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Signature verification for the official SDK's SDK-HMAC-SHA256 scheme
// (huaweicloud-sdk-go-v3 core/auth/signer). The emulator has its own
// implementation so that a bug in the SDK's signer cannot hide behind the
// same bug in the verifier.
//
// The canonical request is
//
//	METHOD \n canonical URI \n canonical query \n canonical headers \n
//	signed headers \n hex(sha256(body))
//
// where the canonical URI is the path with every segment percent-encoded
// (unreserved characters kept) and a trailing slash, the canonical query is
// the sorted, percent-encoded key=value pairs, the canonical headers are the
// signed headers as "name:trimmed value" lines followed by a newline, and the
// body hash is replaced by X-Sdk-Content-Sha256 when that header is sent
// (the SDK sends UNSIGNED-PAYLOAD for non-JSON bodies). The string to sign is
// "SDK-HMAC-SHA256\n<X-Sdk-Date>\n<hex sha256 of the canonical request>" and
// the signature is hex(HMAC-SHA256(SK, string to sign)).

const (
	authAlgorithm = "SDK-HMAC-SHA256"
	sdkDateFormat = "20060102T150405Z"
	// MaxClockSkew is how far X-Sdk-Date may be from the emulator's clock
	// (or from the wall clock) before a request is refused as stale.
	MaxClockSkew = 15 * time.Minute
)

// authHeader is a parsed SDK-HMAC-SHA256 Authorization header.
type authHeader struct {
	access        string
	signedHeaders []string
	signature     string
}

// parseAuthorization parses
// "SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex".
func parseAuthorization(v string) (authHeader, error) {
	var h authHeader
	alg, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || alg != authAlgorithm {
		return h, fmt.Errorf("malformed Authorization header: want the %s scheme", authAlgorithm)
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return h, errors.New("malformed Authorization header: want Access=…, SignedHeaders=…, Signature=…")
		}
		if seen[k] {
			return h, fmt.Errorf("malformed Authorization header: %s given twice", k)
		}
		seen[k] = true
		switch k {
		case "Access":
			h.access = val
		case "SignedHeaders":
			if val != "" {
				h.signedHeaders = strings.Split(val, ";")
			}
		case "Signature":
			h.signature = val
		default:
			return h, fmt.Errorf("malformed Authorization header: unknown part %q", k)
		}
	}
	switch {
	case h.access == "":
		return h, errors.New("malformed Authorization header: no Access")
	case len(h.signedHeaders) == 0:
		return h, errors.New("malformed Authorization header: no SignedHeaders")
	case h.signature == "":
		return h, errors.New("malformed Authorization header: no Signature")
	}
	if _, err := hex.DecodeString(h.signature); err != nil || len(h.signature) != 2*sha256.Size {
		return h, errors.New("malformed Authorization header: Signature is not a hex SHA-256 HMAC")
	}
	for i, s := range h.signedHeaders {
		if s == "" || s != strings.ToLower(s) {
			return h, fmt.Errorf("malformed Authorization header: signed header %q is not a lower-case name", s)
		}
		if i > 0 && h.signedHeaders[i-1] >= s {
			return h, errors.New("malformed Authorization header: SignedHeaders are not sorted")
		}
	}
	return h, nil
}

// verifyAuth checks the request's SDK-HMAC-SHA256 signature, AK, date,
// project and (in token mode) security token. The error says what is wrong
// without revealing the expected signature or the SK.
func (e *Emulator) verifyAuth(r *http.Request, body []byte) error {
	raw := r.Header.Get("Authorization")
	if raw == "" {
		return errors.New("missing Authorization header (want an SDK-HMAC-SHA256 AK/SK signature)")
	}
	h, err := parseAuthorization(raw)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(h.access), []byte(e.opts.AK)) != 1 {
		return errors.New("the access key (AK) is not known to this emulator")
	}
	if !signedHas(h.signedHeaders, "x-sdk-date") {
		return errors.New("X-Sdk-Date is not among the signed headers")
	}
	date := r.Header.Get("X-Sdk-Date")
	if date == "" {
		return errors.New("missing X-Sdk-Date header")
	}
	t, err := time.Parse(sdkDateFormat, date)
	if err != nil {
		return fmt.Errorf("X-Sdk-Date %q is not in the form 20060102T150405Z", date)
	}
	if !e.fresh(t) {
		return fmt.Errorf("X-Sdk-Date %s is more than %v away from the server time (stale or future request)", date, MaxClockSkew)
	}
	if p := r.Header.Get("X-Project-Id"); p != "" && p != e.opts.ProjectID {
		return fmt.Errorf("X-Project-Id %q is not this emulator's project", p)
	}
	if e.opts.SecurityToken != "" {
		tok := r.Header.Get("X-Security-Token")
		if tok == "" {
			return errors.New("missing X-Security-Token (temporary credentials need their security token)")
		}
		if !signedHas(h.signedHeaders, "x-security-token") {
			return errors.New("X-Security-Token is not among the signed headers")
		}
		if subtle.ConstantTimeCompare([]byte(tok), []byte(e.opts.SecurityToken)) != 1 {
			return errors.New("the security token is not valid")
		}
	}
	cr, err := canonicalRequest(r, h.signedHeaders, body)
	if err != nil {
		return err
	}
	crHash := sha256.Sum256([]byte(cr))
	sts := authAlgorithm + "\n" + date + "\n" + hex.EncodeToString(crHash[:])
	mac := hmac.New(sha256.New, []byte(e.opts.SK))
	mac.Write([]byte(sts))
	want := mac.Sum(nil)
	got, _ := hex.DecodeString(h.signature) // checked by parseAuthorization
	if !hmac.Equal(got, want) {
		return errors.New("signature does not match (check the SK and that the request was not changed after signing)")
	}
	return nil
}

// fresh reports whether a signing time is within MaxClockSkew of the
// emulator's clock or of the wall clock. The SDK stamps requests with the
// wall clock while a manual emulator clock may have been advanced far away,
// so either reference is accepted.
func (e *Emulator) fresh(t time.Time) bool {
	within := func(ref time.Time) bool {
		d := t.Sub(ref)
		return d <= MaxClockSkew && d >= -MaxClockSkew
	}
	return within(e.clock.Now()) || within(time.Now())
}

// canonicalRequest builds the SDK-HMAC-SHA256 canonical request of r.
func canonicalRequest(r *http.Request, signed []string, body []byte) (string, error) {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL.Path))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r))
	b.WriteByte('\n')
	for _, name := range signed {
		var values []string
		if name == "host" {
			values = []string{r.Host}
		} else {
			values = append(values, r.Header.Values(name)...)
		}
		if len(values) == 0 {
			return "", fmt.Errorf("signed header %q is not in the request", name)
		}
		sort.Strings(values)
		for _, v := range values {
			b.WriteString(name)
			b.WriteByte(':')
			b.WriteString(strings.TrimSpace(v))
			b.WriteByte('\n')
		}
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	if ch := r.Header.Get("X-Sdk-Content-Sha256"); ch != "" && signedHas(signed, "x-sdk-content-sha256") {
		b.WriteString(ch)
	} else {
		sum := sha256.Sum256(body)
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String(), nil
}

// canonicalURI percent-encodes every path segment and ends with a slash.
func canonicalURI(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = sigEscape(s)
	}
	u := strings.Join(segs, "/")
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u
}

// canonicalQuery sorts the query by key, then value, and percent-encodes
// both; a key without a value reads as "key=".
func canonicalQuery(r *http.Request) string {
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, sigEscape(k)+"="+sigEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

// sigEscape percent-encodes everything but A-Z a-z 0-9 - _ . ~ with
// upper-case hex digits.
func sigEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func signedHas(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
