// Package buildinfo reports what this ferry binary is: its version, commit, Go version and the
// Kubernetes and kustomize library versions it was built with.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version and Commit are set at link time with -ldflags "-X ...buildinfo.Version=...".
var (
	Version = "dev"
	Commit  = ""
)

// Info describes one ferry build.
type Info struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	GoVersion  string `json:"goVersion"`
	ClientGo   string `json:"clientGo"`
	Kustomize  string `json:"kustomize,omitempty"`
	Platform   string `json:"platform"`
	Kubernetes string `json:"kubernetes"`
}

// Read returns the Info of the running binary. Library versions come from the module build
// information and are "unknown" when the binary was built without it.
func Read() Info {
	info := Info{
		Version:   Version,
		Commit:    Commit,
		GoVersion: runtime.Version(),
		ClientGo:  "unknown",
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if info.Commit == "" {
		info.Commit = setting(bi, "vcs.revision")
	}
	for _, dep := range bi.Deps {
		switch dep.Path {
		case "k8s.io/client-go":
			info.ClientGo = dep.Version
		case "sigs.k8s.io/kustomize/api":
			info.Kustomize = dep.Version
		}
	}
	info.Kubernetes = kubernetesVersion(info.ClientGo)
	return info
}

// String renders Info as the lines `ferry version` prints.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ferry %s\n", i.Version)
	if i.Commit != "" {
		fmt.Fprintf(&b, "commit: %s\n", i.Commit)
	}
	fmt.Fprintf(&b, "go: %s %s\n", i.GoVersion, i.Platform)
	fmt.Fprintf(&b, "client-go: %s (Kubernetes %s)\n", i.ClientGo, i.Kubernetes)
	if i.Kustomize != "" {
		fmt.Fprintf(&b, "kustomize api: %s\n", i.Kustomize)
	}
	return b.String()
}

func setting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// kubernetesVersion maps a client-go version v0.X.Y to the Kubernetes release v1.X.Y it
// belongs to.
func kubernetesVersion(clientGo string) string {
	if rest, ok := strings.CutPrefix(clientGo, "v0."); ok {
		return "v1." + rest
	}
	return "unknown"
}
