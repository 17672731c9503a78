package dlitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"
)

// sdkSigned builds a request signed by the official SDK's signer, the way
// the SDK client does: X-Project-Id and (optionally) X-Security-Token are
// header params before signing; date, when set, is the X-Sdk-Date used.
type sdkReq struct {
	method, path string
	query        map[string]string
	body         any
	ak, sk       string
	project      string
	token        string
	date         time.Time
}

func (s sdkReq) build(t *testing.T, base string) *http.Request {
	t.Helper()
	b := request.NewHttpRequestBuilder().WithEndpoint(base).WithMethod(s.method).WithPath(s.path).
		AddHeaderParam("User-Agent", "huaweicloud-usdk-go/3.0").
		AddHeaderParam("Content-Type", "application/json")
	for k, v := range s.query {
		b.AddQueryParam(k, reflect.ValueOf(v))
	}
	if s.body != nil {
		b.WithBody("", s.body)
	}
	if s.project != "" {
		b.AddHeaderParam("X-Project-Id", s.project)
	}
	if s.token != "" {
		b.AddHeaderParam("X-Security-Token", s.token)
	}
	if !s.date.IsZero() {
		b.AddHeaderParam("X-Sdk-Date", s.date.UTC().Format(sdkDateFormat))
	}
	req := b.Build()
	extra, err := signer.Sign(req, s.ak, s.sk)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	for k, v := range extra {
		req.AddHeaderParam(k, v)
	}
	hr, err := req.ConvertRequest()
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	return hr
}

func authDo(t *testing.T, r *http.Request) (int, errorBody, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var eb errorBody
	_ = json.Unmarshal(raw, &eb)
	return resp.StatusCode, eb, string(raw)
}

func TestAuthTable(t *testing.T) {
	const ak, sk, proj, tok = "test-ak", "test-sk-secret", "proj1", "sec-token-1"
	now := time.Now()
	path := "/v1.0/" + proj + "/no-such-api"
	good := sdkReq{method: "GET", path: path, ak: ak, sk: sk, project: proj}
	tests := []struct {
		name      string
		token     string // emulator token mode
		req       sdkReq
		mutate    func(r *http.Request)
		wantAuth  bool
		wantInMsg string
	}{
		{name: "good", req: good, wantAuth: true},
		{name: "good with query and body", wantAuth: true, req: sdkReq{method: "POST", path: path, ak: ak, sk: sk, project: proj,
			query: map[string]string{"queue_type": "all", "name": "a b+c/ü", "empty": ""},
			body:  map[string]any{"sql": "select 1 & <2>", "n": 3}}},
		{name: "good path needing escapes", wantAuth: true, req: sdkReq{method: "GET", path: "/v1.0/" + proj + "/x:y/a b", ak: ak, sk: sk}},
		{name: "missing Authorization", req: good, mutate: func(r *http.Request) { r.Header.Del("Authorization") }, wantInMsg: "missing Authorization"},
		{name: "malformed scheme", req: good, mutate: func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }, wantInMsg: "malformed"},
		{name: "malformed parts", req: good, mutate: func(r *http.Request) {
			r.Header.Set("Authorization", "SDK-HMAC-SHA256 Access=test-ak, Signature=00")
		}, wantInMsg: "malformed"},
		{name: "wrong AK", req: sdkReq{method: "GET", path: path, ak: "other-ak", sk: sk}, wantInMsg: "access key"},
		{name: "wrong SK", req: sdkReq{method: "GET", path: path, ak: ak, sk: "other-sk"}, wantInMsg: "signature does not match"},
		{name: "stale date", req: sdkReq{method: "GET", path: path, ak: ak, sk: sk, date: now.Add(-time.Hour)}, wantInMsg: "stale"},
		{name: "future date", req: sdkReq{method: "GET", path: path, ak: ak, sk: sk, date: now.Add(time.Hour)}, wantInMsg: "stale"},
		{name: "date within skew", req: sdkReq{method: "GET", path: path, ak: ak, sk: sk, date: now.Add(-10 * time.Minute)}, wantAuth: true},
		{name: "missing date", req: good, mutate: func(r *http.Request) { r.Header.Del("X-Sdk-Date") }, wantInMsg: "X-Sdk-Date"},
		{name: "body changed after signing", req: sdkReq{method: "POST", path: path, ak: ak, sk: sk, body: map[string]int{"a": 1}},
			mutate: func(r *http.Request) {
				r.Body = io.NopCloser(strings.NewReader(`{"a":2}`))
				r.ContentLength = 7
			}, wantInMsg: "signature does not match"},
		{name: "query changed after signing", req: good, mutate: func(r *http.Request) { r.URL.RawQuery = "x=1" }, wantInMsg: "signature does not match"},
		{name: "wrong project header", req: sdkReq{method: "GET", path: path, ak: ak, sk: sk, project: "other"}, wantInMsg: "X-Project-Id"},
		{name: "token mode: missing token", token: tok, req: good, wantInMsg: "X-Security-Token"},
		{name: "token mode: wrong token", token: tok, req: sdkReq{method: "GET", path: path, ak: ak, sk: sk, token: "nope"}, wantInMsg: "security token"},
		{name: "token mode: good", token: tok, req: sdkReq{method: "GET", path: path, ak: ak, sk: sk, token: tok}, wantAuth: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := NewServer(t, Options{ProjectID: proj, AK: ak, SK: sk, SecurityToken: tc.token})
			r := tc.req.build(t, srv.URL)
			if tc.mutate != nil {
				tc.mutate(r)
			}
			status, eb, raw := authDo(t, r)
			if tc.wantAuth {
				if status == http.StatusUnauthorized {
					t.Fatalf("want authenticated, got 401 %s", raw)
				}
				// The path has no API: authenticated requests get DLI's 404.
				if status != http.StatusNotFound || eb.ErrorCode != "DLI.0002" {
					t.Fatalf("want 404 DLI.0002 after auth, got %d %s", status, raw)
				}
			} else {
				if status != http.StatusUnauthorized || eb.ErrorCode != "DLI.0013" {
					t.Fatalf("want 401 DLI.0013, got %d %s", status, raw)
				}
				if !strings.Contains(eb.ErrorMsg, tc.wantInMsg) {
					t.Fatalf("error_msg %q does not say %q", eb.ErrorMsg, tc.wantInMsg)
				}
				if strings.Contains(raw, sk) {
					t.Fatalf("error body reveals the SK: %s", raw)
				}
			}
			reqs := srv.Requests()
			if len(reqs) != 1 || reqs[0].AuthOK != tc.wantAuth {
				t.Fatalf("request log = %+v, want one record with auth_ok=%v", reqs, tc.wantAuth)
			}
		})
	}
}

