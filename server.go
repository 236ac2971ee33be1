package main

import (
	"net/http"
	"time"
)

// The public listener's limits. Chat services send small requests quickly; anything slower is a
// client holding a connection (and a goroutine) open. ReadTimeout bounds the whole request,
// headers and body: a body trickled in byte by byte is cut off instead of waiting forever (the
// handlers' MaxBytesReader bounds its size, not its pace). There is no WriteTimeout: an answer
// may wait on purpose (a request a standby forwards waits up to -forward-deadline + 10 s).
var (
	serverReadHeaderTimeout = 10 * time.Second
	serverReadTimeout       = 30 * time.Second
	serverIdleTimeout       = 2 * time.Minute
)

// serverMaxHeaderBytes bounds a request's header block (net/http's default is 1 MB); the
// largest legitimate one, a Teams activity's bearer token, is a few kilobytes.
const serverMaxHeaderBytes = 64 << 10

// publicServer is the http.Server for a listener the internet reaches.
func publicServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: serverReadHeaderTimeout,
		ReadTimeout:       serverReadTimeout,
		IdleTimeout:       serverIdleTimeout,
		MaxHeaderBytes:    serverMaxHeaderBytes,
	}
}
