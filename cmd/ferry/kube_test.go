package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

func TestKubeAPILimit(t *testing.T) {
	cases := []struct {
		args    []string
		qps     float32
		burst   int
		refusal string
		limited bool
	}{
		{args: nil, qps: -1, burst: 0},
		{args: []string{"--kube-api-qps", "100", "--kube-api-burst", "200"}, qps: 100, burst: 200, limited: true},
		{args: []string{"--kube-api-qps", "0"}, refusal: "would stop every request"},
		{args: []string{"--kube-api-qps", "10", "--kube-api-burst", "0"}, refusal: "must be at least 1"},
	}
	for _, c := range cases {
		var f kubeFlags
		cmd := &cobra.Command{}
		f.register(cmd)
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatal(err)
		}
		cfg := &rest.Config{Host: "https://127.0.0.1:1"}
		err := f.limit(cfg)
		if c.refusal != "" {
			if err == nil || !strings.Contains(err.Error(), c.refusal) {
				t.Errorf("%v: %v, want an error with %q", c.args, err, c.refusal)
			}
			continue
		}
		if err != nil || cfg.QPS != c.qps || cfg.Burst != c.burst {
			t.Errorf("%v: qps %v burst %d err %v, want %v %d", c.args, cfg.QPS, cfg.Burst, err, c.qps, c.burst)
		}
		// What client-go builds from it: a token bucket only for a positive limit.
		cfg.GroupVersion, cfg.NegotiatedSerializer = &corev1.SchemeGroupVersion, scheme.Codecs.WithoutConversion()
		client, err := rest.RESTClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if limited := client.GetRateLimiter() != nil; limited != c.limited {
			t.Errorf("%v: client-go rate limiter present = %v, want %v", c.args, limited, c.limited)
		}
	}
}
