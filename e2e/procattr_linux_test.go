package e2e

import "syscall"

// procAttr puts a child in its own process group (so kill takes its children too) and has the
// kernel kill it if the test binary dies without running its cleanups (a timeout, a signal).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
