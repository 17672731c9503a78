// Package slacktest is an HTTP fake of the parts of the Slack Web API dlibot uses, for tests (and
// for trying dlibot without a workspace).
//
// It serves, on 127.0.0.1 and a random port:
//
//   - /api/auth.test, /api/chat.postMessage, /api/chat.update, /api/chat.postEphemeral (form or JSON
//     bodies, as slack-go and other clients send them);
//   - the external file upload flow: /api/files.getUploadURLExternal, the upload URL it hands out
//     (/upload/<file id>), /api/files.completeUploadExternal;
//   - a receiver for slash-command response_url POSTs (ResponseURL), with Slack's budget of 5 uses.
//
// It checks the bot token (Authorization: Bearer, or the token form field), validates messages like
// Slack does (no_text, invalid_blocks for Block Kit limit violations, msg_too_long,
// msg_blocks_too_long, message_not_found…), keeps the messages, threads and files it received, and
// records every call for assertions. Failures can be programmed (Fail: 429 with Retry-After, HTTP
// errors, ok:false codes for the next N calls), and WithRateLimit makes it answer 429 like Slack when a
// channel gets more than one message per interval. It is safe for concurrent use.
//
// Point a notifier at it:
//
//	srv := slacktest.Start(t)
//	n, err := notify.NewSlack(notify.Config{Token: srv.Token(), APIURL: srv.URL(), Channel: "C0ALERTS"},
//		notify.WithChannelInterval(0))
package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultToken is the bot token the fake accepts unless WithToken says otherwise.
const DefaultToken = "xoxb-0000000000-slacktest-fake-token"

// Identity answered by auth.test.
const (
	TeamID = "T0SLACKTEST"
	UserID = "U0DLIBOT"
	BotID  = "B0DLIBOT"
)

// baseTS is the seconds part of every ts the fake hands out; the fraction is a sequence number, so
// runs are deterministic.
const baseTS = 1700000000

// Call is one request the fake received.
type Call struct {
	// Method is the API method ("chat.postMessage", "chat.update", "auth.test",
	// "files.getUploadURLExternal", "files.completeUploadExternal"), "upload" for the upload URL, or
	// "response" for a response_url POST.
	Method string
	// Channel is the channel as sent (an ID or a name).
	Channel string
	// Text is the top-level text.
	Text string
	// Blocks is the blocks JSON as sent (nil when none).
	Blocks json.RawMessage
	// ThreadTS is thread_ts as sent.
	ThreadTS string
	// TS is the message ts: the one answered by chat.postMessage, the one edited by chat.update.
	TS string
	// Broadcast reports reply_broadcast.
	Broadcast bool
	// User is the recipient of a chat.postEphemeral.
	User string
	// Status is the HTTP status answered.
	Status int
	// Error is the Slack error code answered (ok:false), empty on success.
	Error string
}

// OK reports a call answered 200 with ok:true.
func (c Call) OK() bool { return c.Status == http.StatusOK && c.Error == "" }

// Message is a message as the fake stores it, after any updates.
type Message struct {
	// Channel is the channel ID.
	Channel string
	// TS is the message's ts.
	TS string
	// ThreadTS is the thread root's ts for a reply, empty for a root message.
	ThreadTS string
	// Text is the current text.
	Text string
	// Blocks is the current blocks JSON (nil when none).
	Blocks json.RawMessage
	// Broadcast reports a reply also sent to the channel.
	Broadcast bool
	// Edits counts chat.update calls on the message.
	Edits int
}

// File is an uploaded file.
type File struct {
	// ID is the file id (F…).
	ID string
	// Name is the file name from files.getUploadURLExternal.
	Name string
	// Title is the title from files.completeUploadExternal.
	Title string
	// AltText is alt_txt from files.getUploadURLExternal.
	AltText string
	// Content is the uploaded bytes.
	Content []byte
	// Channel is the channel it was shared in ("" until completed).
	Channel string
	// ThreadTS is the thread it was shared in.
	ThreadTS string
	// Comment is the initial comment.
	Comment string
	// Completed reports files.completeUploadExternal was called for it.
	Completed bool
}

// Response is one POST to a response_url.
type Response struct {
	// ResponseType is "ephemeral" or "in_channel" (empty when not given).
	ResponseType string `json:"response_type"`
	// ReplaceOriginal is replace_original as sent.
	ReplaceOriginal bool `json:"replace_original"`
	// DeleteOriginal is delete_original as sent.
	DeleteOriginal bool `json:"delete_original"`
	// Text is the text as sent.
	Text string `json:"text"`
	// ThreadTS is thread_ts as sent.
	ThreadTS string `json:"thread_ts"`
	// Blocks is the blocks JSON as sent.
	Blocks json.RawMessage `json:"blocks"`
}

