package localcluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
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
// Service cannot point at a loopback address.
func (c *Cluster) startAPIServer(ctx context.Context, binDir string, certs *pki, etcdURL string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	p, err := c.run("kube-apiserver", filepath.Join(binDir, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(c.dir, "apiserver-certs"),
		"--tls-cert-file="+certs.ServingCert,
		"--tls-private-key-file="+certs.ServingKey,
		"--client-ca-file="+certs.CACert,
		"--service-account-key-file="+certs.SAPub,
		"--service-account-signing-key-file="+certs.SAKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range="+serviceCIDR,
		"--authorization-mode=Node,RBAC",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
	)
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