// TestAuthDateFollowsEmulatorClock: a manual clock far from the wall clock
// accepts dates near either one.
func TestAuthDateFollowsEmulatorClock(t *testing.T) {
	start := time.Date(2020, 6, 1, 12, 0, 0, 0, time.UTC)
	srv := NewServer(t, Options{Start: start})
	o := srv.Options()
	for _, d := range []time.Time{start.Add(5 * time.Minute), time.Now()} {
		r := sdkReq{method: "GET", path: "/v1.0/" + o.ProjectID + "/x", ak: o.AK, sk: o.SK, date: d}.build(t, srv.URL)
		if status, _, raw := authDo(t, r); status == http.StatusUnauthorized {
			t.Fatalf("date %v: got 401 %s", d, raw)
		}
	}
	r := sdkReq{method: "GET", path: "/v1.0/" + o.ProjectID + "/x", ak: o.AK, sk: o.SK, date: start.Add(time.Hour)}.build(t, srv.URL)
	if status, _, _ := authDo(t, r); status != http.StatusUnauthorized {
		t.Fatalf("date an hour after the emulator clock and years from the wall clock: got %d, want 401", status)
	}
}

func TestAuthSkip(t *testing.T) {
	srv := NewServer(t, Options{SkipAuth: true})
	r, _ := http.NewRequest("GET", srv.URL+"/v1.0/emulator-project/x", nil)
	if status, _, raw := authDo(t, r); status != http.StatusNotFound {
		t.Fatalf("SkipAuth: got %d %s", status, raw)
	}
}

