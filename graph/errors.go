package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Sentinels; errors.Is matches an *Error against them.
var (
	ErrNotFound             = errors.New("graph: not found")
	ErrThrottled            = errors.New("graph: throttled")
	ErrPolicyValidation     = errors.New("graph: PIM policy validation failed")
	ErrAcrsRequired         = errors.New("graph: authentication context required")
	ErrRoleAssignmentExists = errors.New("graph: role assignment exists or is pending")
	ErrForbidden            = errors.New("graph: forbidden")
	ErrUnauthorized         = errors.New("graph: unauthorized")
	ErrConflict             = errors.New("graph: conflict (already decided)")
	// ErrActiveDurationTooShort: PIM refuses to end an activation in its first minutes (about 5).
	ErrActiveDurationTooShort = errors.New("graph: activation too recent to end")
	// ErrUnavailable: Graph did not answer or answered 5xx; the write may or may not have happened.
	ErrUnavailable = errors.New("graph: unavailable")
)

// PIM error codes (reference/graph-pim.md §3.3).
const (
	CodePolicyValidation     = "RoleAssignmentRequestPolicyValidationFailed"
	CodeAcrsValidation       = "RoleAssignmentRequestAcrsValidationFailed"
	CodeRoleAssignmentExists = "RoleAssignmentExists"
	CodeActiveDurationShort  = "ActiveDurationTooShort"
	CodeAssignmentNotExists  = "RoleAssignmentDoesNotExist"
)

// Error is a failed Graph call, for the log and for the bot's decisions. Error() includes the
// status, code and request id; it never includes a token.
type Error struct {
	Status    int    // HTTP status; 0 when no response came back
	Code      string // Graph error code (the inner code when Graph wrapped JSON in an UnknownError)
	Message   string
	Rule      string // first failed PIM rule for ErrPolicyValidation: "MfaRule", "ExpirationRule", ...
	Claims    string // decoded claims JSON to request at the next sign-in (ErrAcrsRequired, 401 challenges)
	RequestID string
	// RetryAfter is what Graph asked us to wait (ErrThrottled), after the client's own retries.
	RetryAfter time.Duration

	op string // "GET users/{id}" etc., for the log
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graph: ")
	if e.op != "" {
		b.WriteString(e.op + ": ")
	}
	if e.Status != 0 {
		b.WriteString(strconv.Itoa(e.Status))
	}
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request-id " + e.RequestID + ")")
	}
	return b.String()
}

// Unwrap returns the sentinel this error is an instance of, if any.
func (e *Error) Unwrap() error { return e.kind() }

// Is reports whether target is the sentinel for e.
func (e *Error) Is(target error) bool { return target != nil && target == e.kind() }

func (e *Error) kind() error {
	switch e.Code {
	case CodePolicyValidation:
		return ErrPolicyValidation
	case CodeAcrsValidation:
		return ErrAcrsRequired
	case CodeRoleAssignmentExists:
		return ErrRoleAssignmentExists
	case CodeActiveDurationShort:
		return ErrActiveDurationTooShort
	case CodeAssignmentNotExists:
		return ErrNotFound
	case "PermissionScopeNotGranted", "Authorization_RequestDenied":
		return ErrForbidden
	case "InvalidAuthenticationToken":
		return ErrUnauthorized
	case "Request_ResourceNotFound", "ResourceNotFound":
		return ErrNotFound
	}
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return ErrThrottled
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusConflict:
		return ErrConflict
	}
	if e.Status >= 500 {
		return ErrUnavailable
	}
	return nil
}

// Rules lists every PIM rule named in a policy-validation message, in order.
func (e *Error) Rules() []string {
	return ruleRE.FindAllString(e.Message, -1)
}

var ruleRE = regexp.MustCompile(`\b[A-Z][A-Za-z]*Rule\b`)

