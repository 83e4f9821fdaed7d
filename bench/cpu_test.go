package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is Linux's USER_HZ, the unit of /proc/PID/stat's CPU times.
const clockTick = 10 * time.Millisecond

// cpuTime returns the user and system CPU time process pid has used (0 when it cannot be read).
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces; the fields after it start with the
	// state (field 3), so utime and stime (fields 14 and 15) are at 11 and 12.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * clockTick
}

// serverCPU returns the CPU time kube-apiserver and etcd have used: what serving the requests
// cost the cluster, whoever sent them.
func serverCPU() time.Duration {
	pids := lab.cluster.PIDs()
	return cpuTime(pids["kube-apiserver"]) + cpuTime(pids["etcd"])
}

// selfCPU returns the user and system CPU time this process has used: ferry's side, in scenario
// 1 where nothing else runs in it meanwhile.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU returns the user and system CPU time of an ended command.
func processCPU(cmd *exec.Cmd) time.Duration {
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}
