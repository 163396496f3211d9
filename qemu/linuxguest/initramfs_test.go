package linuxguest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The archives of one kind replace each other; those of another kind
// (a longer prefix: other programs) stay.
func TestPruneArchives(t *testing.T) {
	for _, tc := range []struct {
		prefix, keep string
		want         []string
	}{
		{"initramfs-", "initramfs-aaaa.cpio", []string{"initramfs-aaaa.cpio", "initramfs-dns-cccc.cpio", "initramfs-dns-dddd.cpio", "initramfs-sockperf-eeee.cpio", "vmlinux-6.1.0-57-amd64-ffff"}},
		{"initramfs-dns-", "initramfs-dns-dddd.cpio", []string{"initramfs-aaaa.cpio", "initramfs-bbbb.cpio", "initramfs-dns-dddd.cpio", "initramfs-sockperf-eeee.cpio", "vmlinux-6.1.0-57-amd64-ffff"}},
	} {
		dir := t.TempDir()
		for _, f := range []string{"initramfs-aaaa.cpio", "initramfs-bbbb.cpio", "initramfs-dns-cccc.cpio", "initramfs-dns-dddd.cpio", "initramfs-sockperf-eeee.cpio", "vmlinux-6.1.0-57-amd64-ffff"} {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		pruneArchives(dir, tc.prefix, filepath.Join(dir, tc.keep))
		var got []string
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			got = append(got, e.Name())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("prefix %s: left %v, want %v", tc.prefix, got, tc.want)
		}
	}
}
