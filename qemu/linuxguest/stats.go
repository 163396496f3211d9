package linuxguest

import (
	"bufio"
	"bytes"
	"strings"
)

// The guest's UDP services: EchoPort echoes every datagram (RFC 862);
// StatsPort answers any datagram with the report ParseStats reads.
const (
	EchoPort  = 7
	StatsPort = 161
)

// ParseStats reads the stats service's reply: "key value" lines
// (mem_in_use_bytes, which is MemTotal − MemAvailable; mem_total_bytes,
// mem_free_bytes, mem_available_bytes, echo_datagrams, echo_errors,
// uptime_seconds, kernel) and the pairs of
// header and value lines of /proc/net/snmp ("Udp: InDatagrams ..." then
// "Udp: 12 ..."), the latter as "Udp.InDatagrams" → "12".
func ParseStats(reply []byte) map[string]string {
	kv := map[string]string{}
	var header []string
	sc := bufio.NewScanner(bytes.NewReader(reply))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") {
			kv[f[0]] = f[1]
			continue
		}
		if header == nil || header[0] != f[0] {
			header = f
			continue
		}
		proto := strings.TrimSuffix(f[0], ":")
		for i := 1; i < len(f) && i < len(header); i++ {
			kv[proto+"."+header[i]] = f[i]
		}
		header = nil
	}
	return kv
}
