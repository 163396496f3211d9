package qemu

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ImagePackages returns the import paths of the main packages under
// image/ that build for GOOS=tamago: the images. Programs for other
// systems (the Linux peer's image/linuxecho) are not among them.
func ImagePackages(root string) ([]string, error) {
	cmd, err := Tamago(root, "list", "-f", "{{if eq .Name \"main\"}}{{.ImportPath}}{{end}}", "./image/...")
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the images: %v\n%s", err, stderr.Bytes())
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no main package under %s", filepath.Join(root, "image"))
	}
	return pkgs, nil
}

// TamagoPackages are the package patterns that build for GOOS=tamago. Host
// `go vet` skips every file constrained to tamago, so these are vetted
// with the TamaGo toolchain as well.
var TamagoPackages = []string{"./board/...", "./irq/...", "./virtio/...", "./napi/...", "./netstack/...", "./image/...", "./unikernel/..."}

// CheckImages builds every image (ImagePackages) into a temporary
// directory and runs `go vet` with the TamaGo toolchain over
// TamagoPackages. It reports each step on log and returns an error naming
// every image that did not build and every vet finding. It needs the
// toolchain (ToolchainDir); without it, it returns the error Tamago gives.
func CheckImages(root string, log func(format string, args ...any)) error {
	pkgs, err := ImagePackages(root)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "kaidoku-check")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var failed []string
	for _, pkg := range pkgs {
		out := filepath.Join(tmp, filepath.Base(pkg)+".elf")
		if err := BuildImage(root, pkg, out, ""); err != nil {
			log("FAIL build %s\n%v", pkg, err)
			failed = append(failed, "build "+pkg)
			continue
		}
		log("ok   build %s", pkg)
	}
	cmd, err := Tamago(root, append([]string{"vet"}, TamagoPackages...)...)
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		log("FAIL tamago vet %s\n%s", strings.Join(TamagoPackages, " "), out)
		failed = append(failed, "tamago vet")
	} else {
		log("ok   tamago vet %s", strings.Join(TamagoPackages, " "))
	}
	if out, err := checklocksTamago(root, tmp); err != nil {
		log("FAIL tamago checklocks %s\n%s%v", strings.Join(TamagoPackages, " "), out, err)
		failed = append(failed, "tamago checklocks")
	} else {
		log("ok   tamago checklocks %s", strings.Join(TamagoPackages, " "))
	}
	if len(failed) > 0 {
		return fmt.Errorf("image check failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// checklocksTamago runs gVisor's checklocks (the go.mod tool) over
// TamagoPackages as built for GOOS=tamago: `go tool checklocks` on the
// host, like host vet, skips every file constrained to tamago. The
// analyzer is built for the host into tmp and loads the packages through
// the TamaGo toolchain's go command.
func checklocksTamago(root, tmp string) ([]byte, error) {
	dir, ok, err := ToolchainDir(root)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("TamaGo toolchain not found at %s", dir)
	}
	bin := filepath.Join(tmp, "checklocks")
	build := exec.Command("go", "build", "-o", bin, "gvisor.dev/gvisor/tools/checklocks/cmd/checklocks")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return out, err
	}
	cmd := exec.Command(bin, TamagoPackages...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=tamago", "GOARCH=amd64", "GOOSPKG=github.com/usbarmory/tamago",
		"CGO_ENABLED=0", "GOROOT="+dir,
		"PATH="+filepath.Join(dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	return cmd.CombinedOutput()
}

// Missing says what the end-to-end tests need and this machine lacks: QEMU
// (DefaultBinary), the TamaGo toolchain, or both. It returns "" when both
// are present. The end-to-end package and `kaidoku check` ask it, so they
// agree on when the end-to-end tests skip.
func Missing(root string) string {
	var missing []string
	if _, err := exec.LookPath(DefaultBinary); err != nil {
		missing = append(missing, DefaultBinary+" not found (install Debian's qemu-system-x86 package)")
	}
	dir, ok, err := ToolchainDir(root)
	switch {
	case err != nil:
		missing = append(missing, err.Error())
	case !ok:
		missing = append(missing, "TamaGo toolchain not found at "+dir+" (on a machine with internet, `go tool tamago version` installs it)")
	}
	return strings.Join(missing, "; ")
}