// Failure is a programmed failure (see Fail).
type Failure struct {
	// Status is the HTTP status to answer; 0 means 200 (with Code).
	Status int
	// RetryAfter, with Status 429, is sent as the Retry-After header in whole seconds (rounded up);
	// zero sends no header.
	RetryAfter time.Duration
	// Code, with status 200, is the error of an ok:false answer (e.g. "invalid_auth").
	Code string
}

// RateLimited answers 429 with Retry-After.
func RateLimited(after time.Duration) Failure {
	return Failure{Status: http.StatusTooManyRequests, RetryAfter: after}
}

// HTTPError answers the HTTP status with an HTML body, as Slack's edge does for 5xx.
func HTTPError(status int) Failure { return Failure{Status: status} }

// SlackError answers 200 {"ok":false,"error":code}.
func SlackError(code string) Failure { return Failure{Code: code} }

type rule struct {
	method string
	left   int
	f      Failure
}

// Server is the fake. Create it with New or Start.
type Server struct {
	srv *httptest.Server

	// Fixed at construction.
	token          string
	known          map[string]bool // when non-nil, the only channel IDs that exist
	rate           time.Duration
	now            func() time.Time
	responseBudget int

	mu        sync.Mutex
	seq       int
	calls     []Call
	msgs      map[string]*Message // by channel + "/" + ts
	order     []string            // message keys in post order
	names     map[string]string   // channel name → ID
	rules     []*rule
	files     map[string]*File
	fileOrder []string
	responses map[string][]Response
	lastPost  map[string]time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithToken sets the bot token the fake accepts.
func WithToken(token string) Option { return func(s *Server) { s.token = token } }

// WithChannels makes only these channel IDs (and names registered with them as "name=ID") exist;
// others answer channel_not_found. By default every channel exists; names get IDs on first use.
func WithChannels(channels ...string) Option {
	return func(s *Server) {
		if s.known == nil {
			s.known = make(map[string]bool)
		}
		for _, c := range channels {
			name, id, ok := strings.Cut(c, "=")
			if !ok {
				id, name = c, ""
			}
			s.known[id] = true
			if name != "" {
				s.names[strings.TrimPrefix(name, "#")] = id
			}
		}
	}
}

// WithRateLimit makes chat.postMessage answer 429 (Retry-After: the rest of the interval, rounded up
// to whole seconds) when a channel's previous message is less than interval old, as Slack does for
// about one message per second per channel. now is the clock to judge by (nil = time.Now); share a
// fake clock with the notifier under test to check its pacing without sleeping.
func WithRateLimit(interval time.Duration, now func() time.Time) Option {
	return func(s *Server) {
		s.rate = interval
		if now != nil {
			s.now = now
		}
	}
}

// WithResponseBudget sets how many POSTs one response_url accepts (Slack: 5; 0 = unlimited).
func WithResponseBudget(n int) Option { return func(s *Server) { s.responseBudget = n } }

// New starts a fake on 127.0.0.1 and a random port. Close it when done (Start does that for you).
func New(opts ...Option) *Server {
	s := &Server{
		token:          DefaultToken,
		now:            time.Now,
		responseBudget: 5,
		msgs:           make(map[string]*Message),
		names:          make(map[string]string),
		files:          make(map[string]*File),
		responses:      make(map[string][]Response),
		lastPost:       make(map[string]time.Time),
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/auth.test", s.api("auth.test", s.authTest))
	mux.HandleFunc("POST /api/chat.postMessage", s.api("chat.postMessage", s.postMessage))
	mux.HandleFunc("POST /api/chat.update", s.api("chat.update", s.update))
	mux.HandleFunc("POST /api/chat.postEphemeral", s.api("chat.postEphemeral", s.postEphemeral))
	mux.HandleFunc("POST /api/files.getUploadURLExternal", s.api("files.getUploadURLExternal", s.getUploadURL))
	mux.HandleFunc("POST /api/files.completeUploadExternal", s.api("files.completeUploadExternal", s.completeUpload))
	mux.HandleFunc("POST /upload/{id}", s.upload)
	mux.HandleFunc("POST /response/{name}", s.response)
	mux.HandleFunc("/api/{method}", func(w http.ResponseWriter, r *http.Request) {
		s.record(Call{Method: r.PathValue("method"), Status: http.StatusOK, Error: "unknown_method"})
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "unknown_method"})
	})
	s.srv = httptest.NewServer(mux)
	return s
}

