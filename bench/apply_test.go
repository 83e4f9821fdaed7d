package bench

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

// benchFirstSync is scenario 1: a first sync into a fresh namespace, ferry (a fresh Syncer,
// as a newly started agent has) against `kubectl apply --server-side -f` of the same YAML.
// ferry's wall time is split: the apply (what kubectl does) and the whole sync, which also
// waits until the Deployments are healthy.
func benchFirstSync(t *testing.T, reps int, tp template, tab *table) {
	var fs, ks []firstSync
	for i := range reps {
		alternate(i, func() {
			fs = append(fs, ferryFirstSync(t, tp, i))
		}, func() {
			ks = append(ks, kubectlFirstSync(t, tp, i))
		})
	}
	wall := func(r firstSync) time.Duration { return r.apply.wall }
	f, k := medianTime(fs, wall), medianTime(ks, wall)
	target, ok := "—", ""
	if tp.n == 1000 {
		target, ok = "≤ 0.50×", met(float64(f) <= 0.5*float64(k))
	}
	size := strconv.Itoa(tp.n)
	cpu := func(rs []firstSync, pick func(firstSync) time.Duration) string { return seconds(medianTime(rs, pick)) }
	tab.add(row{"1. first sync: wall, apply", size, seconds(f), seconds(k), ratio(float64(f), float64(k)), target, ok,
		fmt.Sprintf("baseline: kubectl apply --server-side -f (own process, cold discovery cache); ferry in process, client "+
			"rate limit off; CPU per apply: API server + etcd %s vs %s, client %s vs %s; %d runs each",
			cpu(fs, func(r firstSync) time.Duration { return r.apply.server }), cpu(ks, func(r firstSync) time.Duration { return r.apply.server }),
			cpu(fs, func(r firstSync) time.Duration { return r.client }), cpu(ks, func(r firstSync) time.Duration { return r.client }), reps)})
	total := medianTime(fs, func(r firstSync) time.Duration { return r.total })
	tab.add(row{"1. first sync: wall, incl. health wait", size, seconds(total), seconds(k), ratio(float64(total), float64(k)), "—", "",
		"ferry waits until the Deployments are Current (kube-controller-manager's pace; polled every 2 s); kubectl does not wait"})
	fr, kr := medianOf(fs, func(r firstSync) int { return r.req.Total }), medianOf(ks, func(r firstSync) int { return r.req.Total })
	tab.add(row{"1. first sync: API requests", size, count(fr), count(kr), ratio(fr, kr), "—", "",
		fmt.Sprintf("writes: ferry %s, kubectl %s (audit log, both sides; ferry's include its health wait)",
			count(medianOf(fs, func(r firstSync) int { return r.req.Writes })), count(medianOf(ks, func(r firstSync) int { return r.req.Writes })))})
	if tp.n == 1000 {
		kubectlRSS = medianOf(ks, func(r firstSync) int64 { return r.rss })
	}
}

// firstSync is one side's measurements of one first sync.
type firstSync struct {
	apply  sample        // ferry's Apply; kubectl's whole process
	total  time.Duration // with ferry's health wait
	req    requests      // every request, ferry's health wait included
	client time.Duration // the client's own CPU time during the apply
	rss    int64         // kubectl's peak RSS, KiB
}

func ferryFirstSync(t *testing.T, tp template, i int) firstSync {
	inst := tp.instance(t, uniqueName("f", tp.n, i))
	f := newFerrySide(t, inst.env)
	defer f.stop() // an idle watch of each earlier run would only add load
	var rep *sync.Report
	var client time.Duration
	apply := measure(t, agentFerry, func() {
		cpu := selfCPU()
		var err error
		rep, err = f.syncer.Apply(t.Context(), inst.env, inst.res, "rev1")
		must(t, err)
		client = selfCPU() - cpu
	})
	health := measure(t, agentFerry, func() { must(t, f.syncer.WaitHealthy(t.Context(), rep)) })
	r := firstSync{apply: apply, total: apply.wall + health.wall, req: apply.req.plus(health.req), client: client}
	t.Logf("first sync N=%d ferry: apply %s, with health %s, %s; CPU: ferry %s, API server and etcd %s",
		tp.n, apply.wall, r.total, r.req, client, apply.server)
	settle(t, inst.env.Namespace)
	return r
}

