//go:build tamago

package irq

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/kaidoku-net/kaidoku/board"
)

// numStubs is the number of device vectors with a timestamping entry stub
// (entry_amd64.s).
const numStubs = 16

// Written by the entry stubs, read by the interrupt goroutine.
var (
	hardirqTSC [numStubs]uint64
	next       [numStubs]uint64
)

func entryTable() *[numStubs]uint64

var (
	attachMu sync.Mutex
	// +checklocks:attachMu
	nextVector = FirstDeviceVector
)

func init() {
	board.SetInterruptHandler(dispatch)
}

// dispatch runs in TamaGo's interrupt goroutine for every device vector.
func dispatch(vector int) {
	var t0 int64
	if i := vector - FirstDeviceVector; i >= 0 && i < numStubs && next[i] != 0 {
		t0 = board.TSCToNanotime(hardirqTSC[i])
	} else {
		t0 = board.Nanotime()
	}
	Default.Dispatch(vector, t0)
}

// Attach gives a device's global system interrupt a vector with a
// timestamping entry, registers h for it in Default and routes the GSI
// through the IOAPIC to the bootstrap processor. It returns the vector.
func Attach(gsi int, name string, h Handler) (int, error) {
	attachMu.Lock()
	defer attachMu.Unlock()
	if nextVector >= FirstDeviceVector+numStubs {
		return 0, fmt.Errorf("irq: no free device vector for %s", name)
	}
	// TamaGo's interrupt goroutine installs the gates for vectors 32-255
	// when it first runs; ours must go in after that.
	for !board.InterruptsReady() {
		runtime.Gosched()
	}
	v := nextVector
	nextVector++
	i := v - FirstDeviceVector
	if err := Default.Register(v, name, h); err != nil {
		return 0, err
	}
	next[i] = board.HookVector(v, entryTable()[i])
	board.EnableGSI(gsi, v)
	return v, nil
}
