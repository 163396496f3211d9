//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// loadModules loads every dir/*.ko in name order with finit_module and
// returns the module names. The initramfs has no modprobe and no
// modules.dep: its builder names the files NN-name.ko in dependency order.
// A module that is already there (built in, or loaded) is not an error.
func loadModules(dir string, args map[string][]string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.ko"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var names []string
	for _, f := range files {
		name := moduleName(f)
		params := strings.Join(args[name], " ")
		if err := finitModule(f, params); err != nil && err != syscall.EEXIST {
			return names, fmt.Errorf("loading module %s: %v", f, err)
		}
		names = append(names, name)
	}
	return names, nil
}

// moduleName turns /lib/modules/kaidoku/03-virtio_mmio.ko into
// virtio_mmio, the name the kernel gives the module.
func moduleName(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), ".ko")
	if i := strings.IndexByte(base, '-'); i >= 0 && strings.Trim(base[:i], "0123456789") == "" {
		base = base[i+1:]
	}
	return strings.ReplaceAll(base, "-", "_")
}

func finitModule(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := syscall.BytePtrFromString(params)
	if err != nil {
		return err
	}
	return finitModuleFd(f.Fd(), p)
}