func kubectlFirstSync(t *testing.T, tp template, i int) firstSync {
	inst := tp.instance(t, uniqueName("k", tp.n, i))
	k := kubectlApply(t, inst.yaml)
	t.Logf("first sync N=%d kubectl: %s, %s, peak RSS %s; CPU: kubectl %s, API server and etcd %s",
		tp.n, k.wall, k.req, mib(k.peakRSS), k.cpu, k.server)
	settle(t, inst.env.Namespace)
	return firstSync{apply: k.sample, total: k.wall, req: k.req, client: k.cpu, rss: k.peakRSS}
}

// medianOf returns the median of pick over rs.
func medianOf[R any, T int | int64 | time.Duration](rs []R, pick func(R) T) float64 {
	xs := make([]T, len(rs))
	for i, r := range rs {
		xs[i] = pick(r)
	}
	return median(xs)
}

// medianTime returns the median of pick over rs, as a duration.
func medianTime[R any](rs []R, pick func(R) time.Duration) time.Duration {
	return time.Duration(medianOf(rs, pick))
}

// kubectlRSS is kubectl's median peak RSS in KiB for the first apply of 1000 objects
// (scenario 1), scenario 6's reference.
var kubectlRSS float64

// steady is one environment per side, synced once already, for scenarios 2 to 4. ferry's
// Syncer keeps its drift watch between runs, as the agent does; the Flux-style side keeps
// nothing, as ssa keeps nothing.
type steady struct {
	n        int
	ferry    *ferrySide
	ferryRes render.Result // what ferry last synced
	ferryRev string
	ssa      *ssaSide
	ssaEnv   string
	ssaObjs  []*unstructured.Unstructured // what ssa last applied
}

func newSteady(t *testing.T, tp template) *steady {
	f, s := tp.instance(t, uniqueName("fs", tp.n, 0)), tp.instance(t, uniqueName("ss", tp.n, 0))
	st := &steady{n: tp.n, ferry: newFerrySide(t, f.env), ferryRes: f.res, ferryRev: "rev0",
		ssa: newSSASide(t), ssaEnv: s.env.Name, ssaObjs: s.res.Objects}
	st.ferry.sync(t, st.ferryRes, st.ferryRev)
	st.ssa.apply(t, copies(st.ssaObjs))
	settle(t, f.env.Namespace)
	settle(t, s.env.Namespace)
	st.ferry.waitWatching(t, st.ferryRes, st.ferryRev)
	return st
}

// benchNoOp is scenario 2: a sync with nothing changed in git or in the cluster.
func benchNoOp(t *testing.T, reps int, st *steady, tab *table) {
	var fs, bs []sample
	for i := range reps {
		alternate(i, func() {
			s := measure(t, agentFerry, func() {
				if rep := st.ferry.sync(t, st.ferryRes, st.ferryRev); !rep.NoOp {
					t.Errorf("no-op sync %d of %d objects was not a no-op: %v", i, st.n, rep.ChangeSet.Changed())
				}
			})
			fs = append(fs, s)
		}, func() {
			objs := copies(st.ssaObjs)
			bs = append(bs, measure(t, agentSSA, func() { st.ssa.apply(t, objs) }))
		})
	}
	logSamples(t, "no-op", st.n, fs, bs)
	addRows(tab, "2. no-op sync", st.n, fs, bs, 2, 0)
}

// benchOneChanged is scenario 3: one ConfigMap's value changed in git.
func benchOneChanged(t *testing.T, reps int, st *steady, tab *table) {
	var fs, bs []sample
	for i := range reps {
		value := fmt.Sprintf("change-%d", i)
		alternate(i, func() {
			res := result(t, changed(st.ferryRes.Objects, value))
			fs = append(fs, measure(t, agentFerry, func() { st.ferry.sync(t, res, value) }))
			st.ferryRes, st.ferryRev = res, value
			st.ferry.waitWatching(t, st.ferryRes, st.ferryRev)
		}, func() {
			st.ssaObjs = changed(st.ssaObjs, value)
			objs := copies(st.ssaObjs)
			bs = append(bs, measure(t, agentSSA, func() { st.ssa.apply(t, objs) }))
		})
	}
	logSamples(t, "one changed", st.n, fs, bs)
	addRows(tab, "3. one object changed", st.n, fs, bs, 5, -1)
}

