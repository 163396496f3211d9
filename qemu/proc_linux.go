package qemu

import "syscall"

// childAttr makes a child QEMU die with the launching process (Pdeathsig),
// so that a killed test run never leaves a VM behind, and puts it in its
// own process group so a terminal's Ctrl-C reaches only the launcher,
// which then tears the VM down itself.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
