//go:build unix && !linux

package controlplane

import "syscall"

// sysProcAttr puts the child in its own process group, so that stop can
// signal the group. Only Linux has a parent-death signal.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
