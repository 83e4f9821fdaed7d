package agent

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// runElected campaigns for the Lease until ctx ends, leading whenever elected. On ctx's end
// the lease is released, so a follower takes over within its retry period rather than after
// the lease expires. A lost lease cancels the term and campaigning starts again.
func (a *Agent) runElected(ctx context.Context) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: a.opts.LeaseName, Namespace: a.opts.Namespace},
		Client:     a.kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: a.opts.Identity},
	}
	for ctx.Err() == nil {
		done := make(chan struct{})
		var started atomic.Bool
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock:            lock,
			Name:            a.opts.LeaseName,
			LeaseDuration:   a.opts.LeaseDuration,
			RenewDeadline:   a.opts.RenewDeadline,
			RetryPeriod:     a.opts.RetryPeriod,
			ReleaseOnCancel: true,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					started.Store(true)
					defer close(done)
					a.log.Info("leading", "identity", a.opts.Identity, "lease", a.opts.Namespace+"/"+a.opts.LeaseName)
					a.lead(ctx)
				},
				OnStoppedLeading: func() {
					a.log.Info("stopped leading", "identity", a.opts.Identity)
				},
				OnNewLeader: func(id string) {
					if id != a.opts.Identity {
						a.log.Info("following", "leader", id)
					}
				},
			},
		})
		if started.Load() { // RunOrDie does not wait for the term: do, so terms never overlap
			select {
			case <-done:
			case <-time.After(a.opts.ShutdownGrace):
				a.log.Error("term did not stop in time", "grace", a.opts.ShutdownGrace.String())
			}
		}
	}
}

// ensureNamespace creates ferry's namespace when it is missing: the Lease and the state live there.
func (a *Agent) ensureNamespace(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: a.opts.Namespace}}
	_, err := a.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: "ferry"})
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		return fmt.Errorf("agent: namespace %s: %w", a.opts.Namespace, err)
	}
	return nil
}

func defaultIdentity() string {
	host, _ := os.Hostname()
	return host + "-" + rand.String(5)
}