func TestParseAuthorization(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		wantErr string
	}{
		{"SDK-HMAC-SHA256 Access=ak, SignedHeaders=host;x-sdk-date, Signature=" + sig, ""},
		{"SDK-HMAC-SHA256 Access=ak,SignedHeaders=x-sdk-date,Signature=" + sig, ""},
		{"", "scheme"},
		{"AWS4-HMAC-SHA256 Access=ak", "scheme"},
		{"SDK-HMAC-SHA256 Access=ak, SignedHeaders=x-sdk-date, Signature=xyz", "hex"},
		{"SDK-HMAC-SHA256 Access=ak, SignedHeaders=x-sdk-date", "no Signature"},
		{"SDK-HMAC-SHA256 SignedHeaders=x-sdk-date, Signature=" + sig, "no Access"},
		{"SDK-HMAC-SHA256 Access=ak, Signature=" + sig, "no SignedHeaders"},
		{"SDK-HMAC-SHA256 Access=ak, SignedHeaders=X-Sdk-Date, Signature=" + sig, "lower-case"},
		{"SDK-HMAC-SHA256 Access=ak, SignedHeaders=x-sdk-date;host, Signature=" + sig, "sorted"},
		{"SDK-HMAC-SHA256 Access=ak, Access=b, SignedHeaders=x, Signature=" + sig, "twice"},
		{"SDK-HMAC-SHA256 Access=ak, Foo=1, SignedHeaders=x, Signature=" + sig, "unknown part"},
		{"SDK-HMAC-SHA256 Access=ak SignedHeaders", "malformed"},
	}
	for _, tc := range tests {
		_, err := parseAuthorization(tc.in)
		if tc.wantErr == "" && err != nil {
			t.Errorf("%q: %v", tc.in, err)
		}
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%q: err %v, want it to say %q", tc.in, err, tc.wantErr)
		}
	}
}

// TestAuthUnsignedPayload: the SDK signs non-JSON bodies as UNSIGNED-PAYLOAD
// through X-Sdk-Content-Sha256.
func TestAuthUnsignedPayload(t *testing.T) {
	srv := NewServer(t)
	o := srv.Options()
	req := request.NewHttpRequestBuilder().WithEndpoint(srv.URL).WithMethod("POST").WithPath("/v1.0/"+o.ProjectID+"/x").
		AddHeaderParam("Content-Type", "text/plain").WithBody("", "plain text body").Build()
	extra, err := signer.Sign(req, o.AK, o.SK)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range extra {
		req.AddHeaderParam(k, v)
	}
	hr, err := req.ConvertRequest()
	if err != nil {
		t.Fatal(err)
	}
	hr.Body = io.NopCloser(bytes.NewReader([]byte("a different body: the payload is unsigned")))
	hr.ContentLength = -1
	if status, _, raw := authDo(t, hr); status == http.StatusUnauthorized {
		t.Fatalf("UNSIGNED-PAYLOAD request refused: %s", raw)
	}
}

// FuzzParseAuthorization: any header parses or fails cleanly, and what
// parses is well formed.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("SDK-HMAC-SHA256 Access=ak, SignedHeaders=host;x-sdk-date, Signature=" + strings.Repeat("0f", 32))
	f.Add("SDK-HMAC-SHA256 Access=, SignedHeaders=;, Signature=")
	f.Add("SDK-HMAC-SHA256 ,,,")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseAuthorization(s)
		if err != nil {
			return
		}
		if h.access == "" || len(h.signedHeaders) == 0 || len(h.signature) != 64 {
			t.Fatalf("accepted a malformed header %q: %+v", s, h)
		}
	})
}

// FuzzVerifyAuth: arbitrary Authorization/date headers, paths and queries
// never panic and are never accepted without the SK.
func FuzzVerifyAuth(f *testing.F) {
	f.Add("SDK-HMAC-SHA256 Access=emulator-ak, SignedHeaders=x-sdk-date, Signature="+strings.Repeat("ab", 32), "20260101T000000Z", "/v1.0/p/queues", "a=1&b=%20")
	f.Add("", "", "/", "")
	e, err := New(Options{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, authz, date, path, query string) {
		r, err := http.NewRequest("GET", "http://x/", nil)
		if err != nil {
			t.Skip()
		}
		r.URL.Path, r.URL.RawQuery = path, query
		r.Header.Set("Authorization", authz)
		r.Header.Set("X-Sdk-Date", date)
		if e.verifyAuth(r, nil) == nil {
			t.Fatalf("accepted a request not signed with the SK: %q %q %q %q", authz, date, path, query)
		}
	})
}

// BenchmarkVerifyAuth measures the signature check of one SDK-signed POST
// with a small JSON body and a query.
func BenchmarkVerifyAuth(b *testing.B) {
	e, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	o := e.Options()
	t := &testing.T{}
	r := sdkReq{method: "POST", path: "/v1/" + o.ProjectID + "/queues/etl/plans", query: map[string]string{"a": "1", "b": "x y"},
		body: map[string]any{"plan_name": "p", "target_cu": 64}, ak: o.AK, sk: o.SK, project: o.ProjectID}.build(t, "http://127.0.0.1:1")
	body, _ := io.ReadAll(r.Body)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.verifyAuth(r, body); err != nil {
			b.Fatal(err)
		}
	}
}