// wrapErr turns what the SDK returned into an *Error (or passes on context and transport
// errors, wrapped with op). It never calls the SDK error's Error(): ODataError's panics when the
// body had no error message.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var od *odataerrors.ODataError
	if errors.As(err, &od) {
		e := &Error{op: op, Status: od.ResponseStatusCode}
		fromHeaders(e, od.GetResponseHeaders())
		if me := od.GetErrorEscaped(); me != nil {
			e.Code = deref(me.GetCode())
			e.Message = deref(me.GetMessage())
			if ie := me.GetInnerError(); ie != nil && e.RequestID == "" {
				e.RequestID = deref(ie.GetRequestId())
			}
		}
		interpret(e)
		return e
	}
	var ae *abstractions.ApiError
	if errors.As(err, &ae) {
		e := &Error{op: op, Status: ae.ResponseStatusCode, Message: ae.Message}
		fromHeaders(e, ae.ResponseHeaders)
		interpret(e)
		return e
	}
	// Other kiota errors (a body in a content type nobody parses) still carry the status.
	var ap abstractions.ApiErrorable
	if errors.As(err, &ap) {
		e := &Error{op: op, Status: ap.GetStatusCode(), Message: "unreadable error response"}
		fromHeaders(e, ap.GetResponseHeaders())
		interpret(e)
		return e
	}
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) {
		// The app could not get a token (wrong secret, no consent, ...): say unauthorized.
		return fmt.Errorf("graph: %s: %w: %w", op, ErrUnauthorized, err)
	}
	if errors.Is(err, context.Canceled) {
		// Our side gave up, not Graph: kept apart from ErrUnavailable, but for a write it is just
		// as unknown whether Graph made it (OutcomeUnknown); never "nothing was changed".
		return fmt.Errorf("graph: %s: %w", op, err)
	}
	// No answer (timeout, connection refused, reset): Graph is unavailable from here, and a
	// write may or may not have happened.
	return fmt.Errorf("graph: %s: %w: %w", op, ErrUnavailable, err)
}

func fromHeaders(e *Error, h *abstractions.ResponseHeaders) {
	if h == nil {
		return
	}
	first := func(k string) string {
		if v := h.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	e.RequestID = first("request-id")
	if e.RequestID == "" {
		e.RequestID = first("client-request-id")
	}
	e.RetryAfter = parseRetryAfter(first("retry-after"), time.Now())
	if e.Status == http.StatusUnauthorized {
		e.Claims = challengeClaims(h.Get("www-authenticate"))
	}
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

var challengeClaimsRE = regexp.MustCompile(`claims="([^"]+)"`)

// challengeClaims reads a CAE challenge (WWW-Authenticate: Bearer ..., claims="<base64 JSON>").
func challengeClaims(values []string) string {
	for _, v := range values {
		m := challengeClaimsRE.FindStringSubmatch(v)
		if m == nil {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(m[1]); err == nil && json.Valid(b) {
				return string(b)
			}
		}
	}
	return ""
}

// interpret digs what PIM hides in the message: JSON wrapped in an UnknownError, the failed
// rule's name, the claims to ask for.
func interpret(e *Error) {
	if e.Code == "UnknownError" || strings.HasPrefix(strings.TrimSpace(e.Message), "{") {
		if code, msg, ok := innerJSON(e.Message); ok {
			e.Code, e.Message = code, msg
		}
	}
	switch e.Code {
	case CodePolicyValidation:
		if r := ruleRE.FindString(e.Message); r != "" {
			e.Rule = r
		}
	case CodeAcrsValidation:
		e.Claims = messageClaims(e.Message)
	}
}

// innerJSON reads {"errorCode":..,"message":..}, {"code":..,"message":..} or
// {"error":{"code":..,"message":..}} from a message.
func innerJSON(s string) (code, msg string, ok bool) {
	var v struct {
		ErrorCode string `json:"errorCode"`
		Code      string `json:"code"`
		Message   string `json:"message"`
		Error     *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(strings.TrimSpace(s)), &v) != nil {
		return "", "", false
	}
	switch {
	case v.Error != nil && v.Error.Code != "":
		return v.Error.Code, v.Error.Message, true
	case v.ErrorCode != "":
		return v.ErrorCode, v.Message, true
	case v.Code != "":
		return v.Code, v.Message, true
	}
	return "", "", false
}

// messageClaims extracts the JSON object after "claims=" in a PIM message, URL-decoding it when
// PIM sent it encoded (%7B...).
func messageClaims(msg string) string {
	i := strings.Index(msg, "claims=")
	if i < 0 {
		return ""
	}
	s := strings.TrimLeft(msg[i+len("claims="):], `"' `)
	if !strings.HasPrefix(s, "{") {
		end := strings.IndexAny(s, " \t\r\n\"'&")
		if end < 0 {
			end = len(s)
		}
		dec, err := url.QueryUnescape(s[:end])
		if err != nil {
			return ""
		}
		s = dec
	}
	obj := balancedObject(s)
	if obj == "" || !json.Valid([]byte(obj)) {
		return ""
	}
	return obj
}

// balancedObject returns the JSON object at the start of s, minding strings and escapes.
func balancedObject(s string) string {
	if !strings.HasPrefix(s, "{") {
		return ""
	}
	depth, inStr, esc := 0, false, false
	for i, r := range s {
		switch {
		case esc:
			esc = false
		case inStr && r == '\\':
			esc = true
		case r == '"':
			inStr = !inStr
		case inStr:
		case r == '{':
			depth++
		case r == '}':
			depth--
			if depth == 0 {
				return s[:i+1]
			}
		}
	}
	return ""
}
