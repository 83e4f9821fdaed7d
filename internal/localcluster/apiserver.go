package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ferry-cd/ferry/internal/procgroup"
)

// startEtcd starts a single-member etcd on two free loopback ports and returns its client URL
// once /health answers. fsync is off: the data is thrown away with the cluster.
func (c *Cluster) startEtcd(ctx context.Context, binDir string) (string, error) {
	clientPort, err := freePort()
	if err != nil {
		return "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return "", err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := c.run("etcd", filepath.Join(binDir, "etcd"),
		"--name=default",
		"--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync=true",
		"--quota-backend-bytes=8589934592",
	)
	if err != nil {
		return "", err
	}
	healthy := func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"health":"true"`)
	}
	return clientURL, waitFor(ctx, p, "healthy", healthy)
}

// startAPIServer starts kube-apiserver with RBAC on a free loopback port, writes the admin
// kubeconfig and waits for /readyz. The endpoint reconciler is off because the kubernetes
// Service cannot point at a loopback address. extra flags come last.
func (c *Cluster) startAPIServer(ctx context.Context, binDir string, extra []string, certs *pki, etcdURL string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.apiserverArgs = []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(c.dir, "apiserver-certs"),
		"--tls-cert-file=" + certs.ServingCert,
		"--tls-private-key-file=" + certs.ServingKey,
		"--client-ca-file=" + certs.CACert,
		"--service-account-key-file=" + certs.SAPub,
		"--service-account-signing-key-file=" + certs.SAKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=Node,RBAC",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
	}
	c.apiserverArgs = append(c.apiserverArgs, extra...)
	c.apiserverBin = filepath.Join(binDir, "kube-apiserver")
	p, err := c.run("kube-apiserver", c.apiserverBin, c.apiserverArgs...)
	if err != nil {
		return err
	}
	c.Config = &rest.Config{
		Host: "https://127.0.0.1:" + strconv.Itoa(port),
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: certs.CACert, CertFile: certs.AdminCert, KeyFile: certs.AdminKey,
		},
		QPS: 200, Burst: 400,
	}
	if err := c.writeKubeconfig(certs); err != nil {
		return err
	}
	return c.waitAPIServer(ctx, p)
}

// waitAPIServer waits until kube-apiserver p answers /readyz with ok.
func (c *Cluster) waitAPIServer(ctx context.Context, p *procgroup.Process) error {
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return fmt.Errorf("kube-apiserver: client: %w", err)
	}
	ready := func(ctx context.Context) bool {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok"
	}
	return waitFor(ctx, p, "ready", ready)
}

// RestartAPIServer stops kube-apiserver (SIGTERM, then SIGKILL after Options.StopGrace) and
// starts it again with the same flags: same port, certificates and etcd, so that clients and
// kubeconfigs keep working once it is back. etcd and the other programs keep running, as in a
// rolling control-plane upgrade. It returns once /readyz answers ok; the error carries the
// program's log tail.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	i := slices.IndexFunc(c.procs, func(p *procgroup.Process) bool { return p.Name == "kube-apiserver" })
	if c.stopped || i < 0 {
		c.mu.Unlock()
		return errors.New("kube-apiserver: not running")
	}
	old := c.procs[i]
	c.mu.Unlock()
	old.Stop(c.grace)
	p, err := procgroup.Start("kube-apiserver", exec.Command(c.apiserverBin, c.apiserverArgs...), c.logDir)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs[i] = p // Stop stops it in the same order as before
	c.mu.Unlock()
	return c.waitAPIServer(ctx, p)
}

// writeKubeconfig writes DIR/kubeconfig for the admin user with context "ferry-local".
func (c *Cluster) writeKubeconfig(certs *pki) error {
	c.KubeconfigPath = filepath.Join(c.dir, "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["ferry-local"] = &clientcmdapi.Cluster{
		Server: c.Config.Host, CertificateAuthority: certs.CACert,
	}
	cfg.AuthInfos["ferry-admin"] = &clientcmdapi.AuthInfo{
		ClientCertificate: certs.AdminCert, ClientKey: certs.AdminKey,
	}
	cfg.Contexts["ferry-local"] = &clientcmdapi.Context{Cluster: "ferry-local", AuthInfo: "ferry-admin"}
	cfg.CurrentContext = "ferry-local"
	if err := clientcmd.WriteToFile(*cfg, c.KubeconfigPath); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}
