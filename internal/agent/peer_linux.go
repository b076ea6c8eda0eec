package agent

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
)

// checkPeer refuses a connection from another user than the agent's own, as the kernel reports
// it (SO_PEERCRED): the socket's directory already keeps others out; this holds even if its
// permissions are loosened.
func checkPeer(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return fmt.Errorf("who is asking: %w", credErr)
	}
	if int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("user %d may not use the agent of user %d", cred.Uid, os.Getuid())
	}
	return nil
}

func ownedByMe(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
