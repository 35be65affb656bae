//go:build linux

package pool

import "syscall"

// procAttr puts each candidate in its own process group and kills it when
// the process that started it dies, so none outlives a test.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
