package e2e

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ferry-cd/ferry/agent"
	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/manifests"
)

// TestAgentWithTheRightsOfItsManifests installs manifests/ for real, mints a token for the
// ferry ServiceAccount, writes a kubeconfig with it and runs the agent with only those rights:
// it syncs examples/gceme. Then, with the namespace-restricted overlay applied, an environment
// that asks for a ClusterRoleBinding is refused, and the log says why.
func TestAgentWithTheRightsOfItsManifests(t *testing.T) {
	installManifests(t, manifests.Render)
	kubeconfig := serviceAccountKubeconfig(t, "ferry-system", "ferry")

	id := strings.ToLower(rand.String(5))
	files := exampleFiles(t)
	stagingNS := "rbac-staging-" + id
	files["ferry.yaml"] = strings.Replace(files["ferry.yaml"], "namespace: staging ", "namespace: "+stagingNS+" ", 1)
	srv := gitserver.Start(t, gitserver.Options{})
	srv.NewRepo(t, "config", files)
	logs := runAgent(t, kubeconfig, srv.RepoURL("config"), "staging")
	waitLog(t, logs, map[string]any{"msg": "sync finished", "env": "staging", "result": "applied", "health": "Healthy"})

	kube := adminCreatesNamespaces(t, "staging", "production") // the restricted install's namespaces exist first
	installManifests(t, manifests.RenderNamespaced)
	restricted := map[string]string{
		"ferry.yaml":             "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments:\n- name: restricted\n  path: env\n  namespace: production\n  clusterScoped: [ClusterRoleBinding]\n",
		"env/kustomization.yaml": "resources:\n- probe.yaml\n- admin.yaml\n",
		"env/probe.yaml":         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: restricted-probe\ndata:\n  k: v\n",
		"env/admin.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: restricted-admin-" + id +
			"\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n- kind: ServiceAccount\n  name: default\n  namespace: production\n",
	}
	srv.NewRepo(t, "restricted", restricted)
	logs = runAgent(t, kubeconfig, srv.RepoURL("restricted"), "restricted")
	line := waitLog(t, logs, map[string]any{"msg": "sync failed", "env": "restricted", "phase": "apply"})
	msg, _ := line["error"].(string)
	for _, want := range []string{"ClusterRoleBinding", "restricted-admin-" + id, "may not", "forbidden"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not mention %q", msg, want)
		}
	}
	t.Logf("refused as: %s", msg)
	if _, err := kube.RbacV1().ClusterRoleBindings().Get(t.Context(), "restricted-admin-"+id, metav1.GetOptions{}); err == nil {
		t.Error("the ClusterRoleBinding was created")
	}
}

// serviceAccountKubeconfig mints a token for namespace/name with the TokenRequest API and writes
// a kubeconfig holding only that token, and returns its path.
// installManifests installs, as an administrator, what each of renders renders, in order.
func installManifests(t *testing.T, renders ...func() ([]*unstructured.Unstructured, error)) {
	t.Helper()
	for _, r := range renders {
		objs, err := r()
		if err != nil {
			t.Fatal(err)
		}
		if err := manifests.Install(t.Context(), cluster.Config, objs, manifests.DefaultInstallOptions()); err != nil {
			t.Fatal(err)
		}
	}
}

// adminCreatesNamespaces creates the namespaces that do not exist yet and returns the
// administrator's client that did.
func adminCreatesNamespaces(t *testing.T, names ...string) kubernetes.Interface {
	t.Helper()
	kube, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range names {
		_, err := kube.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	return kube
}

func serviceAccountKubeconfig(t *testing.T, namespace, name string) string {
	t.Helper()
	kube, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	expiry := int64(3600)
	tr, err := kube.CoreV1().ServiceAccounts(namespace).CreateToken(t.Context(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: cluster.Config.Host, CertificateAuthority: cluster.Config.CAFile}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: name}
	cfg.CurrentContext = "local"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// runAgent runs an agent for env with the kubeconfig at path until the test ends, logging JSON
// into the returned buffer.
func runAgent(t *testing.T, kubeconfig, repoURL, env string) *syncBuffer {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	opts := agent.DefaultOptions()
	opts.Source.URL, opts.Source.CacheDir = repoURL, t.TempDir()
	opts.Environments, opts.Namespace = []string{env}, "ferry-system"
	opts.LeaderElection = false
	opts.Sync.PollInterval, opts.Sync.HealthTimeout = 500*time.Millisecond, time.Minute
	opts.MinBackoff, opts.MaxBackoff = 500*time.Millisecond, 2*time.Second
	opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	a, err := agent.New(rest.CopyConfig(cfg), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return logs
}

// waitLog waits up to two minutes for an agent log line with the fields of want.
func waitLog(t *testing.T, logs *syncBuffer, want map[string]any) map[string]any {
	t.Helper()
	return logs.WaitLine(t, want, 2*time.Minute)
}

// syncBuffer is an agent's JSON log.
type syncBuffer = testutil.LogBuffer
