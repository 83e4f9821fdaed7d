package localprom

import (
	"errors"
	"net"
	"net/http"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Traffic plays an application's request traffic for Prometheus to scrape: an HTTP server whose
// /metrics exposes the counter http_requests_total{namespace,track,code}, which grows at the
// rates set with SetRate. kwok's pods run no containers, so tests and the demo stand in for the
// application's own metrics this way.
type Traffic struct {
	Addr string // host:port of /metrics, a Prometheus target

	srv   *http.Server
	total *prometheus.CounterVec
	stop  chan struct{} // closed by Close
	done  chan struct{}

	mu    gosync.Mutex
	rates map[series]float64 // requests per second
}

type series struct{ namespace, track, code string }

// tick is how often the counters grow by rate × tick.
const tick = 100 * time.Millisecond

// StartTraffic serves /metrics on a free loopback port until Close.
func StartTraffic() (*Traffic, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	t := &Traffic{Addr: l.Addr().String(), rates: map[series]float64{}, done: make(chan struct{}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests served, played by ferry's tests.",
		}, []string{"namespace", "track", "code"})}
	reg.MustRegister(t.total)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := t.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err) // Serve on a fresh listener fails only on a broken machine
		}
	}()
	t.stop = make(chan struct{})
	go t.run()
	return t, nil
}

// SetRate makes http_requests_total{namespace,track,code} grow by perSecond requests per
// second from now on (0 stops it growing; the series stays).
func (t *Traffic) SetRate(namespace, track, code string, perSecond float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := series{namespace, track, code}
	t.rates[s] = perSecond
	t.total.WithLabelValues(namespace, track, code).Add(0) // the series exists from now on
}

func (t *Traffic) run() {
	defer close(t.done)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tk.C:
		}
		t.mu.Lock()
		for s, r := range t.rates {
			t.total.WithLabelValues(s.namespace, s.track, s.code).Add(r * tick.Seconds())
		}
		t.mu.Unlock()
	}
}

// Close stops the traffic and its server.
func (t *Traffic) Close() error {
	close(t.stop)
	<-t.done
	return t.srv.Close()
}
