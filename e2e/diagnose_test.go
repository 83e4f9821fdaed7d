package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// logWorkloadsOnFailure logs, when the test fails, what the cluster says about the
// Deployments and pods of namespaces and about the nodes: a rollout test that times out on a
// Deployment that is not available needs to tell a bad release from a starved fake node.
func logWorkloadsOnFailure(t *testing.T, kube kubernetes.Interface, namespaces ...string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var b strings.Builder
		for _, ns := range namespaces {
			describeWorkloads(ctx, &b, kube, ns)
		}
		if nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
			for _, n := range nodes.Items {
				fmt.Fprintf(&b, "node %s: %s\n", n.Name, conditions(n.Status.Conditions))
			}
		}
		t.Logf("cluster at the failure:\n%s", b.String())
	})
}

func describeWorkloads(ctx context.Context, b *strings.Builder, kube kubernetes.Interface, ns string) {
	deps, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(b, "%s: %v\n", ns, err)
		return
	}
	for _, d := range deps.Items {
		fmt.Fprintf(b, "deployment %s/%s gen %d/%d replicas %d ready %d available %d image %s\n", ns, d.Name,
			d.Status.ObservedGeneration, d.Generation, d.Status.Replicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas,
			d.Spec.Template.Spec.Containers[0].Image)
	}
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, p := range pods.Items {
		var conds []string
		for _, c := range p.Status.Conditions {
			conds = append(conds, fmt.Sprintf("%s=%s@%s", c.Type, c.Status, c.LastTransitionTime.Format(time.TimeOnly)))
		}
		fmt.Fprintf(b, "pod %s/%s node %s phase %s deleting %v created %s %s\n", ns, p.Name, p.Spec.NodeName, p.Status.Phase,
			p.DeletionTimestamp != nil, p.CreationTimestamp.Format(time.TimeOnly), strings.Join(conds, " "))
	}
	events, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, e := range events.Items {
		if e.Type == corev1.EventTypeWarning || strings.Contains(e.Reason, "Kill") || strings.Contains(e.Reason, "Delet") {
			fmt.Fprintf(b, "event %s %s %s: %s\n", e.LastTimestamp.Format(time.TimeOnly), e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
}

func conditions(cs []corev1.NodeCondition) string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s=%s@%s", c.Type, c.Status, c.LastTransitionTime.Format(time.TimeOnly)))
	}
	return strings.Join(out, " ")
}
