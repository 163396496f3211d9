package linuxguest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// fakeTree points bootDir and modulesDir at a temporary /boot and
// /lib/modules for the test's duration.
func fakeTree(t *testing.T) (boot, mods string) {
	t.Helper()
	dir := t.TempDir()
	boot, mods = filepath.Join(dir, "boot"), filepath.Join(dir, "modules")
	os.MkdirAll(boot, 0o755)
	os.MkdirAll(mods, 0o755)
	oldBoot, oldMods := bootDir, modulesDir
	bootDir, modulesDir = boot, mods
	t.Cleanup(func() { bootDir, modulesDir = oldBoot, oldMods })
	return boot, mods
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindKernelMissing(t *testing.T) {
	boot, _ := fakeTree(t)
	// An image without its modules is not a usable kernel.
	writeFile(t, filepath.Join(boot, "vmlinuz-6.1.0-9-amd64"), "x")
	if _, err := FindKernel(); !errors.Is(err, ErrNoKernel) {
		t.Fatalf("FindKernel = %v, want ErrNoKernel", err)
	}
	if !strings.Contains(ErrNoKernel.Error(), KernelPackage) {
		t.Errorf("the error does not name the package: %v", ErrNoKernel)
	}
}

func TestFindKernelNewest(t *testing.T) {
	boot, mods := fakeTree(t)
	for _, rel := range []string{"6.1.0-9-amd64", "6.1.0-10-amd64", "5.10.0-30-amd64"} {
		writeFile(t, filepath.Join(boot, "vmlinuz-"+rel), "x")
		writeFile(t, filepath.Join(mods, rel, "modules.dep"), "")
	}
	k, err := FindKernel()
	if err != nil {
		t.Fatal(err)
	}
	if k.Release != "6.1.0-10-amd64" || k.Vmlinuz != filepath.Join(boot, "vmlinuz-6.1.0-10-amd64") {
		t.Errorf("FindKernel = %+v, want 6.1.0-10-amd64", k)
	}
}

// The modules come in an order in which each one's dependencies are
// already loaded, as modprobe would load them; built-in ones are skipped.
func TestNeededModules(t *testing.T) {
	_, mods := fakeTree(t)
	k := &Kernel{Release: "r", Modules: filepath.Join(mods, "r")}
	writeFile(t, filepath.Join(k.Modules, "modules.dep"), `kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
`)
	got, err := k.neededModules(wantedModules)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range got {
		names = append(names, m.name)
	}
	want := []string{"virtio_ring", "virtio", "virtio_mmio", "failover", "net_failover", "virtio_net"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("order %v, want %v", names, want)
	}
	if got[5].path != filepath.Join(k.Modules, "kernel/drivers/net/virtio_net.ko") {
		t.Errorf("path %s", got[5].path)
	}

	// With the virtio core built in, only the rest is loaded.
	writeFile(t, filepath.Join(k.Modules, "modules.builtin"), "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\n")
	got, err = k.neededModules(wantedModules)
	if err != nil {
		t.Fatal(err)
	}
	names = names[:0]
	for _, m := range got {
		names = append(names, m.name)
	}
	if want := []string{"virtio_mmio", "failover", "net_failover", "virtio_net"}; !reflect.DeepEqual(names, want) {
		t.Errorf("with built-in core: %v, want %v", names, want)
	}

	if _, err := k.neededModules([]string{"no_such"}); err == nil || !strings.Contains(err.Error(), "no_such") {
		t.Errorf("missing module: %v", err)
	}
}

// fakeBzImage wraps payload in a minimal bzImage header (boot protocol
// 2.15), with the 4-byte length the kernel build appends after it.
func fakeBzImage(payload []byte) []byte {
	const setupSects = 3
	img := make([]byte, (setupSects+1)*512+16)
	img[0x1f1] = setupSects
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x206:], 0x20f)
	binary.LittleEndian.PutUint32(img[0x248:], 16)
	full := binary.LittleEndian.AppendUint32(append([]byte(nil), payload...), 0x1234)
	binary.LittleEndian.PutUint32(img[0x24c:], uint32(len(full)))
	return append(img, full...)
}

