// Package browser plays a person's browser on the sandbox's sign-in page, for the load and crash
// benchmarks: pick the user on /sandbox/sign-in, follow the redirect to Elevate's
// /auth/callback, and confirm the chat account on Elevate's linking page when it asks.
package browser

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// SignIn signs upn in through link (a sandbox sign-in link Elevate sent) with c, which must not
// follow redirects; it says whether Elevate's callback answered 200.
func SignIn(c *http.Client, link, upn string) bool {
	u, err := url.Parse(link)
	if err != nil {
		return false
	}
	form := url.Values{"to": {u.Query().Get("to")}, "user": {upn}, "mfa": {"on"}}
	resp, err := c.PostForm(u.Scheme+"://"+u.Host+u.Path, form)
	if err != nil {
		return false
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		return false
	}
	resp, err = c.Get(loc)
	if err != nil {
		return false
	}
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	lf := linkForm.FindStringSubmatch(string(page))
	if resp.StatusCode != http.StatusOK || lf == nil {
		return resp.StatusCode == http.StatusOK
	}
	// A chat account's first sign-in: the person confirms on Elevate's page that it is theirs
	// (the form's token and the cookie the page set).
	v := url.Values{"answer": {"link"}}
	for _, in := range linkInput.FindAllStringSubmatch(string(page), -1) {
		v.Set(in[1], html.UnescapeString(in[2]))
	}
	cb, err := url.Parse(loc)
	if err != nil {
		return false
	}
	req, err := http.NewRequest(http.MethodPost, cb.Scheme+"://"+cb.Host+html.UnescapeString(lf[1]), strings.NewReader(v.Encode()))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, ck := range resp.Cookies() {
		req.AddCookie(ck)
	}
	resp, err = c.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

var (
	linkForm  = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	linkInput = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)
)
