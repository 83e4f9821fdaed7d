package localcluster

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// testNamespace creates a namespace of its own for t and deletes it afterwards.
func testNamespace(t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	name := strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if len(name) > 50 {
		name = name[:50]
	}
	name += "-" + rand.String(5)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

func sharedClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	client, err := kubernetes.NewForConfig(shared.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control-plane logs: %s", shared.LogDir())
		}
	})
	return client
}

func deployment(name, image string, replicas int32, podLabels map[string]string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	for k, v := range podLabels {
		labels[k] = v
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
}

// replicaSetsByImage returns each of the Deployment's ReplicaSets' ready and desired replicas
// keyed by the image of its pod template.
func replicaSetsByImage(ctx context.Context, client kubernetes.Interface, ns, app string) (map[string][2]int32, error) {
	list, err := client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil, err
	}
	out := map[string][2]int32{}
	for _, rs := range list.Items {
		out[rs.Spec.Template.Spec.Containers[0].Image] = [2]int32{rs.Status.ReadyReplicas, *rs.Spec.Replicas}
	}
	return out, nil
}

func TestDeploymentRollsOutAndRollsOver(t *testing.T) {
	client := sharedClient(t)
	ns := testNamespace(t, client)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	deploys := client.AppsV1().Deployments(ns)
	if _, err := deploys.Create(ctx, deployment("web", "gceme:1.0.0", 3, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRollout(ctx, t, client, ns, "web")

	d, err := deploys.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "gceme:2.0.0"
	if _, err := deploys.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRollout(ctx, t, client, ns, "web")

	var got map[string][2]int32
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		got, err = replicaSetsByImage(ctx, client, ns, "web")
		return err == nil && got["gceme:2.0.0"] == [2]int32{3, 3} && got["gceme:1.0.0"] == [2]int32{0, 0}, nil
	})
	if err != nil {
		t.Fatalf("want the new ReplicaSet at 3/3 ready and the old one at 0, got (ready, desired) by image %v: %v", got, err)
	}
}

// waitRollout waits until the Deployment's controller observed its latest spec and all its
// replicas are updated and available.
func waitRollout(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, name string) {
	t.Helper()
	var d *appsv1.Deployment
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var err error
		d, err = client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		want := *d.Spec.Replicas
		s := d.Status
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want &&
			s.AvailableReplicas == want && s.Replicas == want, nil
	})
	if err != nil {
		t.Fatalf("deployment %s/%s did not roll out: status %+v: %v", ns, name, d.Status, err)
	}
}

func TestFailingPodsNeverBecomeReady(t *testing.T) {
	client := sharedClient(t)
	ns := testNamespace(t, client)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// Watch every pod of the namespace from the start, so that even a moment of readiness is seen.
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	bad := deployment("broken", "gceme:bad", 2, map[string]string{FailingPodLabel: "true"})
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Observe for a while: pods must run, never be ready, and be failed by kwok's chaos stage.
	observe := time.After(15 * time.Second)
	running, failed := 0, 0
loop:
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("pod watch closed early")
			}
			pod, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				continue
			}
			if podReady(pod) {
				t.Fatalf("pod %s became ready; the failing label must keep it unready", pod.Name)
			}
			switch pod.Status.Phase {
			case corev1.PodRunning:
				running++
			case corev1.PodFailed:
				failed++
			}
		case <-observe:
			break loop
		}
	}
	if running == 0 || failed == 0 {
		t.Errorf("want pods seen Running and then Failed, saw %d running and %d failed events", running, failed)
	}
	d, err := client.AppsV1().Deployments(ns).Get(ctx, "broken", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.AvailableReplicas != 0 || deploymentAvailable(d) {
		t.Errorf("deployment must not become available: status %+v", d.Status)
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestMissingBinariesSayWhatToRun(t *testing.T) {
	_, err := Start(t.Context(), Options{BinDir: t.TempDir()})
	if err == nil {
		t.Fatal("Start with an empty bin folder succeeded")
	}
	for _, want := range []string{"make controlplane", "kube-apiserver", "etcd", "kwok-stages"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, ok := err.(*MissingBinariesError); !ok {
		t.Errorf("error is %T, want *MissingBinariesError", err)
	}
}

func TestKubeconfigWorksWithKubectl(t *testing.T) {
	client := sharedClient(t)
	ns := testNamespace(t, client)
	kubectl := func(args ...string) string {
		t.Helper()
		out, err := runKubectl(t.Context(), shared.KubeconfigPath, append([]string{"-n", ns}, args...)...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	kubectl("create", "deployment", "x", "--image=x", "--replicas=2")
	kubectl("rollout", "status", "deployment/x", "--timeout=90s")
	got := kubectl("get", "deployment", "x", "-o", "jsonpath={.status.readyReplicas}/{.spec.replicas}")
	if got != "2/2" {
		t.Errorf("kubectl get deployment x: ready/replicas = %q, want 2/2", got)
	}
}
