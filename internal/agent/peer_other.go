//go:build !linux

package agent

import (
	"io/fs"
	"net"
)

// checkPeer accepts every connection where the system does not say who is asking: the socket's
// directory, private to its owner, keeps others out.
func checkPeer(net.Conn) error { return nil }

func ownedByMe(fs.FileInfo) bool { return true }
