// Package localprom runs a real Prometheus server, built by `make controlplane` from the Go
// module proxy (github.com/prometheus/prometheus/cmd/prometheus), for ferry's analysis tests and
// its demo: it scrapes the targets it is given and answers the HTTP query API. Traffic plays an
// application's request counters for it to scrape, since kwok's pods serve nothing.
package localprom

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-cd/ferry/internal/localgitea"
	"github.com/ferry-cd/ferry/internal/procgroup"
)

// Version is the Prometheus version build.sh builds.
const Version = "v0.316.0"

const (
	readyTimeout = time.Minute
	stopGrace    = 5 * time.Second
)

// Options say what a Prometheus scrapes and how often.
type Options struct {
	// Targets are the host:port addresses scraped at /metrics, as one job "app".
	Targets []string
	// ScrapeInterval is how often each target is scraped (and rules evaluated).
	ScrapeInterval time.Duration
}

// DefaultOptions scrape nothing, every second: tests want a changed counter to show quickly.
func DefaultOptions() Options { return Options{ScrapeInterval: time.Second} }

// Server is a running Prometheus on 127.0.0.1.
type Server struct {
	URL    string // base URL of the HTTP API, e.g. http://127.0.0.1:41234
	Dir    string // work folder: configuration, data and logs
	LogDir string
	// StartTime is how long Start took until /-/ready answered.
	StartTime time.Duration

	proc *procgroup.Process
}

// Binary returns where build.sh puts the prometheus binary (beside the control plane's).
func Binary() string { return filepath.Join(localgitea.BinDir(), "prometheus") }

// Start runs a fresh Prometheus in a temporary folder with opts and waits until it is ready.
// Stop it with Stop; on error nothing is left running.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	bin := Binary()
	if info, err := os.Stat(bin); err != nil || info.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("%s is not built; run make controlplane", bin)
	}
	started := time.Now()
	dir, err := os.MkdirTemp("", "ferry-prometheus-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, LogDir: filepath.Join(dir, "log")}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w (log: %s)", err, procgroup.LogTail(filepath.Join(s.LogDir, "prometheus.log"), 20))
			_ = s.Stop()
		}
	}()
	if err := os.MkdirAll(s.LogDir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(config(opts)), 0o644); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		err = s.start(ctx, bin, conf)
		if err == nil || attempt == 3 || !strings.Contains(procgroup.LogTail(s.proc.LogPath, 30), "address already in use") {
			break
		}
		s.proc.Stop(0) // the free port was taken before Prometheus bound it: try another
	}
	if err != nil {
		return nil, err
	}
	s.StartTime = time.Since(started)
	return s, nil
}

// start starts the process on a free port and waits until it is ready.
func (s *Server) start(ctx context.Context, bin, conf string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s.URL = "http://" + addr
	cmd := exec.Command(bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(s.Dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	s.proc, err = procgroup.Start("prometheus", cmd, s.LogDir)
	if err != nil {
		return err
	}
	return s.waitReady(ctx)
}

// config returns prometheus.yml for opts.
func config(opts Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n", opts.ScrapeInterval, opts.ScrapeInterval)
	b.WriteString("scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [")
	for i, t := range opts.Targets {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", t)
	}
	b.WriteString("]\n")
	return b.String()
}

// waitReady polls /-/ready until it answers 200, the process exits, or readyTimeout passes.
func (s *Server) waitReady(ctx context.Context) error {
	return s.proc.WaitHTTP(ctx, s.URL+"/-/ready", "ready", readyTimeout)
}

// Stop ends the server's process group and removes its work folder.
func (s *Server) Stop() error {
	if s.proc != nil {
		s.proc.Stop(stopGrace)
	}
	return os.RemoveAll(s.Dir)
}

// Kill stops the server at once and leaves its folder: a test of what a rollout sees when
// Prometheus is down.
func (s *Server) Kill() {
	if s.proc != nil {
		s.proc.Stop(0)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
