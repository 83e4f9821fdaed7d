package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serve starts the HTTP listeners and returns a function that shuts them down. Listening
// happens before Run returns from setup, so a bad address is an error at start.
func (a *Agent) serve(ctx context.Context) (func(), error) {
	muxes := map[string]*http.ServeMux{}
	mux := func(addr string) *http.ServeMux {
		if muxes[addr] == nil {
			muxes[addr] = http.NewServeMux()
		}
		return muxes[addr]
	}
	if a.opts.HTTPAddr != "" {
		m := mux(a.opts.HTTPAddr)
		m.HandleFunc("/hooks/git", a.handleWebhook)
		m.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		m.HandleFunc("/readyz", a.handleReady)
		m.HandleFunc("/api/status", a.handleAPIStatus)
		m.HandleFunc("/", a.handleStatusPage)
	}
	if a.opts.MetricsAddr != "" {
		mux(a.opts.MetricsAddr).Handle("/metrics", promhttp.HandlerFor(a.metrics.registry, promhttp.HandlerOpts{}))
	}
	var servers []*http.Server
	for addr, m := range muxes {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return nil, fmt.Errorf("agent: listen on %s: %w", addr, err)
		}
		s := &http.Server{Handler: m, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
		servers = append(servers, s)
		go func() {
			if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("http server stopped", "addr", addr, "error", err.Error())
			}
		}()
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(ctx)
		}
	}, nil
}

func (a *Agent) handleReady(w http.ResponseWriter, _ *http.Request) {
	if !a.ready.Load() {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// handleWebhook answers POST /hooks/git: a push with a valid signature (GitHub, Gitea) or
// token (GitLab) for the agent's branch makes every environment sync at once. A bad signature
// or token (401), a body over MaxWebhookBody (413) and an authenticated body that is not JSON
// (400) are refused and logged, without the body; other branches and GitLab's other events
// are answered 200 and ignored.
func (a *Agent) handleWebhook(w http.ResponseWriter, r *http.Request) {
	if len(a.opts.WebhookSecret) == 0 {
		http.Error(w, "webhook disabled: no secret configured", http.StatusNotFound)
		return
	}
	p, status, err := readWebhook(r, a.opts.WebhookSecret)
	if err != nil {
		a.log.Warn("webhook refused", "remote", r.RemoteAddr, "status", status, "reason", err.Error())
		http.Error(w, err.Error(), status)
		return
	}
	if p.Ignored != "" {
		fmt.Fprintf(w, "ignored: %s\n", p.Ignored)
		return
	}
	if p.Ref != "" && p.Ref != "refs/heads/"+a.opts.Source.Branch {
		fmt.Fprintf(w, "ignored: push to %s, not %s\n", p.Ref, a.opts.Source.Branch)
		return
	}
	t := a.currentTerm()
	if t == nil {
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintln(w, "not the leader: the leader's schedule will pick the change up")
		return
	}
	t.triggerAll(TriggerWebhook)
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintln(w, "sync triggered")
}