// Start is New plus tb.Cleanup(Close).
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := New(opts...)
	tb.Cleanup(s.Close)
	return s
}

// Close shuts the fake down.
func (s *Server) Close() { s.srv.Close() }

// URL is the Web API base URL, ending in "/" (for SLACK_API_URL or slack.OptionAPIURL).
func (s *Server) URL() string { return s.srv.URL + "/api/" }

// Token is the bot token the fake accepts.
func (s *Server) Token() string { return s.token }

// Fail makes the next n calls of method ("" = any API method; "upload", "response" for those
// endpoints) answer with f. Rules apply in the order they were added.
func (s *Server) Fail(method string, n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &rule{method: method, left: n, f: f})
}

// Calls returns every call received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsTo returns the calls of one method, in order.
func (s *Server) CallsTo(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls polls until at least n successful calls of method arrived or timeout passes, and returns
// the successful calls of method (fewer than n on timeout). Use it when the code under test posts
// asynchronously.
func (s *Server) WaitCalls(method string, n int, timeout time.Duration) []Call {
	deadline := time.Now().Add(timeout)
	for {
		var ok []Call
		for _, c := range s.CallsTo(method) {
			if c.OK() {
				ok = append(ok, c)
			}
		}
		if len(ok) >= n || time.Now().After(deadline) {
			return ok
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitResponses polls until at least n POSTs reached ResponseURL(name) or timeout passes, and returns
// them (fewer than n on timeout).
func (s *Server) WaitResponses(name string, n int, timeout time.Duration) []Response {
	deadline := time.Now().Add(timeout)
	for {
		got := s.Responses(name)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ChannelID returns the ID the fake uses for a channel name or ID.
func (s *Server) ChannelID(channel string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _ := s.resolve(channel, false)
	return id
}

// Message returns the stored message at channel (ID or name) and ts.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _ := s.resolve(channel, false)
	m, ok := s.msgs[id+"/"+ts]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Messages returns the root messages (not thread replies) of a channel, oldest first.
func (s *Server) Messages(channel string) []Message {
	return s.filter(channel, func(m *Message) bool { return m.ThreadTS == "" })
}

// Thread returns the replies in the thread rooted at ts, oldest first.
func (s *Server) Thread(channel, ts string) []Message {
	return s.filter(channel, func(m *Message) bool { return m.ThreadTS == ts })
}

func (s *Server) filter(channel string, keep func(*Message) bool) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _ := s.resolve(channel, false)
	var out []Message
	for _, k := range s.order {
		if m := s.msgs[k]; m.Channel == id && keep(m) {
			out = append(out, *m)
		}
	}
	return out
}

// Files returns the uploaded files in upload order.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]File, 0, len(s.fileOrder))
	for _, id := range s.fileOrder {
		f := *s.files[id]
		f.Content = append([]byte(nil), f.Content...)
		out = append(out, f)
	}
	return out
}

// ResponseURL returns a response_url for a slash command or interaction named name (any string
// without "/"); what is POSTed to it is kept under that name.
func (s *Server) ResponseURL(name string) string { return s.srv.URL + "/response/" + name }

// Responses returns what was POSTed to ResponseURL(name), in order.
func (s *Server) Responses(name string) []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Response(nil), s.responses[name]...)
}

var idRE = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)

// resolve maps a channel name or ID to an ID; create allocates IDs for new names. ok is false when
// the channel does not exist. Callers hold s.mu.
func (s *Server) resolve(channel string, create bool) (string, bool) {
	name := strings.TrimPrefix(channel, "#")
	if name == "" {
		return "", false
	}
	if idRE.MatchString(name) && !strings.HasPrefix(channel, "#") {
		return name, s.known == nil || s.known[name]
	}
	if id, ok := s.names[name]; ok {
		return id, s.known == nil || s.known[id]
	}
	if s.known != nil || !create {
		return "", false
	}
	id := fmt.Sprintf("C%08d", len(s.names)+1)
	s.names[name] = id
	return id, true
}

func (s *Server) nextTS() string {
	s.seq++
	return fmt.Sprintf("%d.%06d", baseTS, s.seq)
}

// request is the decoded body of an API call.
type request struct {
	token  string
	values map[string]string
	blocks json.RawMessage
}

func (r request) get(k string) string { return r.values[k] }

// reply is a handler's answer: a body for ok:true, or a Slack error code; status 429 answers a rate
// limit with retryAfter seconds.
type reply struct {
	body       map[string]any
	code       string
	status     int
	retryAfter int
}

func okReply(body map[string]any) reply { return reply{body: body} }
func errReply(code string) reply        { return reply{code: code} }

// handler handles one API method with s.mu held; it fills the call record.
type handler func(req request, c *Call) reply

// api wraps a method: programmed failures, body decoding, token check, recording.
func (s *Server) api(method string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := decode(r)
		s.mu.Lock()
		defer s.mu.Unlock()
		c := Call{Method: method, Channel: req.get("channel"), Text: req.get("text"), Blocks: req.blocks,
			ThreadTS: req.get("thread_ts"), TS: req.get("ts"), Broadcast: req.get("reply_broadcast") == "true"}
		if c.Channel == "" {
			c.Channel = req.get("channel_id")
		}
		if s.injected(method, w, &c) {
			return
		}
		var rep reply
		switch {
		case err != nil:
			rep = errReply("invalid_form_data")
		case req.token == "":
			rep = errReply("not_authed")
		case req.token != s.token:
			rep = errReply("invalid_auth")
		default:
			rep = h(req, &c)
		}
		if rep.status == http.StatusTooManyRequests {
			s.writeFailure(w, RateLimited(time.Duration(rep.retryAfter)*time.Second), &c)
			return
		}
		c.Status = http.StatusOK
		out := rep.body
		if rep.code != "" {
			c.Error = rep.code
			out = map[string]any{"ok": false, "error": rep.code}
		} else {
			if out == nil {
				out = map[string]any{}
			}
			out["ok"] = true
		}
		s.calls = append(s.calls, c)
		writeJSON(w, http.StatusOK, out)
	}
}

