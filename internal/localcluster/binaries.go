package localcluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Programs lists the binaries the control plane needs, in the order they are built.
var Programs = []string{"etcd", "kwok", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"}

// ErrBinariesMissing is matched by errors.Is on a *MissingBinariesError.
var ErrBinariesMissing = errors.New("control-plane binaries are not built")

// MissingBinariesError lists the programs (or kwok stage files) that are not in Dir.
type MissingBinariesError struct {
	Dir     string
	Missing []string
}

func (e *MissingBinariesError) Error() string {
	return fmt.Sprintf("%s: %s missing in %s; run `make controlplane` to build them",
		ErrBinariesMissing, strings.Join(e.Missing, ", "), e.Dir)
}

// Is makes errors.Is(err, ErrBinariesMissing) true.
func (e *MissingBinariesError) Is(target error) bool { return target == ErrBinariesMissing }

// DefaultBinDir returns $XDG_CACHE_HOME/ferry/controlplane/KubernetesVersion/bin (or the same
// under ~/.cache), where build.sh puts the programs.
func DefaultBinDir() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = filepath.Join(os.TempDir(), "ferry-cache")
	}
	return filepath.Join(cache, "ferry", "controlplane", KubernetesVersion, "bin")
}

// stageDir holds kwok's stage files, copied from the kwok module by build.sh.
func stageDir(binDir string) string { return filepath.Join(binDir, "kwok-stages") }

func checkBinaries(dir string) error {
	var missing []string
	for _, name := range Programs {
		if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if stages, _ := filepath.Glob(filepath.Join(stageDir(dir), "*.yaml")); len(stages) == 0 {
		missing = append(missing, "kwok-stages")
	}
	if len(missing) > 0 {
		return &MissingBinariesError{Dir: dir, Missing: missing}
	}
	return nil
}
