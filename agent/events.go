package agent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferry-cd/ferry/sync"
)

// maxEventMessage keeps Event messages within the API's limits.
const maxEventMessage = 1024

// recordEvent creates an Event about env's state ConfigMap in ferry's namespace.
func (a *Agent) recordEvent(ctx context.Context, env, kind, reason, message string) error {
	if len(message) > maxEventMessage {
		message = message[:maxEventMessage-3] + "..."
	}
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: sync.StateConfigMapName(env) + ".", Namespace: a.opts.Namespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1", Kind: "ConfigMap", Namespace: a.opts.Namespace, Name: sync.StateConfigMapName(env),
		},
		Type: kind, Reason: reason, Message: message,
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		Source:              corev1.EventSource{Component: "ferry"},
		ReportingController: "ferry.dev/agent", ReportingInstance: a.opts.Identity,
	}
	if _, err := a.kube.CoreV1().Events(a.opts.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("event %s for %s: %w", reason, env, err)
	}
	return nil
}
