//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// detach makes c a process of its own session, so that it outlives the command that starts it
// and the terminal's hang-up does not reach it.
func detach(c *exec.Cmd) { c.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
