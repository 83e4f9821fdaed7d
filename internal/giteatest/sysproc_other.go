//go:build unix && !linux

package giteatest

import "syscall"

// sysProcAttr has no Pdeathsig outside Linux: the test's cleanup must run, or Gitea is left
// behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