// injected answers with the first matching programmed failure, if any. Callers hold s.mu.
func (s *Server) injected(method string, w http.ResponseWriter, c *Call) bool {
	for _, r := range s.rules {
		if r.left <= 0 || (r.method != "" && r.method != method) {
			continue
		}
		if r.method == "" && (method == "upload" || method == "response") {
			continue
		}
		r.left--
		s.writeFailure(w, r.f, c)
		return true
	}
	return false
}

func (s *Server) writeFailure(w http.ResponseWriter, f Failure, c *Call) {
	switch {
	case f.Status == 0 || f.Status == http.StatusOK:
		c.Status, c.Error = http.StatusOK, f.Code
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": f.Code})
	case f.Status == http.StatusTooManyRequests:
		c.Status, c.Error = f.Status, "ratelimited"
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(f.RetryAfter.Seconds()))))
		}
		writeJSON(w, f.Status, map[string]any{"ok": false, "error": "ratelimited"})
	default:
		c.Status = f.Status
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, "<html><body>%d %s</body></html>", f.Status, http.StatusText(f.Status))
	}
	s.calls = append(s.calls, *c)
}

func (s *Server) authTest(request, *Call) reply {
	return okReply(map[string]any{
		"url": "https://slacktest.slack.com/", "team": "slacktest", "user": "dlibot",
		"team_id": TeamID, "user_id": UserID, "bot_id": BotID,
	})
}

func (s *Server) postMessage(req request, c *Call) reply {
	id, ok := s.resolve(req.get("channel"), true)
	if !ok {
		return errReply("channel_not_found")
	}
	if code := validate(req.get("text"), req.blocks); code != "" {
		return errReply(code)
	}
	thread := req.get("thread_ts")
	if thread != "" {
		root, ok := s.msgs[id+"/"+thread]
		if !ok {
			return errReply("thread_not_found")
		}
		if root.ThreadTS != "" { // a reply to a reply lands in the root's thread
			thread = root.ThreadTS
		}
	}
	if s.rate > 0 {
		now := s.now()
		if last, ok := s.lastPost[id]; ok && now.Sub(last) < s.rate {
			wait := s.rate - now.Sub(last)
			return reply{status: http.StatusTooManyRequests, retryAfter: int(math.Ceil(wait.Seconds()))}
		}
		s.lastPost[id] = now
	}
	ts := s.nextTS()
	m := &Message{Channel: id, TS: ts, ThreadTS: thread, Text: req.get("text"), Blocks: req.blocks,
		Broadcast: c.Broadcast}
	s.msgs[id+"/"+ts] = m
	s.order = append(s.order, id+"/"+ts)
	c.TS = ts
	msg := map[string]any{"type": "message", "text": m.Text, "ts": ts, "bot_id": BotID, "user": UserID}
	if thread != "" {
		msg["thread_ts"] = thread
	}
	if len(req.blocks) > 0 {
		msg["blocks"] = req.blocks
	}
	return okReply(map[string]any{"channel": id, "ts": ts, "message": msg})
}

