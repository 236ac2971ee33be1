package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// defaultListen is serve's listen address: -listen, else ELEVATE_LISTEN, else :8080. `elevate
// health` reads the same, so a container's health check follows whatever serve was given.
func defaultListen(getenv func(string) string) string {
	if v := getenv("ELEVATE_LISTEN"); v != "" {
		return v
	}
	return ":8080"
}

// health is `elevate health [-listen ADDR] [-timeout 3s]`: GET /healthz on the local serve,
// exit 0 when it answers 200, 1 otherwise. The container image has no shell or curl; its
// HEALTHCHECK runs this.
func health(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	listen := fs.String("listen", defaultListen(os.Getenv), "serve's listen address (default $ELEVATE_LISTEN, else :8080); a wildcard host is asked on 127.0.0.1")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := parseFlags(fs, args, "health [-listen ADDR] [-timeout 3s]\n\n"+
		"Asks the local elevate serve for /healthz. Exit status: 0 healthy, 1 not, 2 usage error.", stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("health takes no arguments (got %q)", fs.Args())
	}
	u, err := healthURL(*listen)
	if err != nil {
		return usagef("-listen %q: %v", *listen, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	// No proxy: the check is of this host's own listener.
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("health: %s: %w", u, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s", u, resp.Status)
	}
	fmt.Fprintf(stdout, "ok: %s\n", u)
	return nil
}

// healthURL is /healthz on listen, with a wildcard or empty host asked on loopback.
func healthURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	if port == "" {
		return "", fmt.Errorf("no port")
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