// benchPrune is scenario 4: every tenth object removed from git. Each run puts them back
// afterwards, unmeasured. The baseline is kustomize-controller's way: ssa ApplyAllStaged of
// what is left, then ssa DeleteAll of what was removed (a GET and a DELETE each).
func benchPrune(t *testing.T, reps int, st *steady, tab *table) {
	var fs, bs []sample
	for i := range reps {
		alternate(i, func() {
			kept, removed := withoutTenth(st.ferryRes.Objects)
			res, rev := result(t, kept), fmt.Sprintf("prune-%d", i)
			fs = append(fs, measure(t, agentFerry, func() {
				if rep := st.ferry.sync(t, res, rev); rep.ChangeSet.Count(sync.Pruned) != len(removed) {
					t.Errorf("prune %d: %d pruned, want %d", i, rep.ChangeSet.Count(sync.Pruned), len(removed))
				}
			}))
			st.ferryRev = fmt.Sprintf("restore-%d", i)
			st.ferry.sync(t, st.ferryRes, st.ferryRev)
			settle(t, st.ferry.env.Namespace)
			st.ferry.waitWatching(t, st.ferryRes, st.ferryRev)
		}, func() {
			kept, removed := withoutTenth(st.ssaObjs)
			kept, gone := copies(kept), copies(removed)
			bs = append(bs, measure(t, agentSSA, func() {
				st.ssa.apply(t, kept)
				st.ssa.prune(t, gone, st.ssaEnv)
			}))
			st.ssa.apply(t, copies(removed))
			settle(t, st.ssaEnv)
		})
	}
	logSamples(t, "prune 10%", st.n, fs, bs)
	addRows(tab, "4. 10% removed (prune)", st.n, fs, bs, -1, -1)
}

func logSamples(t *testing.T, what string, n int, fs, bs []sample) {
	for i := range fs {
		t.Logf("%s N=%d run %d: ferry %s, %s; ssa %s, %s", what, n, i, fs[i].wall, fs[i].req, bs[i].wall, bs[i].req)
	}
	if len(fs) > 0 && fs[0].req.Total <= maxCalls {
		t.Logf("%s N=%d: ferry's requests in run 0:\n\t%s", what, n, strings.Join(fs[0].req.Calls, "\n\t"))
	}
}

// addRows adds the wall time, request and write rows of one scenario at one size. A negative
// target means none.
func addRows(tab *table, scenario string, n int, fs, bs []sample, maxRequests, maxWrites int) {
	size := strconv.Itoa(n)
	wall := func(s sample) time.Duration { return s.wall }
	server := func(s sample) time.Duration { return s.server }
	fw, bw := medianTime(fs, wall), medianTime(bs, wall)
	tab.add(row{scenario + ": wall", size, seconds(fw), seconds(bw), ratio(float64(fw), float64(bw)), "—", "",
		fmt.Sprintf("baseline: fluxcd/pkg/ssa, concurrency 4; API server + etcd CPU per run: ferry %s, baseline %s; %d runs each",
			seconds(medianTime(fs, server)), seconds(medianTime(bs, server)), len(fs))})
	for _, m := range []struct {
		what   string
		pick   func(sample) int
		target int
	}{
		{"API requests", func(s sample) int { return s.req.Total }, maxRequests},
		{"writes", func(s sample) int { return s.req.Writes }, maxWrites},
	} {
		fv, bv := medianOf(fs, m.pick), medianOf(bs, m.pick)
		most := 0
		for _, s := range fs {
			most = max(most, m.pick(s))
		}
		target, ok := "—", ""
		if m.target >= 0 {
			target, ok = fmt.Sprintf("≤ %d", m.target), met(most <= m.target)
		}
		tab.add(row{scenario + ": " + m.what, size, count(fv), count(bv), ratio(fv, bv), target, ok,
			fmt.Sprintf("ferry max %d (audit log, both sides)", most)})
	}
}