// postEphemeral records an ephemeral message (visible to one user; not stored with the channel's
// messages, and not editable with chat.update, as in Slack).
func (s *Server) postEphemeral(req request, c *Call) reply {
	if _, ok := s.resolve(req.get("channel"), true); !ok {
		return errReply("channel_not_found")
	}
	if req.get("user") == "" {
		return errReply("user_not_in_channel")
	}
	if code := validate(req.get("text"), req.blocks); code != "" {
		return errReply(code)
	}
	c.User = req.get("user")
	c.TS = s.nextTS()
	return okReply(map[string]any{"message_ts": c.TS})
}

func (s *Server) update(req request, c *Call) reply {
	id, ok := s.resolve(req.get("channel"), false)
	if !ok || !idRE.MatchString(req.get("channel")) {
		// chat.update takes an ID, not a name.
		return errReply("channel_not_found")
	}
	m, ok := s.msgs[id+"/"+req.get("ts")]
	if !ok {
		return errReply("message_not_found")
	}
	if code := validate(req.get("text"), req.blocks); code != "" {
		return errReply(code)
	}
	m.Text = req.get("text")
	if len(req.blocks) > 0 {
		m.Blocks = req.blocks
	}
	m.Edits++
	return okReply(map[string]any{"channel": id, "ts": m.TS, "text": m.Text})
}

func (s *Server) getUploadURL(req request, c *Call) reply {
	name, length := req.get("filename"), req.get("length")
	if name == "" || length == "" || length == "0" {
		return errReply("invalid_arguments")
	}
	s.seq++
	id := fmt.Sprintf("F%09d", s.seq)
	s.files[id] = &File{ID: id, Name: name, AltText: req.get("alt_txt")}
	s.fileOrder = append(s.fileOrder, id)
	return okReply(map[string]any{"upload_url": s.srv.URL + "/upload/" + id, "file_id": id})
}

func (s *Server) completeUpload(req request, c *Call) reply {
	var files []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(req.get("files")), &files); err != nil || len(files) == 0 {
		return errReply("invalid_arguments")
	}
	ch := req.get("channel_id")
	id := ""
	if ch != "" {
		var ok bool
		if id, ok = s.resolve(ch, false); !ok || !idRE.MatchString(ch) {
			return errReply("channel_not_found")
		}
	}
	out := make([]map[string]any, 0, len(files))
	for _, f := range files {
		sf, ok := s.files[f.ID]
		if !ok || sf.Content == nil {
			return errReply("file_not_found")
		}
		sf.Title, sf.Channel, sf.ThreadTS, sf.Comment, sf.Completed = f.Title, id, req.get("thread_ts"), req.get("initial_comment"), true
		out = append(out, map[string]any{"id": sf.ID, "title": sf.Title})
	}
	return okReply(map[string]any{"files": out})
}

// upload receives the file bytes at the URL files.getUploadURLExternal handed out.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	c := Call{Method: "upload", TS: id}
	if s.injected("upload", w, &c) {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if auth := r.Header.Get("Authorization"); auth != "" && auth != "Bearer "+s.token {
		http.Error(w, "invalid token", http.StatusUnauthorized)
		s.record(Call{Method: "upload", TS: id, Status: http.StatusUnauthorized})
		return
	}
	var content []byte
	if err := r.ParseMultipartForm(32 << 20); err == nil {
		if f, _, err := r.FormFile("file"); err == nil {
			content, _ = io.ReadAll(f)
			_ = f.Close()
		}
	} else if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		content, _ = io.ReadAll(r.Body) // a raw body upload, as Slack also accepts
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sf, ok := s.files[id]
	if !ok || content == nil {
		s.calls = append(s.calls, Call{Method: "upload", TS: id, Status: http.StatusNotFound})
		http.Error(w, "no such upload", http.StatusNotFound)
		return
	}
	sf.Content = content
	s.calls = append(s.calls, Call{Method: "upload", TS: id, Status: http.StatusOK})
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "OK - %d", len(content))
}

// response receives response_url POSTs.
func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var resp Response
	err := json.NewDecoder(r.Body).Decode(&resp)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Call{Method: "response", Channel: name, Text: resp.Text, Blocks: resp.Blocks, ThreadTS: resp.ThreadTS}
	if s.injected("response", w, &c) {
		return
	}
	switch {
	case err != nil:
		c.Status, c.Error = http.StatusBadRequest, "invalid_payload"
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "invalid_payload"})
	case s.responseBudget > 0 && len(s.responses[name]) >= s.responseBudget:
		c.Status, c.Error = http.StatusNotFound, "used_url"
		writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "used_url"})
	default:
		s.responses[name] = append(s.responses[name], resp)
		c.Status = http.StatusOK
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}
	s.calls = append(s.calls, c)
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
