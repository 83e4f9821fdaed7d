package localcluster

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/procgroup"
)

// FailingPodLabel on a pod template makes kwok run its pods without ever becoming ready and then
// fail them (kwok's pod-container-running-failed chaos stage): the unhealthy release of tests.
const FailingPodLabel = "pod-container-running-failed.stage.kwok.x-k8s.io"

// failingPodStage moves pods carrying FailingPodLabel from Pending to Running without becoming
// ready, outweighing kwok's fast pod-ready stage, so that kwok's chaos stage then fails them.
//
//go:embed stages/pod-running-not-ready.yaml
var failingPodStage []byte

// kwokNodeAnnotation marks the nodes kwok manages.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// startWorkloads starts kube-controller-manager, kube-scheduler and kwok, creates the fake
// nodes and waits until they are Ready and the default ServiceAccount exists, which shows the
// controllers are working.
func (c *Cluster) startWorkloads(ctx context.Context, opts Options, certs *pki) error {
	kcm, err := c.startControllerManager(opts.BinDir, certs)
	if err != nil {
		return err
	}
	if _, err := c.startScheduler(opts.BinDir); err != nil {
		return err
	}
	kwok, err := c.startKwok(opts.BinDir)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return fmt.Errorf("workloads: client: %w", err)
	}
	for i := range opts.Nodes {
		if err := createNode(ctx, client, fmt.Sprintf("kwok-node-%d", i)); err != nil {
			return err
		}
	}
	nodesReady := func(ctx context.Context) bool { return readyNodes(ctx, client) >= opts.Nodes }
	if err := waitFor(ctx, kwok, "managing Ready nodes", nodesReady); err != nil {
		return err
	}
	saExists := func(ctx context.Context) bool {
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}
	return waitFor(ctx, kcm, "creating the default ServiceAccount", saExists)
}

// startControllerManager runs every controller but nodeipam: the fake nodes have no pod CIDRs
// to allocate, and the node lifecycle controller must run or new nodes keep their not-ready
// taint and pods stay Pending.
func (c *Cluster) startControllerManager(binDir string, certs *pki) (*procgroup.Process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return c.run("kube-controller-manager", filepath.Join(binDir, "kube-controller-manager"),
		"--kubeconfig="+c.KubeconfigPath,
		"--authentication-kubeconfig="+c.KubeconfigPath,
		"--authorization-kubeconfig="+c.KubeconfigPath,
		"--controllers=*,-nodeipam",
		// kwok renews the fake nodes' leases from the same two busy cores as everything else; a
		// late renewal must not mark a node NotReady and every pod on it unready mid-test. 3m
		// was not enough: an e2e rollout saw every pod of its node go NodeNotReady at once (and
		// the node Ready again a moment later) while the machine was loaded, so fake nodes are
		// given half an hour.
		"--node-monitor-grace-period=30m",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(c.dir, "kcm-certs"),
		"--service-account-private-key-file="+certs.SAKey,
		"--root-ca-file="+certs.CACert,
		"--use-service-account-credentials=false",
		"--kube-api-qps=100", "--kube-api-burst=200",
	)
}

func (c *Cluster) startScheduler(binDir string) (*procgroup.Process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return c.run("kube-scheduler", filepath.Join(binDir, "kube-scheduler"),
		"--kubeconfig="+c.KubeconfigPath,
		"--authentication-kubeconfig="+c.KubeconfigPath,
		"--authorization-kubeconfig="+c.KubeconfigPath,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(c.dir, "scheduler-certs"),
	)
}

// startKwok runs kwok with the stage files build.sh copied from the kwok module (fast node and
// pod lifecycles, lease heartbeats, the chaos stage) plus failingPodStage.
func (c *Cluster) startKwok(binDir string) (*procgroup.Process, error) {
	stages, err := filepath.Glob(filepath.Join(stageDir(binDir), "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("kwok: list stages: %w", err)
	}
	own := filepath.Join(c.dir, "kwok-pod-running-not-ready.yaml")
	if err := os.WriteFile(own, failingPodStage, 0o600); err != nil {
		return nil, fmt.Errorf("kwok: write stage: %w", err)
	}
	args := []string{
		"--kubeconfig=" + c.KubeconfigPath,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
		"--cidr=10.244.0.0/16",
		"--node-ip=10.0.0.1",
	}
	for _, s := range append(stages, own) {
		args = append(args, "--config="+s)
	}
	return c.run("kwok", filepath.Join(binDir, "kwok"), args...)
}

// createNode registers a fake node that kwok manages. It has no taint, so ordinary pods
// schedule on it without tolerations.
func createNode(ctx context.Context, client kubernetes.Interface, name string) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("250"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{kwokNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"type": "kwok", "kubernetes.io/hostname": name,
				"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	_, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("node %s: create: %w", name, err)
	}
	return nil
}

// readyNodes counts nodes with condition Ready=True and no not-ready taint left.
func readyNodes(ctx context.Context, client kubernetes.Interface) int {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0
	}
	n := 0
	for _, node := range nodes.Items {
		if nodeReady(&node) {
			n++
		}
	}
	return n
}

func nodeReady(node *corev1.Node) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
