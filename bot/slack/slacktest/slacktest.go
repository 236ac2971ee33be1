// Package slacktest is a stateful fake of the parts of the Slack platform Elevate uses: the Web
// API methods (chat.postMessage/update/postEphemeral, conversations.open/history, users.info,
// users.lookupByEmail, views.open/publish/update, apps.connections.open, and file uploads:
// files.getUploadURLExternal, the upload URL on the fake's own host, files.completeUploadExternal),
// response_url posts and Socket Mode's WebSocket. A shared file shows in conversations.history
// as Slack shows it: a message with the file objects in files[], each naming its uploader (the
// bot user, or the member of PostFileAsMember). It speaks the wire formats slack-go sends (form or JSON bodies, token in a form
// field or a Bearer header), records every call and message, and can answer 429s on demand.
//
// Point slack-go at it with slack.OptionAPIURL(s.APIURL()).
package slacktest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Tokens the fake accepts.
const (
	BotToken = "xoxb-test"
	AppToken = "xapp-test"
)

// Message is a message as the fake holds it, with updates applied.
type Message struct {
	Seq       int    // order of posting, from 1
	Channel   string // channel id ("D…" for a direct message)
	TS        string // "" for ephemeral messages
	Ephemeral bool   // seen only by User
	User      string // the only viewer of an ephemeral message
	Text      string
	Blocks    json.RawMessage
	Updates   int
	Via       string   // the method that posted it: chat.postMessage, chat.postEphemeral, response_url, files.completeUploadExternal
	Response  string   // for Via response_url: the response_url's id (the last part of the URL ResponseURL gave)
	ThreadTS  string   // the thread it was posted in, if any
	Files     []string // ids of the files shared with it (files.completeUploadExternal)
	// Original is, for a message sent through a response_url, the original given to ResponseURL:
	// which interaction it answers.
	Original string
	// Metadata is the message metadata chat.postMessage was given ({"event_type":…,
	// "event_payload":{…}}), nil for none.
	Metadata json.RawMessage
	// From is the member who posted it (PostAsMember); "" for the bot's own posts.
	From string
}

// User is a workspace member. Slack marks an email confirmed once the member proved they
// receive mail there; Unconfirmed says they have not.
type User struct {
	ID, Name, Email string
	Deleted, Bot    bool
	Unconfirmed     bool
}

// File is a file uploaded with files.getUploadURLExternal and the upload URL, and shared (or
// not yet) with files.completeUploadExternal.
type File struct {
	ID       string
	Name     string // the filename given to files.getUploadURLExternal
	Title    string // given to files.completeUploadExternal
	AltText  string
	Length   int    // announced to files.getUploadURLExternal
	Data     []byte // what was posted to the upload URL; nil until then
	Complete bool   // files.completeUploadExternal was called for it
	Channel  string // where it was shared; "" for a private file
	ThreadTS string
	Comment  string // the initial comment
	Message  int    // Seq of the message that shared it, 0 if none
	// User is the member who uploaded it (PostFileAsMember); "" for the bot's own files, which
	// Slack reports as the bot user's (BotUserID).
	User string
}

// Plain is the message as a person would read it: the text of its blocks (or its text when it
// has none), Slack's &amp; escapes undone.
func (m Message) Plain() string {
	if len(m.Blocks) > 0 && string(m.Blocks) != "null" {
		if s := PlainBlocks(m.Blocks); s != "" {
			return s
		}
	}
	return html.UnescapeString(m.Text)
}

// Buttons are the message's buttons.
func (m Message) Buttons() []Button { return BlocksButtons(m.Blocks) }

// Button is a button element found in blocks.
type Button struct {
	ActionID, BlockID, Text, Value, URL, Style string
}

// View is a modal or home view opened, updated or published through the API.
type View struct {
	ID, Hash   string
	Method     string // views.open, views.update, views.publish
	TriggerID  string // views.open
	UserID     string // views.publish
	CallbackID string
	Metadata   string
	Type       string
	JSON       json.RawMessage // the view as sent
}

// Call is one API call as received.
type Call struct {
	Method string
	Token  string
	Form   url.Values
	JSON   json.RawMessage
	Status int
}

type channel struct {
	id, name  string
	notMember bool // the bot has not been invited
}

// Workspace is the fake workspace's name and id, as auth.test reports them.
const (
	Team   = "Contoso"
	TeamID = "T0ELEVATE1"
)

// DefaultScopes are the bot token's scopes unless SetScopes says otherwise: what Elevate's
// manifest asks for.
var DefaultScopes = []string{"commands", "chat:write", "im:write", "users:read", "users:read.email", "files:write", "channels:read", "groups:read",
	"channels:history", "groups:history", "im:history"}

type responseURL struct {
	user, channel string
	original      string // ts of the message whose button made it, if any
	uses          int
}

