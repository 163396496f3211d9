package linuxguest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// wantedModules are the drivers the guest needs for its network device:
// microvm's virtio-mmio transport and virtio-net. Debian 12 builds both as
// modules (CONFIG_VIRTIO_MMIO=m, CONFIG_VIRTIO_NET=m), and its virtio-mmio
// lacks CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, so the device is found through
// the ACPI tables microvm provides, when the module loads.
var wantedModules = []string{"virtio_mmio", "virtio_net"}

// module is one kernel module file to put in the initramfs.
type module struct {
	name string // as the kernel names it: virtio_net
	path string // absolute path on the host
}

// neededModules returns the modules that provide names, with their
// dependencies first, from the kernel's modules.dep (as modprobe resolves
// them). Modules built into the kernel (modules.builtin) are left out, so
// a kernel with the drivers built in gives an empty list.
func (k *Kernel) neededModules(names []string) ([]module, error) {
	builtin := map[string]bool{}
	if err := eachLine(filepath.Join(k.Modules, "modules.builtin"), func(l string) {
		builtin[modName(l)] = true
	}); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	deps := map[string][]string{} // name → dependency files
	files := map[string]string{}  // name → file, relative to k.Modules
	err := eachLine(filepath.Join(k.Modules, "modules.dep"), func(l string) {
		file, rest, ok := strings.Cut(l, ":")
		if !ok {
			return
		}
		n := modName(file)
		files[n] = file
		deps[n] = strings.Fields(rest)
	})
	if err != nil {
		return nil, fmt.Errorf("kernel %s modules: %w", k.Release, err)
	}
	var order []module
	seen := map[string]bool{}
	var visit func(n string, from string) error
	visit = func(n, from string) error {
		if seen[n] || builtin[n] {
			return nil
		}
		seen[n] = true
		file, ok := files[n]
		if !ok {
			return fmt.Errorf("kernel %s has no module %s%s (is CONFIG_%s set?)", k.Release, n, from, strings.ToUpper(n))
		}
		// modules.dep lists every module n needs, directly or not;
		// visiting each in turn puts its own dependencies first.
		for _, d := range deps[n] {
			if err := visit(modName(d), " (needed by "+n+")"); err != nil {
				return err
			}
		}
		order = append(order, module{name: n, path: filepath.Join(k.Modules, file)})
		return nil
	}
	for _, n := range names {
		if err := visit(n, ""); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// modName turns kernel/drivers/net/virtio_net.ko[.xz] into virtio_net,
// the kernel's name for it (which has _ where a file name may have -).
func modName(file string) string {
	b := filepath.Base(file)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

func eachLine(path string, f func(string)) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			f(l)
		}
	}
	return sc.Err()
}
