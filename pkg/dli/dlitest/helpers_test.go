package dlitest

// Helpers shared by the tests of this package: plain JSON requests,
// error answers, golden files and the official SDK client.

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	dli "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1"
)

func init() {
	// -update regenerates golden files. Another test file of this package
	// may register the same flag; share it instead of panicking.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "regenerate golden files in testdata/")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// call sends an unsigned JSON request (body: nil, a string sent as is, or
// a value encoded as JSON) and returns the status and the body.
func call(t testing.TB, srv *Server, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// callJSON is call that decodes a 2xx answer into out.
func callJSON(t testing.TB, srv *Server, method, path string, body, out any) {
	t.Helper()
	status, raw := call(t, srv, method, path, body)
	if status/100 != 2 {
		t.Fatalf("%s %s: status %d: %s", method, path, status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, raw, err)
		}
	}
}

// checkError asserts a DLI error answer.
func checkError(t testing.TB, status int, raw []byte, wantStatus int, wantCode, wantFrag string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status %d, want %d (body %s)", status, wantStatus, raw)
	}
	var e errorBody
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("error body %s: %v", raw, err)
	}
	if e.ErrorCode != wantCode {
		t.Errorf("error_code %q, want %q (msg %q)", e.ErrorCode, wantCode, e.ErrorMsg)
	}
	if !strings.Contains(e.ErrorMsg, wantFrag) {
		t.Errorf("error_msg %q does not contain %q", e.ErrorMsg, wantFrag)
	}
}

// golden compares a JSON answer (re-indented) with testdata/name.json
// byte for byte; -update rewrites the file.
func golden(t testing.TB, name string, raw []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		t.Fatalf("golden %s: not JSON: %v: %s", name, err, raw)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name+".json")
	if updateGolden() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test -update to create it)", name, err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("golden %s differs (go test -update regenerates it)\n--- got\n%s\n--- want\n%s", name, buf.Bytes(), want)
	}
}

// sdkClient builds the official SDK's DLI client against srv, signing with
// srv's AK/SK, without retries.
func sdkClient(t testing.TB, srv *Server) *dli.DliClient {
	t.Helper()
	o := srv.Options()
	cred, err := basic.NewCredentialsBuilder().WithAk(o.AK).WithSk(o.SK).WithProjectId(o.ProjectID).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := dli.DliClientBuilder().WithEndpoints([]string{srv.URL}).WithCredential(cred).
		WithHttpConfig(config.DefaultHttpConfig().WithRetries(0)).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	return dli.NewDliClient(hc)
}

// ptr returns a pointer to v, for the SDK's optional request fields.
func ptr[T any](v T) *T { return &v }
