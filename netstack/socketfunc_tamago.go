//go:build tamago

package netstack

import "net"

// InstallSocketFunc points TamaGo's net.SocketFunc at s, so net.ListenUDP
// and net.DialUDP use kaidoku sockets.
func InstallSocketFunc(s *Stack) { net.SocketFunc = s.SocketFunc }