func TestUnpackKernel(t *testing.T) {
	if _, err := exec.LookPath("gzip"); err != nil {
		t.Skip("gzip not installed")
	}
	elf := append([]byte("\x7fELF\x02\x01\x01"), bytes.Repeat([]byte{0x90}, 1000)...)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(elf)
	w.Close()
	dir := t.TempDir()
	vmlinuz := filepath.Join(dir, "vmlinuz-6.1.0-1-amd64")
	writeFile(t, vmlinuz, string(fakeBzImage(gz.Bytes())))

	out, err := unpackKernel(vmlinuz, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, elf) {
		t.Fatalf("unpacked %d bytes, %v; want the %d-byte ELF", len(got), err, len(elf))
	}
	// Cached: a second call finds the same file without decompressing.
	os.WriteFile(out, []byte("cached"), 0o644)
	if again, err := unpackKernel(vmlinuz, dir); err != nil || again != out {
		t.Fatalf("second unpack: %s, %v", again, err)
	}
	if b, _ := os.ReadFile(out); string(b) != "cached" {
		t.Error("the kernel was unpacked again")
	}

	// Not an ELF inside: an error, and nothing cached.
	var bad bytes.Buffer
	w = gzip.NewWriter(&bad)
	w.Write([]byte("not a kernel"))
	w.Close()
	writeFile(t, vmlinuz, string(fakeBzImage(bad.Bytes())))
	if _, err := unpackKernel(vmlinuz, dir); err == nil {
		t.Error("a payload that is not an ELF was accepted")
	}
	if _, err := bzImagePayload([]byte("MZ not a kernel")); err == nil {
		t.Error("a file without the HdrS header was accepted")
	}
}

func TestConfig(t *testing.T) {
	g := &Guest{Kernel: "/k", Initrd: "/i"}
	base := qemu.Config{Accel: qemu.KVM, Append: []string{"kaidoku.addr=10.0.0.5/24"}, MemoryMB: 2048}
	cfg := g.Config(base)
	if cfg.Kernel != "/k" || cfg.Initrd != "/i" || cfg.MemoryMB != 2048 {
		t.Errorf("Config = %+v", cfg)
	}
	want := []string{"console=ttyS0", "quiet", "pci=off", "panic=-1", "reboot=t", "kaidoku.addr=10.0.0.5/24"}
	if !reflect.DeepEqual(cfg.Append, want) {
		t.Errorf("KVM command line %q, want %q", cfg.Append, want)
	}
	if len(base.Append) != 1 {
		t.Errorf("base.Append modified: %q", base.Append)
	}

	cfg = g.Config(qemu.Config{Accel: qemu.TCG, NoTSC: true})
	if slices.ContainsFunc(cfg.Append, func(w string) bool { return strings.HasPrefix(w, "tsc_early_khz=") }) {
		t.Errorf("NoTSC, yet %q", cfg.Append)
	}
	if _, ok := qemu.HostTSCkHz(); ok {
		cfg = g.Config(qemu.Config{Accel: qemu.TCG})
		if !slices.ContainsFunc(cfg.Append, func(w string) bool { return strings.HasPrefix(w, "tsc_early_khz=") }) {
			t.Errorf("TCG without tsc_early_khz: %q", cfg.Append)
		}
	}
}

func TestParseStats(t *testing.T) {
	reply := `peer linux
mem_in_use_bytes 1234
Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 17
Udp: InDatagrams NoPorts
Udp: 6 0
UdpLite: InDatagrams NoPorts
UdpLite: 0 0
`
	kv := ParseStats([]byte(reply))
	for k, v := range map[string]string{
		"peer": "linux", "mem_in_use_bytes": "1234", "Ip.InReceives": "17",
		"Udp.InDatagrams": "6", "Udp.NoPorts": "0", "UdpLite.InDatagrams": "0",
	} {
		if kv[k] != v {
			t.Errorf("%s = %q, want %q", k, kv[k], v)
		}
	}
}