// Server is the fake. Create it with New; Close it when done.
type Server struct {
	srv *httptest.Server

	mu        sync.Mutex
	users     map[string]User
	channels  []channel
	msgs      []*Message
	views     []View
	files     []*File
	calls     []Call
	throttle  map[string][]string // method → Retry-After values of 429s still to answer
	fail      map[string][]string // method → Slack errors still to answer
	responses map[string]*responseURL
	seq       int
	scopes    []string         // granted to the bot token
	down      bool             // every Web API call answers 503 (an outage)
	lose      []lost           // calls still to carry out without answering
	now       func() time.Time // the workspace's clock, for message timestamps
	lastTS    int64            // the last ts given, in microseconds: ts only grow
	watch     func(Message)

	sockMu  sync.Mutex
	sock    *websocket.Conn
	sockOK  chan struct{}
	acks    map[string]chan json.RawMessage
	closing chan struct{}
}

// New starts a fake workspace.
func New() *Server {
	s := &Server{users: map[string]User{}, throttle: map[string][]string{}, fail: map[string][]string{}, now: time.Now,
		responses: map[string]*responseURL{}, acks: map[string]chan json.RawMessage{}, scopes: slices.Clone(DefaultScopes),
		sockOK: make(chan struct{}), closing: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.api)
	mux.HandleFunc("/response/", s.respond)
	mux.HandleFunc("/upload/", s.upload)
	mux.HandleFunc("/socket", s.socket)
	s.srv = httptest.NewServer(mux)
	return s
}

// Close stops the server and its WebSocket.
func (s *Server) Close() {
	close(s.closing)
	s.sockMu.Lock()
	if s.sock != nil {
		s.sock.Close()
	}
	s.sockMu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// OnMessage makes the fake call f with a copy of every message as it is posted or updated, in
// the order the fake takes them (load tests time what people see without polling). f runs while
// the fake's lock is held: it must return quickly and must not call the Server.
func (s *Server) OnMessage(f func(Message)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watch = f
}

// changed tells the OnMessage watcher of m; s.mu is held.
func (s *Server) changed(m *Message) {
	if s.watch != nil {
		s.watch(*m)
	}
}

// APIURL is what to give slack.OptionAPIURL (with its trailing slash).
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// AddUser adds a workspace member.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// AddChannel adds a channel the bot is a member of.
func (s *Server) AddChannel(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels = append(s.channels, channel{id: id, name: strings.TrimPrefix(name, "#")})
}

// RemoveChannel deletes a channel: posting to it answers channel_not_found, as for a channel
// that does not exist (yet).
func (s *Server) RemoveChannel(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels = slices.DeleteFunc(s.channels, func(c channel) bool { return c.id == id })
}

// Outage makes every Web API call answer HTTP 503 (Slack is down, nothing is carried out) until
// it is called with false.
func (s *Server) Outage(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// lost is a call to carry out without answering.
type lost struct{ method, channel string }

// LoseAnswer makes the next call of method to channel (an id or name; "" for any) be carried
// out but its answer lost: the connection is cut before the answer is written, as a timeout or
// a reset after Slack acted would. Each call of LoseAnswer loses one answer.
func (s *Server) LoseAnswer(method, channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose = append(s.lose, lost{method, channel})
}

// SetClock sets the workspace's clock, from which message timestamps (ts) are made; time.Now
// by default. Timestamps still only grow, as Slack's do within a channel.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Invite adds the bot to a channel it was not a member of (AddOtherChannel), as a member
// inviting it would. The member_joined_channel event that Slack then sends is the caller's to
// deliver (MemberJoined).
func (s *Server) Invite(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.channels {
		if s.channels[i].id == id {
			s.channels[i].notMember = false
		}
	}
}

// PostAsMember posts text in channel (an id or name) as the member user, with metadata if not
// nil, as a member's own app or user token can: history reports it with the member's user id
// and no bot_id. It returns the message's ts.
func (s *Server) PostAsMember(user, channel, text string, metadata json.RawMessage) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &Message{Channel: s.channelID(channel), Text: text, Metadata: metadata, From: user, Via: "member"}
	m.Seq = len(s.msgs) + 1
	m.TS = s.ts()
	s.msgs = append(s.msgs, m)
	s.changed(m)
	return m.TS
}

// BotUserID is the bot's own user id, as auth.test reports it.
const BotUserID = "U0ELEVATE1"

// BotID is the bot's id, as auth.test reports it and messages the bot posted carry.
const BotID = "B0ELEVATE1"

// MemberJoined is the Events API envelope (event_callback) Slack sends when user joins channel,
// as the Events API and Socket Mode deliver it.
func MemberJoined(eventID, user, channel, inviter string) map[string]any {
	return map[string]any{"token": "legacy", "team_id": TeamID, "api_app_id": "A1", "type": "event_callback",
		"event_id": eventID, "event_time": time.Now().Unix(),
		"event": map[string]any{"type": "member_joined_channel", "user": user, "channel": channel, "channel_type": "C",
			"team": TeamID, "inviter": inviter, "event_ts": fmt.Sprintf("%d.000100", time.Now().Unix())}}
}

// AddOtherChannel adds a public channel the bot has not been invited to.
func (s *Server) AddOtherChannel(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels = append(s.channels, channel{id: id, name: strings.TrimPrefix(name, "#"), notMember: true})
}

// SetScopes sets the scopes granted to the bot token (auth.test's x-oauth-scopes; methods
// that need a scope it lacks answer missing_scope).
func (s *Server) SetScopes(scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scopes = slices.Clone(scopes)
}

// ChannelID resolves a channel name ("#x" or "x") or id to its id; "" if unknown.
func (s *Server) ChannelID(nameOrID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channelID(nameOrID)
}

func (s *Server) channelID(v string) string {
	if strings.HasPrefix(v, "D") {
		if _, ok := s.users[strings.TrimPrefix(v, "D")]; ok {
			return v
		}
	}
	for _, c := range s.channels {
		if c.id == v || c.name == strings.TrimPrefix(v, "#") {
			return c.id
		}
	}
	return ""
}

// DMChannel is the id of the direct message channel between the bot and user.
func DMChannel(user string) string { return "D" + user }

// Throttle makes the next len(retryAfter) calls of method answer 429 with those Retry-After
// values (in seconds, e.g. "0" or "1").
func (s *Server) Throttle(method string, retryAfter ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle[method] = append(s.throttle[method], retryAfter...)
}

// Fail makes the next calls of method answer {"ok":false,"error":e}, one per error given.
func (s *Server) Fail(method string, errs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[method] = append(s.fail[method], errs...)
}

// ResponseURL issues a response_url for an interaction of user in channel (original is the ts
// of the message the interaction came from, if any).
func (s *Server) ResponseURL(user, channel, original string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := strconv.Itoa(s.seq)
	s.responses[id] = &responseURL{user: user, channel: channel, original: original}
	return s.srv.URL + "/response/" + id
}

// Messages returns a copy of every message, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = *m
	}
	return out
}

