// Package signed sends Slack-signed requests, as Slack does, for the load and crash tests.
package signed

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Signature is Slack's v0 signature of body at timestamp ts.
func Signature(secret, ts, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	io.WriteString(m, "v0:"+ts+":"+body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// Post sends a form body to url signed with secret, as Slack sends slash commands, and returns
// the status code.
func Post(c *http.Client, url, secret, body string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", Signature(secret, ts, body))
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
