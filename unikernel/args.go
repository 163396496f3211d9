package unikernel

import "github.com/kaidoku-net/kaidoku/board/cmdline"

// initArgs returns the words of the kernel command line after the first
// lone "--", which Linux hands to init as its arguments: the program's
// os.Args[1:]. Words are split as the kernel's are (cmdline.Split: white
// space outside double quotes, the quotes dropped). The virtio_mmio.device=
// words are left out: QEMU's microvm appends them at the very end of the
// line, after the user's "--", and they describe the board, which reads
// them.
func initArgs(line string) []string {
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return nil
		}
		start, inQuote := i, false
		for ; i < len(line) && (inQuote || !isSpace(line[i])); i++ {
			if line[i] == '"' {
				inQuote = !inQuote
			}
		}
		if line[start:i] == "--" {
			break
		}
	}
	var args []string
	for _, w := range cmdline.Split(line[i:]) {
		if w.Name == "virtio_mmio.device" {
			continue
		}
		a := w.Name
		if w.HasValue {
			a += "=" + w.Value
		}
		args = append(args, a)
	}
	return args
}

// isSpace is the kernel's isspace for ASCII, as cmdline splits.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