// Private returns what user saw privately: their DM channel and ephemeral messages, oldest first.
func (s *Server) Private(user string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if (m.Ephemeral && m.User == user) || (!m.Ephemeral && m.Channel == DMChannel(user)) {
			out = append(out, m)
		}
	}
	return out
}

// InChannel returns the messages everyone in channel (name or id) sees, oldest first.
func (s *Server) InChannel(nameOrID string) []Message {
	id := s.ChannelID(nameOrID)
	var out []Message
	for _, m := range s.Messages() {
		if !m.Ephemeral && m.Channel == id && id != "" {
			out = append(out, m)
		}
	}
	return out
}

// Views returns every view call, oldest first.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.views)
}

// Files returns a copy of every file, in the order their uploads were announced.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]File, len(s.files))
	for i, f := range s.files {
		out[i] = *f
		out[i].Data = bytes.Clone(f.Data)
	}
	return out
}

// Calls returns every API call, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallCount counts the calls of method that succeeded (HTTP 200).
func (s *Server) CallCount(method string) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Method == method && c.Status == http.StatusOK {
			n++
		}
	}
	return n
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	c := Call{Method: method, Status: http.StatusOK}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		c.JSON = body
	} else {
		c.Form, _ = url.ParseQuery(string(body))
		c.Token = c.Form.Get("token")
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		c.Token = tok
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.calls = append(s.calls, c) }()
	if s.down {
		c.Status = http.StatusServiceUnavailable
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	if ra := s.throttle[method]; len(ra) > 0 {
		s.throttle[method] = ra[1:]
		c.Status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", ra[0])
		http.Error(w, "ratelimited", http.StatusTooManyRequests)
		return
	}
	want := BotToken
	if method == "apps.connections.open" {
		want = AppToken
	}
	if c.Token != want {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	if e := s.fail[method]; len(e) > 0 {
		s.fail[method] = e[1:]
		writeJSON(w, map[string]any{"ok": false, "error": e[0]})
		return
	}
	if method == "auth.test" {
		// Slack lists the token's scopes in a header on every Web API answer; auth.test is
		// where clients read it.
		w.Header().Set("X-OAuth-Scopes", strings.Join(s.scopes, ","))
	}
	need := neededScopes[method]
	if method == "conversations.history" {
		need = []string{historyScope(c.Form.Get("channel"))}
	}
	if len(need) > 0 && !slices.ContainsFunc(need, func(n string) bool { return slices.Contains(s.scopes, n) }) {
		writeJSON(w, map[string]any{"ok": false, "error": "missing_scope", "needed": strings.Join(need, ","), "provided": strings.Join(s.scopes, ",")})
		return
	}
	res, err := s.method(method, c)
	if err != nil {
		writeJSON(w, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	if i := slices.IndexFunc(s.lose, func(l lost) bool {
		return l.method == method && (l.channel == "" || s.channelID(l.channel) == s.channelID(cmp.Or(c.Form.Get("channel"), c.Form.Get("channel_id"))))
	}); i >= 0 {
		// Carried out, but the answer never arrives: cut the connection.
		s.lose = slices.Delete(s.lose, i, i+1)
		c.Status = 0
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		http.Error(w, "connection lost", http.StatusBadGateway)
		return
	}
	res["ok"] = true
	writeJSON(w, res)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// ts is a new message timestamp: the workspace clock's time in microseconds, unique and growing.
func (s *Server) ts() string {
	s.seq++
	us := max(s.now().UnixMicro(), s.lastTS+1)
	s.lastTS = us
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

// neededScopes are the scopes a method needs (any one of them), per Slack's method reference.
// conversations.history needs the one for the conversation's type (historyScope).
var neededScopes = map[string][]string{
	"conversations.info": {"channels:read", "groups:read", "im:read", "mpim:read"},
	"conversations.list": {"channels:read", "groups:read", "im:read", "mpim:read"},
}

// historyScope is the scope conversations.history needs for a conversation: channels:history
// for a public channel, groups:history for a private one, im:history for a direct message.
func historyScope(channel string) string {
	switch {
	case strings.HasPrefix(channel, "D"):
		return "im:history"
	case strings.HasPrefix(channel, "G"):
		return "groups:history"
	}
	return "channels:history"
}

func channelJSON(c channel) map[string]any {
	return map[string]any{"id": c.id, "name": c.name, "is_channel": true, "is_group": false, "is_im": false,
		"is_private": false, "is_archived": false, "is_member": !c.notMember, "created": 1700000000}
}

// method answers one API method; s.mu is held.
func (s *Server) method(method string, c Call) (map[string]any, error) {
	f := c.Form
	switch method {
	case "auth.test":
		return map[string]any{"url": "https://contoso.slack.com/", "team": Team, "user": "elevate", "team_id": TeamID,
			"user_id": BotUserID, "bot_id": BotID, "is_enterprise_install": false}, nil
	case "conversations.info":
		id := f.Get("channel")
		for _, ch := range s.channels {
			if ch.id == id {
				return map[string]any{"channel": channelJSON(ch)}, nil
			}
		}
		return nil, errors.New("channel_not_found")
	case "conversations.list":
		var out []any
		for _, ch := range s.channels {
			out = append(out, channelJSON(ch))
		}
		return map[string]any{"channels": out, "response_metadata": map[string]any{"next_cursor": ""}}, nil
	case "chat.postMessage", "chat.postEphemeral":
		ch := s.channelID(f.Get("channel"))
		if ch == "" {
			return nil, errors.New("channel_not_found")
		}
		if slices.ContainsFunc(s.channels, func(c channel) bool { return c.id == ch && c.notMember }) {
			return nil, errors.New("not_in_channel")
		}
		m := &Message{Seq: len(s.msgs) + 1, Channel: ch, Text: f.Get("text"), Blocks: json.RawMessage(f.Get("blocks")), Via: method}
		if err := checkBlocks(m.Blocks); err != nil {
			return nil, err
		}
		if md := f.Get("metadata"); md != "" && method == "chat.postMessage" {
			var v struct {
				EventType    string         `json:"event_type"`
				EventPayload map[string]any `json:"event_payload"`
			}
			if json.Unmarshal([]byte(md), &v) != nil {
				return nil, errors.New("invalid_metadata_format")
			}
			if v.EventType == "" || v.EventPayload == nil {
				return nil, errors.New("invalid_metadata_schema")
			}
			m.Metadata = json.RawMessage(md)
		}
		if method == "chat.postEphemeral" {
			u := f.Get("user")
			if _, ok := s.users[u]; !ok {
				return nil, errors.New("user_not_found")
			}
			m.Ephemeral, m.User = true, u
			s.msgs = append(s.msgs, m)
			s.changed(m)
			return map[string]any{"message_ts": s.ts()}, nil
		}
		m.TS = s.ts()
		s.msgs = append(s.msgs, m)
		s.changed(m)
		return map[string]any{"channel": ch, "ts": m.TS, "message": map[string]any{"text": m.Text, "ts": m.TS}}, nil
	case "chat.update":
		ch := s.channelID(f.Get("channel"))
		for _, m := range s.msgs {
			if m.Channel == ch && m.TS == f.Get("ts") && ch != "" {
				if m.From != "" {
					return nil, errors.New("cant_update_message") // a member's: the bot changes only its own
				}
				blocks := json.RawMessage(f.Get("blocks"))
				if err := checkBlocks(blocks); err != nil {
					return nil, err
				}
				m.Text, m.Blocks = f.Get("text"), blocks
				m.Updates++
				s.changed(m)
				return map[string]any{"channel": ch, "ts": m.TS, "text": m.Text}, nil
			}
		}
		return nil, errors.New("message_not_found")
	case "conversations.history":
		return s.history(f)
	case "conversations.open":
		u := f.Get("users")
		if _, ok := s.users[u]; !ok || strings.Contains(u, ",") {
			return nil, errors.New("user_not_found")
		}
		return map[string]any{"channel": map[string]any{"id": DMChannel(u)}}, nil
	case "users.info":
		u, ok := s.users[f.Get("user")]
		if !ok {
			return nil, errors.New("user_not_found")
		}
		return map[string]any{"user": map[string]any{"id": u.ID, "name": u.Name, "real_name": u.Name,
			"is_email_confirmed": u.Email != "" && !u.Unconfirmed, "profile": map[string]any{"email": u.Email, "real_name": u.Name, "display_name": u.Name}}}, nil
	case "users.lookupByEmail":
		email := strings.TrimSpace(f.Get("email"))
		if email == "" {
			return nil, errors.New("invalid_arguments")
		}
		for _, u := range s.users {
			if u.Email != "" && strings.EqualFold(u.Email, email) && !u.Deleted && !u.Bot {
				return map[string]any{"user": map[string]any{"id": u.ID, "name": u.Name, "real_name": u.Name,
					"profile": map[string]any{"email": u.Email, "real_name": u.Name, "display_name": u.Name}}}, nil
			}
		}
		return nil, errors.New("users_not_found")
	case "files.getUploadURLExternal":
		n, err := strconv.Atoi(f.Get("length"))
		if f.Get("filename") == "" || err != nil || n <= 0 {
			return nil, errors.New("invalid_arguments")
		}
		s.seq++
		file := &File{ID: "F" + strconv.Itoa(s.seq), Name: f.Get("filename"), AltText: f.Get("alt_txt"), Length: n}
		s.files = append(s.files, file)
		return map[string]any{"file_id": file.ID, "upload_url": s.srv.URL + "/upload/" + file.ID}, nil
	case "files.completeUploadExternal":
		var want []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		if err := json.Unmarshal([]byte(f.Get("files")), &want); err != nil || len(want) == 0 {
			return nil, errors.New("invalid_arguments")
		}
		ch := ""
		if id := f.Get("channel_id"); id != "" {
			if ch = s.channelID(id); ch == "" {
				return nil, errors.New("channel_not_found")
			}
		}
		var files []*File
		for _, w := range want {
			i := slices.IndexFunc(s.files, func(x *File) bool { return x.ID == w.ID })
			if i < 0 || s.files[i].Complete {
				return nil, errors.New("file_not_found")
			}
			if len(s.files[i].Data) != s.files[i].Length {
				return nil, errors.New("file_upload_size_mismatch")
			}
			files = append(files, s.files[i])
		}
		thread := f.Get("thread_ts")
		if thread != "" && !slices.ContainsFunc(s.msgs, func(m *Message) bool { return m.Channel == ch && m.TS == thread }) {
			return nil, errors.New("invalid_thread_ts")
		}
		seq := 0
		if ch != "" {
			m := &Message{Seq: len(s.msgs) + 1, Channel: ch, TS: s.ts(), ThreadTS: thread, Text: f.Get("initial_comment"),
				Blocks: json.RawMessage(f.Get("blocks")), Via: method}
			for _, x := range files {
				m.Files = append(m.Files, x.ID)
			}
			s.msgs = append(s.msgs, m)
			s.changed(m)
			seq = m.Seq
		}
		var out []map[string]any
		for i, x := range files {
			x.Complete, x.Title, x.Channel, x.ThreadTS, x.Comment, x.Message = true, want[i].Title, ch, thread, f.Get("initial_comment"), seq
			out = append(out, map[string]any{"id": x.ID, "title": x.Title})
		}
		return map[string]any{"files": out}, nil
	case "views.open", "views.publish", "views.update":
		var req struct {
			TriggerID string          `json:"trigger_id"`
			UserID    string          `json:"user_id"`
			ViewID    string          `json:"view_id"`
			Hash      string          `json:"hash"`
			View      json.RawMessage `json:"view"`
		}
		if err := json.Unmarshal(c.JSON, &req); err != nil {
			return nil, errors.New("invalid_json")
		}
		var v struct {
			Type            string          `json:"type"`
			CallbackID      string          `json:"callback_id"`
			PrivateMetadata string          `json:"private_metadata"`
			Blocks          json.RawMessage `json:"blocks"`
		}
		if err := json.Unmarshal(req.View, &v); err != nil {
			return nil, errors.New("invalid_arguments")
		}
		if err := checkBlocksMax(v.Blocks, maxViewBlocks); err != nil {
			return nil, err
		}
		view := View{Method: method, TriggerID: req.TriggerID, UserID: req.UserID, CallbackID: v.CallbackID,
			Metadata: v.PrivateMetadata, Type: v.Type, JSON: req.View}
		switch method {
		case "views.open":
			if req.TriggerID == "" {
				return nil, errors.New("invalid_trigger_id")
			}
			s.seq++
			view.ID = "V" + strconv.Itoa(s.seq)
		case "views.publish":
			if _, ok := s.users[req.UserID]; !ok {
				return nil, errors.New("user_not_found")
			}
			view.ID = "VH" + req.UserID
		case "views.update":
			found := false
			for _, old := range s.views {
				if old.ID == req.ViewID {
					found = true
					view.TriggerID = old.TriggerID
				}
			}
			if !found {
				return nil, errors.New("not_found")
			}
			view.ID = req.ViewID
		}
		s.seq++
		view.Hash = "h" + strconv.Itoa(s.seq)
		s.views = append(s.views, view)
		return map[string]any{"view": map[string]any{"id": view.ID, "hash": view.Hash, "type": v.Type, "callback_id": v.CallbackID}}, nil
	case "apps.connections.open":
		return map[string]any{"url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/socket"}, nil
	}
	return nil, errors.New("unknown_method")
}

// history answers conversations.history as Slack does: the conversation's messages (ephemeral
// ones never), newest first, within oldest and latest (exclusive unless inclusive), at most
// limit (default 100, at most 999) per page, the next page's cursor in
// response_metadata.next_cursor; metadata only with include_all_metadata; a file share with its
// files[] (upload: true). The bot must be a
// member of the channel (not_in_channel). s.mu is held.
func (s *Server) history(f url.Values) (map[string]any, error) {
	ch := s.channelID(f.Get("channel"))
	if ch == "" || ch != f.Get("channel") {
		return nil, errors.New("channel_not_found")
	}
	if slices.ContainsFunc(s.channels, func(c channel) bool { return c.id == ch && c.notMember }) {
		return nil, errors.New("not_in_channel")
	}
	limit := 100
	if v := f.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, errors.New("invalid_limit")
		}
		limit = min(n, 999)
	}
	inclusive := f.Get("inclusive") == "1" || f.Get("inclusive") == "true"
	oldest, latest := f.Get("oldest"), f.Get("latest")
	within := func(ts string) bool {
		if oldest != "" && (tsLess(ts, oldest) || (!inclusive && ts == oldest)) {
			return false
		}
		if latest != "" && (tsLess(latest, ts) || (!inclusive && ts == latest)) {
			return false
		}
		return true
	}
	var all []*Message
	for i := len(s.msgs) - 1; i >= 0; i-- { // newest first
		if m := s.msgs[i]; !m.Ephemeral && m.Channel == ch && m.TS != "" && m.ThreadTS == "" && within(m.TS) {
			all = append(all, m)
		}
	}
	from := 0
	if cur := f.Get("cursor"); cur != "" {
		b, err := base64.StdEncoding.DecodeString(cur)
		n, cerr := strconv.Atoi(strings.TrimPrefix(string(b), "next_ts:"))
		if err != nil || cerr != nil || n < 0 || n > len(all) {
			return nil, errors.New("invalid_cursor")
		}
		from = n
	}
	page := all[from:min(from+limit, len(all))]
	meta := f.Get("include_all_metadata") == "1" || f.Get("include_all_metadata") == "true"
	out := []any{}
	for _, m := range page {
		x := map[string]any{"type": "message", "ts": m.TS, "text": m.Text, "bot_id": BotID, "user": BotUserID, "app_id": "A1"}
		if m.From != "" {
			x = map[string]any{"type": "message", "ts": m.TS, "text": m.Text, "user": m.From}
		}
		if len(m.Blocks) > 0 && string(m.Blocks) != "null" {
			x["blocks"] = m.Blocks
		}
		if meta && len(m.Metadata) > 0 {
			x["metadata"] = m.Metadata
		}
		if len(m.Files) > 0 {
			// A file share (files.completeUploadExternal) is a message with the files' objects;
			// each file says who uploaded it.
			var fs []any
			for _, id := range m.Files {
				if i := slices.IndexFunc(s.files, func(f *File) bool { return f.ID == id }); i >= 0 {
					fs = append(fs, s.fileJSON(s.files[i]))
				}
			}
			x["files"], x["upload"], x["display_as_bot"] = fs, true, false
		}
		out = append(out, x)
	}
	next := ""
	if from+len(page) < len(all) {
		next = base64.StdEncoding.EncodeToString([]byte("next_ts:" + strconv.Itoa(from+len(page))))
	}
	return map[string]any{"messages": out, "has_more": next != "", "pin_count": 0,
		"response_metadata": map[string]any{"next_cursor": next}}, nil
}

// fileJSON is f as Slack's file object shows it in a message.
func (s *Server) fileJSON(f *File) map[string]any {
	user := cmp.Or(f.User, BotUserID)
	return map[string]any{"id": f.ID, "created": 1700000000, "timestamp": 1700000000, "name": f.Name, "title": f.Title,
		"mimetype": mime.TypeByExtension(path.Ext(f.Name)), "filetype": strings.TrimPrefix(path.Ext(f.Name), "."),
		"user": user, "size": len(f.Data), "mode": "hosted", "is_external": false, "is_public": true,
		"alt_txt": f.AltText, "permalink": s.srv.URL + "/files/" + user + "/" + f.ID + "/" + f.Name}
}

// PostFileAsMember shares a file named name (title, data) in channel (an id or name) as the
// member user, as a member's own upload would: history shows a message from that member whose
// file is theirs. It returns the message's ts.
func (s *Server) PostFileAsMember(user, channel, name, title string, data []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	f := &File{ID: "F" + strconv.Itoa(s.seq), Name: name, Title: title, Length: len(data), Data: bytes.Clone(data),
		Complete: true, Channel: s.channelID(channel), User: user}
	s.files = append(s.files, f)
	m := &Message{Seq: len(s.msgs) + 1, Channel: f.Channel, From: user, Via: "member", Files: []string{f.ID}}
	m.TS = s.ts()
	f.Message = m.Seq
	s.msgs = append(s.msgs, m)
	s.changed(m)
	return m.TS
}

// tsLess orders two Slack timestamps ("seconds.micros").
func tsLess(a, b string) bool {
	x, _ := strconv.ParseFloat(a, 64)
	y, _ := strconv.ParseFloat(b, 64)
	if x != y {
		return x < y
	}
	return a < b
}

// checkBlocks enforces Slack's limits that Elevate must keep: at most 50 blocks, section text
// at most 3000 characters, at most 10 fields a section of at most 2000 characters each, header
// text at most 150, button text at most 75, button values at most 2000.
func checkBlocks(raw json.RawMessage) error { return checkBlocksMax(raw, maxMessageBlocks) }

// Slack's block counts: a message holds at most 50 blocks; a modal or a Home tab, 100.
const (
	maxMessageBlocks = 50
	maxViewBlocks    = 100
)

// checkBlocksMax is checkBlocks with at most limit blocks.
func checkBlocksMax(raw json.RawMessage, limit int) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var blocks []map[string]any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return errors.New("invalid_blocks_format")
	}
	if len(blocks) > limit {
		return errors.New("invalid_blocks")
	}
	for _, b := range blocks {
		if t, ok := b["text"].(map[string]any); ok {
			s, _ := t["text"].(string)
			if n := len([]rune(s)); n > 3000 || (b["type"] == "header" && n > 150) {
				return errors.New("invalid_blocks")
			}
		}
		if fs, ok := b["fields"].([]any); ok {
			if len(fs) > 10 {
				return errors.New("invalid_blocks")
			}
			for _, f := range fs {
				t, _ := f.(map[string]any)
				if s, _ := t["text"].(string); len([]rune(s)) > 2000 {
					return errors.New("invalid_blocks")
				}
			}
		}
		for _, e := range elements(b) {
			if e["type"] != "button" {
				continue
			}
			t, _ := e["text"].(map[string]any)
			if s, _ := t["text"].(string); len([]rune(s)) > 75 {
				return errors.New("invalid_blocks")
			}
			if v, _ := e["value"].(string); len(v) > 2000 {
				return errors.New("invalid_blocks")
			}
		}
	}
	return nil
}

func elements(b map[string]any) []map[string]any {
	var out []map[string]any
	if els, ok := b["elements"].([]any); ok {
		for _, e := range els {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	if acc, ok := b["accessory"].(map[string]any); ok {
		out = append(out, acc)
	}
	return out
}

// PlainBlocks is the readable text of Block Kit blocks: headers, sections and their fields,
// context elements and button labels, one line each.
func PlainBlocks(raw json.RawMessage) string {
	var blocks []map[string]any
	if json.Unmarshal(raw, &blocks) != nil {
		return ""
	}
	var lines []string
	text := func(v any) {
		if t, ok := v.(map[string]any); ok {
			if s, _ := t["text"].(string); s != "" {
				lines = append(lines, html.UnescapeString(s))
			}
		}
	}
	for _, b := range blocks {
		text(b["text"])
		if fs, ok := b["fields"].([]any); ok {
			for _, f := range fs {
				text(f)
			}
		}
		if lbl, ok := b["label"]; ok {
			text(lbl)
		}
		for _, e := range elements(b) {
			switch e["type"] {
			case "button":
				t, _ := e["text"].(map[string]any)
				s, _ := t["text"].(string)
				lines = append(lines, "["+s+"]")
			case "mrkdwn", "plain_text":
				text(e)
			}
		}
	}
	return strings.Join(lines, "\n")
}

// BlocksButtons lists the buttons in blocks, in order.
func BlocksButtons(raw json.RawMessage) []Button {
	var blocks []map[string]any
	if json.Unmarshal(raw, &blocks) != nil {
		return nil
	}
	var out []Button
	for _, b := range blocks {
		bid, _ := b["block_id"].(string)
		for _, e := range elements(b) {
			if e["type"] != "button" {
				continue
			}
			var btn Button
			btn.BlockID = bid
			btn.ActionID, _ = e["action_id"].(string)
			btn.Value, _ = e["value"].(string)
			btn.URL, _ = e["url"].(string)
			btn.Style, _ = e["style"].(string)
			if t, ok := e["text"].(map[string]any); ok {
				btn.Text, _ = t["text"].(string)
			}
			out = append(out, btn)
		}
	}
	return out
}

// upload takes a file posted to an upload URL from files.getUploadURLExternal: multipart, the
// bytes in the field "file", the bot token as a Bearer header. Like Slack it answers in plain
// text ("OK - <bytes>").
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	c := Call{Method: "upload", Status: http.StatusOK}
	c.Token, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	fail := func(status int, msg string) {
		c.Status = status
		http.Error(w, msg, status)
	}
	var data []byte
	mr, err := r.MultipartReader()
	if err == nil {
		for {
			p, perr := mr.NextPart()
			if perr != nil {
				break
			}
			if p.FormName() == "file" {
				data, err = io.ReadAll(io.LimitReader(p, 50<<20))
			}
			p.Close()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.calls = append(s.calls, c) }()
	i := slices.IndexFunc(s.files, func(f *File) bool { return f.ID == id })
	switch {
	case i < 0 || s.files[i].Complete:
		fail(http.StatusNotFound, "not found")
	case c.Token != BotToken:
		fail(http.StatusUnauthorized, "invalid_auth")
	case err != nil || data == nil:
		fail(http.StatusBadRequest, "no file")
	default:
		s.files[i].Data = data
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "OK - %d", len(data))
	}
}

// respond takes a response_url post: an ephemeral message to the interacting user, or a
// replacement of the message the interaction came from.
func (s *Server) respond(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/response/")
	var body struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Call{Method: "response_url", Status: http.StatusOK}
	defer func() { s.calls = append(s.calls, c) }()
	ru, ok := s.responses[id]
	if !ok || ru.uses >= 5 {
		c.Status = http.StatusNotFound
		http.Error(w, "expired_url", http.StatusNotFound)
		return
	}
	if err := checkBlocks(body.Blocks); err != nil {
		c.Status = http.StatusBadRequest
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ru.uses++
	if body.ReplaceOriginal && ru.original != "" {
		for _, m := range s.msgs {
			if m.Channel == ru.channel && m.TS == ru.original {
				m.Text, m.Blocks = body.Text, body.Blocks
				m.Updates++
				s.changed(m)
			}
		}
	} else {
		s.msgs = append(s.msgs, &Message{Seq: len(s.msgs) + 1, Channel: ru.channel, Ephemeral: body.ResponseType != "in_channel",
			User: ru.user, Text: body.Text, Blocks: body.Blocks, Via: "response_url", Response: id, Original: ru.original})
		if body.ResponseType == "in_channel" {
			s.msgs[len(s.msgs)-1].TS = s.ts()
		}
		s.changed(s.msgs[len(s.msgs)-1])
	}
	writeJSON(w, map[string]any{"ok": true})
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// socket serves Socket Mode's WebSocket: hello, pings, envelopes out and acks in.
func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.sockMu.Lock()
	if s.sock != nil {
		s.sock.Close()
	}
	s.sock = conn
	_ = conn.WriteJSON(map[string]any{"type": "hello", "num_connections": 1, "connection_info": map[string]any{"app_id": "A1"}})
	select {
	case <-s.sockOK:
	default:
		close(s.sockOK)
	}
	s.sockMu.Unlock()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-s.closing:
				return
			case <-t.C:
				s.sockMu.Lock()
				err := conn.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
				s.sockMu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(data, &ack) != nil {
			continue
		}
		s.sockMu.Lock()
		ch := s.acks[ack.EnvelopeID]
		delete(s.acks, ack.EnvelopeID)
		s.sockMu.Unlock()
		if ch != nil {
			ch <- ack.Payload
		}
	}
}

// WaitSocket waits until a Socket Mode client has connected.
func (s *Server) WaitSocket(ctx context.Context) error {
	select {
	case <-s.sockOK:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Deliver sends a Socket Mode envelope of type typ ("slash_commands", "interactive",
// "events_api") carrying payload, and returns the client's ack payload (nil when it acked
// without one).
func (s *Server) Deliver(ctx context.Context, typ string, payload any) (json.RawMessage, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("env-%d", s.seq)
	s.mu.Unlock()
	ch := make(chan json.RawMessage, 1)
	s.sockMu.Lock()
	if s.sock == nil {
		s.sockMu.Unlock()
		return nil, errors.New("slacktest: no socket mode client connected")
	}
	s.acks[id] = ch
	err = s.sock.WriteJSON(map[string]any{"envelope_id": id, "type": typ, "payload": json.RawMessage(raw),
		"accepts_response_payload": typ != "events_api", "retry_attempt": 0, "retry_reason": ""})
	s.sockMu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case p := <-ch:
		if bytes.Equal(p, []byte("null")) {
			p = nil
		}
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
