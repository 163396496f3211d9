package e2e

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// go vet on the host skips every GOOS=tamago file (the board, the
// interrupt entry, the images); vet them with the TamaGo toolchain.
func TestVetImage(t *testing.T) {
	root, err := qemu.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := qemu.Tamago(root, "vet", "./board/...", "./irq/...", "./image/...", "./virtio/...", "./napi/...", "./netstack/...")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tamago vet: %v\n%s", err, out)
	}
}
