package agent

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

// controls are the operators' controls of the environments (sync.Control: what `ferry
// suspend`, `resume`, `retry` and `approve` write into the state ConfigMaps with their own
// credentials), as the term's watch of those ConfigMaps last saw them.
type controls struct {
	mu    gosync.Mutex
	byEnv map[string]sync.Control
}

// errSuspended is why a health wait or a rollout in progress was cancelled.
var errSuspended = errors.New("the environment was suspended")

// watchControls watches the state ConfigMaps of ferry's namespace for the term, and acts on
// each change of an environment's controls within seconds (setControl). The watch is one LIST
// and one WATCH for the term (client-go's reflector, which re-opens the WATCH when the API
// server ends it), never a request per sync; its cache keeps only the controls of each
// ConfigMap (sync.ControlOnly), not the inventories. It returns once the watch has listed the
// ConfigMaps, so that the term's first syncs see a suspension, or false when ctx ended first.
func (t *term) watchControls(ctx context.Context) bool {
	cms := t.a.kube.CoreV1().ConfigMaps(t.a.opts.Namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sync.StateLabel
			return cms.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sync.StateLabel
			return cms.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{})
	_ = inf.SetTransform(sync.ControlOnly) // fails only once the informer runs
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { t.controlSeen(obj, false) },
		UpdateFunc: func(_, obj any) { t.controlSeen(obj, false) },
		DeleteFunc: func(obj any) { t.controlSeen(obj, true) },
	})
	go inf.RunWithContext(ctx)
	return cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
}

// controlSeen records the controls of a state ConfigMap the watch delivered; a deleted one
// holds none.
func (t *term) controlSeen(obj any, deleted bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return
	}
	env, c, ok, err := sync.ControlOf(cm)
	if !ok {
		return
	}
	if err != nil {
		t.a.log.Warn("cannot read the operators' controls", "env", env, "error", err.Error())
		return
	}
	if deleted {
		c = sync.Control{}
	}
	t.setControl(env, c)
}

// setControl records env's controls and acts on what changed: a suspension cancels the health
// wait or rollout in progress (its progress stays in the state, and it resumes after resume),
// a resume and a new retry request poke the worker. Each suspension and resume is logged once.
func (t *term) setControl(env string, c sync.Control) {
	t.ctl.mu.Lock()
	old := t.ctl.byEnv[env]
	t.ctl.byEnv[env] = c
	t.ctl.mu.Unlock()
	if !t.a.selected(env) {
		return
	}
	t.mu.Lock()
	w := t.workers[env]
	t.mu.Unlock()
	switch {
	case c.Suspended != nil && old.Suspended == nil:
		t.a.log.Warn("environment suspended", "env", env, "by", c.Suspended.By, "reason", c.Suspended.Reason,
			"since", c.Suspended.At)
		if w != nil {
			go w.endWait(errSuspended)
		}
	case c.Suspended == nil && old.Suspended != nil:
		by := ""
		if c.Resumed != nil {
			by = c.Resumed.By
		}
		t.a.log.Info("environment resumed", "env", env, "by", by)
		if w != nil {
			w.poke(TriggerResume)
		}
	}
	if c.Retry != nil && (old.Retry == nil || !old.Retry.At.Equal(c.Retry.At)) && w != nil {
		w.poke(TriggerRetry)
	}
	if w != nil {
		t.a.metrics.setSuspended(env, c.Suspended != nil)
	}
}

// controlOf returns env's controls as the watch last saw them (none before the watch listed).
func (t *term) controlOf(env string) sync.Control {
	t.ctl.mu.Lock()
	defer t.ctl.mu.Unlock()
	return t.ctl.byEnv[env]
}

// suspended reports whether an operator suspended the worker's environment (`ferry suspend`):
// it is then neither synced nor corrected for drift.
func (w *worker) suspended() bool { return w.t.controlOf(w.env).Suspended != nil }

// retryOf returns the `ferry retry` request of st that asks to roll out revision again and has
// not been honoured yet (nil when none): each request is honoured once (Progress.RetriedAt).
func retryOf(st *sync.State, revision string) *sync.Request {
	req := st.Control.Retry
	if req == nil || req.Revision != revision || req.At.Equal(st.Progress.RetriedAt) {
		return nil
	}
	return req
}

// retryRollout honours req, a `ferry retry` of revision, whose rollout halted: it records in the
// agent's own progress that req was honoured and that revision is no longer halted (a second
// halt of it then holds the environment again instead of retrying in a loop), and starts the
// rollout again from its first stage. Its lines say trigger=retry, whatever woke the worker.
func (w *worker) retryRollout(ctx context.Context, env *environments.Environment, res render.Result, revision string, req *sync.Request) bool {
	err := w.t.syncer.SaveProgress(ctx, env.Name, func(s *sync.State) {
		s.Progress = sync.Progress{RetriedAt: req.At}
	})
	if err != nil {
		w.fail(ctx, revision, TriggerRetry, &sync.Error{Phase: sync.PhaseState, Err: err})
		return false
	}
	w.setHeld("")
	w.t.a.log.Info("retrying the halted rollout", "env", env.Name, "revision", short(revision), "by", req.By,
		"trigger", string(TriggerRetry))
	w.event(ctx, "Normal", "RolloutRetried", fmt.Sprintf("rollout of %s started again from its first stage at the request of %s", short(revision), req.By))
	w.startRollout(ctx, TriggerRetry, env, res, revision, sync.Progress{})
	return true
}
