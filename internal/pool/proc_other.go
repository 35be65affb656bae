//go:build !linux

package pool

import "syscall"

// procAttr puts each candidate in its own process group.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
