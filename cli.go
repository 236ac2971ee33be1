package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Exit statuses, as Go's own tools use them: 0 success (and help asked for), 1 failure (a bad
// config, `check` finding something missing, a runtime error), 2 a usage error (an unknown
// command or flag, a missing argument).
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// usageError is a command line Elevate cannot run as written: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitStatus is the process's exit status for what run returned. Help (-h, --help) was printed
// already and is a success.
func exitStatus(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	}
	return exitFail
}

// parseFlags parses a subcommand's flags: help goes to stdout and is flag.ErrHelp (exit 0), a
// bad flag is reported on stderr with the usage and is a usage error (exit 2).
func parseFlags(fs *flag.FlagSet, args []string, synopsis string, stdout, stderr io.Writer) error {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: elevate %s\n", synopsis)
		if hasFlags(fs) {
			fmt.Fprintln(fs.Output(), "\nflags:")
			fs.PrintDefaults()
		}
	}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		_, _ = stdout.Write(buf.Bytes())
		return flag.ErrHelp
	}
	// flag has written the error and the usage into buf; the error is returned to be printed
	// once, by main.
	_, usage, _ := strings.Cut(buf.String(), "\n")
	_, _ = io.WriteString(stderr, usage)
	return &usageError{err.Error()}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// logLevel reads a log level: debug, info, warn or error (slog's names, any case).
func logLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: use debug, info, warn or error", s)
	}
	return l, nil
}
