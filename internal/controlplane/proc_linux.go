package controlplane

import "syscall"

// sysProcAttr puts the child in its own process group, so that stop can
// signal the group, and asks the kernel to SIGKILL it when the thread that
// started it dies. Go ends a thread only when a goroutine locked to it exits,
// which the test framework does not do, so in practice that is when the test
// binary dies, even by SIGKILL or a -timeout panic.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
