//go:build unix && !linux

package procgroup

import "syscall"

// sysProcAttr has no Pdeathsig outside Linux: Stop must be called, or programs are left behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
