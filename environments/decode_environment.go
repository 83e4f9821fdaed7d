package environments

import (
	"fmt"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This file maps ferry.yaml's keys to the fields of Pipeline, Environment, Promotion, Rollout
// and Stage. The keys here are the whole schema: anything else is an unknown field.

func (d decoder) environments(n *yaml.Node, path string) []Environment {
	var envs []Environment
	d.sequence(n, path, func(_ int, n *yaml.Node, path string) {
		envs = append(envs, d.environment(n, path))
	})
	return envs
}

// environment always returns an environment, even when n is not a mapping, so that the
// index of every environment matches its position in the file.
func (d decoder) environment(n *yaml.Node, path string) Environment {
	var e Environment
	applyDefaults(&e)
	d.mapping(n, path, fields{
		"name":          d.setString(&e.Name),
		"path":          d.setString(&e.Path),
		"namespace":     d.setString(&e.Namespace),
		"schedule":      d.setString(&e.Schedule),
		"prune":         d.setBool(&e.Prune),
		"allowEmpty":    d.setBool(&e.AllowEmpty),
		"clusterScoped": d.setStrings(&e.ClusterScoped),
		"pin": func(n *yaml.Node, path string) {
			d.setString(&e.Pin)(n, path)
			e.PinPosition = position(n)
		},
		"promotion":  func(n *yaml.Node, path string) { e.Promotion = d.promotion(n, path) },
		"rollout":    func(n *yaml.Node, path string) { e.Rollout = d.rollout(n, path) },
		"windows":    func(n *yaml.Node, path string) { e.Windows = d.windows(n, path, false) },
		"decryption": func(n *yaml.Node, path string) { e.Decryption = d.decryption(n, path) },
		"secrets":    d.setString((*string)(&e.Secrets)),
	})
	return e
}

func (d decoder) decryption(n *yaml.Node, path string) *Decryption {
	dc := &Decryption{}
	applyDefaults(dc)
	if !d.mapping(n, path, fields{
		"provider":   d.setString(&dc.Provider),
		"recipients": d.setStrings(&dc.Recipients),
	}) {
		return nil
	}
	return dc
}

func (d decoder) promotion(n *yaml.Node, path string) *Promotion {
	pr := &Promotion{}
	applyDefaults(pr)
	if !d.mapping(n, path, fields{
		"from":   d.setString(&pr.From),
		"mode":   d.setString((*string)(&pr.Mode)),
		"images": d.setStrings(&pr.Images),
		"auto":   d.setBool(&pr.Auto),
		"after":  d.setDuration(&pr.After),
	}) {
		return nil
	}
	return pr
}

func (d decoder) rollout(n *yaml.Node, path string) *Rollout {
	ro := &Rollout{}
	applyDefaults(ro)
	if !d.mapping(n, path, fields{
		"stages":    func(n *yaml.Node, path string) { ro.Stages = d.stages(n, path) },
		"onFailure": d.setString((*string)(&ro.OnFailure)),
		"timeout":   d.setDuration(&ro.Timeout),
	}) {
		return nil
	}
	return ro
}

func (d decoder) stages(n *yaml.Node, path string) []Stage {
	var stages []Stage
	d.sequence(n, path, func(_ int, n *yaml.Node, path string) {
		s := Stage{Position: position(n)}
		d.mapping(n, path, fields{
			"name": d.setString(&s.Name),
			"selector": func(n *yaml.Node, path string) {
				s.Selector, s.Position = d.selector(n, path), position(n)
			},
			"soak":     d.setDuration(&s.Soak),
			"analysis": func(n *yaml.Node, path string) { s.Analysis = d.analysis(n, path) },
			"approval": d.setString(&s.Approval),
		})
		stages = append(stages, s)
	})
	return stages
}

// selector decodes a Kubernetes label selector, as in a Deployment's spec.selector. When any
// part of it fails to decode, the whole selector counts as failed: what remains of it would
// only produce misleading errors, such as that it selects nothing.
func (d decoder) selector(n *yaml.Node, path string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{}
	errs := len(d.errs)
	if !d.mapping(n, path, fields{
		"matchLabels":      func(n *yaml.Node, path string) { s.MatchLabels = d.stringMap(n, path) },
		"matchExpressions": func(n *yaml.Node, path string) { s.MatchExpressions = d.requirements(n, path) },
	}) {
		return nil
	}
	if len(d.errs) > errs {
		d.failed[path] = true
	}
	return s
}

func (d decoder) requirements(n *yaml.Node, path string) []metav1.LabelSelectorRequirement {
	var reqs []metav1.LabelSelectorRequirement
	d.sequence(n, path, func(_ int, n *yaml.Node, path string) {
		var r metav1.LabelSelectorRequirement
		d.mapping(n, path, fields{
			"key":      d.setString(&r.Key),
			"operator": d.setString((*string)(&r.Operator)),
			"values":   d.setStrings(&r.Values),
		})
		reqs = append(reqs, r)
	})
	return reqs
}

func (d decoder) analysis(n *yaml.Node, path string) *Analysis {
	a := &Analysis{}
	applyDefaults(a)
	if !d.mapping(n, path, fields{
		"interval":     d.setDuration(&a.Interval),
		"failureLimit": d.setInt(&a.FailureLimit),
		"checks": func(n *yaml.Node, path string) {
			d.sequence(n, path, func(_ int, n *yaml.Node, path string) { a.Checks = append(a.Checks, d.check(n, path)) })
		},
	}) {
		return nil
	}
	return a
}

func (d decoder) check(n *yaml.Node, path string) Check {
	var c Check
	d.mapping(n, path, fields{
		"name": d.setString(&c.Name),
		"prometheus": func(n *yaml.Node, path string) {
			p := &PrometheusCheck{}
			if d.mapping(n, path, fields{"address": d.setString(&p.Address), "query": d.setString(&p.Query)}) {
				c.Prometheus = p
			}
		},
		"webhook": func(n *yaml.Node, path string) {
			w := &WebhookCheck{}
			applyDefaults(w)
			if d.mapping(n, path, fields{"url": d.setString(&w.URL), "timeout": d.setDuration(&w.Timeout)}) {
				c.Webhook = w
			}
		},
		"min": d.setFloat(&c.Min),
		"max": d.setFloat(&c.Max),
	})
	return c
}

// position returns "ferry.yaml:LINE:COL" of n.
func position(n *yaml.Node) string {
	return fmt.Sprintf("%s:%d:%d", FileName, n.Line, n.Column)
}
