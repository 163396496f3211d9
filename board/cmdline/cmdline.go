// Package cmdline reads the kernel command line that QEMU hands the image
// (-append, read by the board from fw_cfg).
//
// The line is shared with Linux's conventions: a user who boots the image
// the way they boot Linux (console=ttyS0 panic=-1 quiet ...) must get the
// same image. So kaidoku takes only the words in its own namespace,
// kaidoku.<name>[=value], as Linux takes a module's parameters
// (<module>.<param>=value), and never looks at any other word: those are
// Linux's or user space's, and are ignored without a word. (The board
// does read virtio_mmio.device=, the hardware description microvm adds
// for Linux, in Linux's meaning.)
//
// Within the namespace, kaidoku.test.<name> holds diagnostic hooks for the
// end-to-end tests (make the image exit, panic, time a sleep); they are
// not for users, and no word outside the namespace reaches them.
//
// Words are split as Linux's next_arg splits them: separated by white
// space, with double quotes grouping (kaidoku.x="a b"), and "--" ending
// the kernel's part of the line (what follows is the init's). Names match
// with '-' and '_' equivalent, as Linux's parameq matches them; a later
// word overrides an earlier one.
//
// A [Set] holds the parameters a program takes, with their defaults, much
// as flag.FlagSet does; [Set.Parse] applies a line and reports, without
// stopping, every kaidoku word no parameter takes ([UnknownError], as
// Linux reports "Unknown kernel command line parameters") and every value
// a parameter refuses ([ValueError]), which leaves the parameter as it was.
//
// The package is plain Go, so that it is tested on the host; the board
// reads the raw line and takes kaidoku.tsc_khz from it with [Lookup].
package cmdline

import (
	"fmt"
	"strings"
)

// Namespace prefixes every kaidoku word.
const Namespace = "kaidoku."

// TestNamespace prefixes the test-only words, within Namespace.
const TestNamespace = Namespace + "test."

// Word is one word of a command line: name=value, or a bare name.
type Word struct {
	Name  string
	Value string
	// HasValue says whether the word had '=' (kaidoku.x= has an empty
	// value; kaidoku.x has none).
	HasValue bool
}

// String returns the word as it would be written on a command line,
// quoting a value that holds white space or quotes.
func (w Word) String() string {
	if !w.HasValue {
		return w.Name
	}
	if w.Value == "" || strings.ContainsAny(w.Value, " \t\n\v\f\r\"") {
		return w.Name + `="` + w.Value + `"`
	}
	return w.Name + "=" + w.Value
}

// isSpace is the C isspace of the kernel's ctype for ASCII.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// Split returns the words of line up to a lone "--", as Linux's
// parse_args sees them (next_arg): a word runs to the next white space
// outside double quotes; a leading quote, and a quote opening the value,
// are dropped with the word's last character if that is a quote.
func Split(line string) []Word {
	var words []Word
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return words
		}
		quoted := line[i] == '"'
		if quoted {
			i++
		}
		start, inQuote, equals := i, quoted, -1
		for ; i < len(line); i++ {
			c := line[i]
			if isSpace(c) && !inQuote {
				break
			}
			// An '=' in first position names nothing: next_arg looks for
			// one after the first character.
			if equals < 0 && c == '=' && i > start {
				equals = i
			}
			if c == '"' {
				inQuote = !inQuote
			}
		}
		raw := line[start:i]
		w := Word{Name: raw}
		stripEnd := quoted
		if equals >= 0 {
			w.Name, w.Value, w.HasValue = raw[:equals-start], raw[equals-start+1:], true
			if strings.HasPrefix(w.Value, `"`) {
				w.Value, stripEnd = w.Value[1:], true
			}
		}
		if stripEnd {
			if w.HasValue {
				w.Value = strings.TrimSuffix(w.Value, `"`)
			} else {
				w.Name = strings.TrimSuffix(w.Name, `"`)
			}
		}
		if !w.HasValue && w.Name == "--" {
			return words
		}
		words = append(words, w)
	}
}

// normalize makes '-' and '_' equivalent in a name, as Linux's parameq.
func normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// Lookup returns the value of the last word of line named name (a full
// name, e.g. "kaidoku.tsc_khz"), and whether there is one.
func Lookup(line, name string) (Word, bool) {
	var found Word
	ok := false
	name = normalize(name)
	for _, w := range Split(line) {
		if normalize(w.Name) == name {
			found, ok = w, true
		}
	}
	return found, ok
}

// UnknownError lists the kaidoku words that no parameter takes.
type UnknownError struct {
	Words []Word
}

func (e *UnknownError) Error() string {
	s := make([]string, len(e.Words))
	for i, w := range e.Words {
		s[i] = w.String()
	}
	return fmt.Sprintf("Unknown kernel command line parameters %q, ignored", strings.Join(s, " "))
}

// ValueError is a word whose value its parameter refused; the parameter
// keeps the value it had.
type ValueError struct {
	Word Word
	Err  error
	// Kept is the parameter's value, as its String method renders it.
	Kept string
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("%s: %v; keeping %s", e.Word, e.Err, e.Kept)
}

func (e *ValueError) Unwrap() error { return e.Err }
