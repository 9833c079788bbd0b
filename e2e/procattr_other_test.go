//go:build !linux

package e2e

import "syscall"

// procAttr puts a child in its own process group, so kill takes its children too.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
