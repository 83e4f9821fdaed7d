package main

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// libraryLog is where the Kubernetes libraries' own logs go: client-go's klog (a reflector
// that fails to list, leader election) and controller-runtime's logr (the client used by
// fluxcd/pkg/ssa). main points both at it once, because controller-runtime takes its logger
// only once; a command then chooses the handler behind it with use. Until then, and for
// commands that do not choose, it writes text on stderr.
var libraryLog = &switchHandler{}

// routeLibraryLogs sends klog and controller-runtime's logs to libraryLog, text on w until a
// command chooses: klog's errors and its default-verbosity messages, controller-runtime's
// warnings and errors (its info messages are noise to ferry's users).
func routeLibraryLogs(w io.Writer) {
	libraryLog.use(slog.NewTextHandler(w, nil))
	klog.SetSlogLogger(slog.New(libraryLog))
	ctrllog.SetLogger(logr.FromSlogHandler(minLevel{Handler: libraryLog, min: slog.LevelWarn}))
}

// switchHandler is a slog.Handler that hands each record to the handler chosen last.
type switchHandler struct {
	current atomic.Pointer[slog.Handler]
}

// use makes h receive the records from now on.
func (s *switchHandler) use(h slog.Handler) { s.current.Store(&h) }

func (s *switchHandler) handler() slog.Handler {
	if h := s.current.Load(); h != nil {
		return *h
	}
	return slog.DiscardHandler
}

func (s *switchHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.handler().Enabled(ctx, l)
}

func (s *switchHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.handler().Handle(ctx, r)
}

func (s *switchHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return derived{s: s, apply: func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) }}
}

func (s *switchHandler) WithGroup(name string) slog.Handler {
	return derived{s: s, apply: func(h slog.Handler) slog.Handler { return h.WithGroup(name) }}
}

// derived is a switchHandler with attributes or groups added: they are applied to the
// handler chosen at the time of each record.
type derived struct {
	s     *switchHandler
	apply func(slog.Handler) slog.Handler
}

func (d derived) Enabled(ctx context.Context, l slog.Level) bool {
	return d.s.handler().Enabled(ctx, l)
}

func (d derived) Handle(ctx context.Context, r slog.Record) error {
	return d.apply(d.s.handler()).Handle(ctx, r)
}

func (d derived) WithAttrs(attrs []slog.Attr) slog.Handler {
	return derived{s: d.s, apply: func(h slog.Handler) slog.Handler { return d.apply(h).WithAttrs(attrs) }}
}

func (d derived) WithGroup(name string) slog.Handler {
	return derived{s: d.s, apply: func(h slog.Handler) slog.Handler { return d.apply(h).WithGroup(name) }}
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{Handler: m.Handler.WithAttrs(attrs), min: m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: m.Handler.WithGroup(name), min: m.min}
}
