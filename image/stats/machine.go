package stats

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/virtio"
)

// The machine form of a Snapshot (section "counters") is one counter a
// line, "<name> <value>\n", the name a dotted path of the Snapshot's
// field names, the value a decimal integer (booleans 0 or 1), and a last
// line "end <n>" with the number of counter lines before it, so a reader
// knows it has everything. Names and order are stable: the fields'
// order, map keys sorted.
//
//	Ip.InReceives 12
//	Udp.InDatagrams 10
//	Drop.NO_SOCKET 2
//	dev.rx.packets 14
//	napi.napis.eth0-rx.polls 9
//	pool.frames.in_use 260
//	svc.agent.refused 0
//	latency.total.p50_ns 41000
//	end 412

// counterSet is a part that names its own counters because they are
// sparse (IcmpMsg types, histogram buckets): an absent one is zero.
type counterSet interface {
	EachCounter(f func(name string, v uint64))
	SetCounter(name string, v uint64) error
}

var counterSetType = reflect.TypeFor[counterSet]()

// errNoName: the name is not a counter of the Snapshot.
var errNoName = errors.New("unknown counter")

// WriteCounters writes s in the machine form.
func WriteCounters(w io.Writer, s *Snapshot) error {
	var b []byte
	n := 0
	err := each(reflect.ValueOf(s).Elem(), "", strconv.Itoa, func(name, value string) {
		b = append(b, name...)
		b = append(b, ' ')
		b = append(b, value...)
		b = append(b, '\n')
		n++
	})
	if err != nil {
		return err
	}
	b = fmt.Appendf(b, "end %d\n", n)
	_, err = w.Write(b)
	return err
}

// Values returns every counter of s by its machine-form name. A uint64
// above the int64 range wraps.
func (s *Snapshot) Values() map[string]int64 {
	m := map[string]int64{}
	each(reflect.ValueOf(s).Elem(), "", strconv.Itoa, func(name, value string) {
		if value[0] == '-' {
			m[name], _ = strconv.ParseInt(value, 10, 64)
			return
		}
		u, _ := strconv.ParseUint(value, 10, 64)
		m[name] = int64(u)
	})
	return m
}

// ParseCounters reads the machine form back into a Snapshot. It fails on
// a malformed line, a name that is not a counter, a name given twice, a
// counter missing from a part that is present, a missing or wrong end
// line and anything after it: a counter is never silently zero. (The
// sparse IcmpMsg types and histogram buckets are zero when absent, as
// Linux and the histogram print them.)
func ParseCounters(text string) (*Snapshot, error) {
	s := new(Snapshot)
	root := reflect.ValueOf(s).Elem()
	seen := map[string]bool{}
	lines := strings.Split(text, "\n")
	if lines[len(lines)-1] != "" {
		return nil, fmt.Errorf("counters: no end line (reply truncated?)")
	}
	ended := false
	for i, line := range lines[:len(lines)-1] {
		if ended {
			return nil, fmt.Errorf("counters line %d: %q after the end line", i+1, line)
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok || name == "" || value == "" || strings.ContainsFunc(line, func(r rune) bool { return unicode.IsSpace(r) && r != ' ' }) ||
			strings.Contains(value, " ") {
			return nil, fmt.Errorf("counters line %d: %q is not \"<name> <value>\"", i+1, line)
		}
		if name == "end" {
			n, err := parseInt(value, 64)
			if err != nil || n != int64(len(seen)) {
				return nil, fmt.Errorf("counters line %d: %q, but %d counters came before it", i+1, line, len(seen))
			}
			ended = true
			continue
		}
		if seen[name] {
			return nil, fmt.Errorf("counters line %d: %s given twice", i+1, name)
		}
		seen[name] = true
		if err := set(root, strings.Split(name, "."), value, strconv.Itoa); err != nil {
			return nil, fmt.Errorf("counters line %d: %s: %w", i+1, name, err)
		}
	}
	if !ended {
		return nil, fmt.Errorf("counters: no end line (reply truncated?)")
	}
	var missing []string
	each(root, "", strconv.Itoa, func(name, _ string) {
		if !seen[name] {
			missing = append(missing, name)
		}
	})
	if len(missing) > 0 {
		if len(missing) > 5 {
			missing = append(missing[:5], "…")
		}
		return nil, fmt.Errorf("counters: missing %s", strings.Join(missing, ", "))
	}
	return s, nil
}

// field is how a struct field appears in the machine form.
type field struct {
	name   string // path segment
	inline bool   // its fields are named without a segment of its own
	key    bool   // the element's key in a slice
	skip   bool
}

func fieldOf(f reflect.StructField) field {
	if !f.IsExported() {
		return field{skip: true}
	}
	tag := f.Tag.Get("stat")
	if tag == "-" {
		return field{skip: true}
	}
	name, opt, _ := strings.Cut(tag, ",")
	fd := field{name: name, inline: opt == "inline" || f.Anonymous && name == "", key: opt == "key"}
	if fd.name == "" {
		fd.name = snake(f.Name)
	}
	return fd
}

// keyField returns the index of t's key field: the one tagged ",key", or
// a string field Name (napi.NAPIStats).
func keyField(t reflect.Type) int {
	if t.Kind() != reflect.Struct {
		return -1
	}
	for i := 0; i < t.NumField(); i++ {
		if fieldOf(t.Field(i)).key {
			return i
		}
	}
	if f, ok := t.FieldByName("Name"); ok && f.Type.Kind() == reflect.String && len(f.Index) == 1 {
		return f.Index[0]
	}
	return -1
}

// arrayNames names an array field's elements: virtio's faults by kind,
// NAPI's histogram by bucket label, others by index.
func arrayNames(parent reflect.Type, f reflect.StructField) func(int) string {
	switch {
	case parent == reflect.TypeFor[virtio.Stats]() && f.Name == "Faults":
		return func(i int) string { return virtio.FaultKind(i).String() }
	case f.Type == reflect.TypeFor[napi.Histogram]():
		return napi.BucketLabel
	}
	return strconv.Itoa
}

// snake is a Go name in lower case with underscores (RxLengthErrors:
// rx_length_errors, IRQExitRuns: irq_exit_runs).
func snake(n string) string {
	var b strings.Builder
	r := []rune(n)
	for i, c := range r {
		// A capital starts a word after a lower-case letter or digit, or
		// ends an acronym (IRQExit), but not an acronym's plural (NAPIs).
		next := i+1 < len(r) && unicode.IsLower(r[i+1]) && !(r[i+1] == 's' && (i+2 == len(r) || unicode.IsUpper(r[i+2])))
		if unicode.IsUpper(c) && i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]) || next) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

func join(prefix, seg string) string {
	if prefix == "" {
		return seg
	}
	return prefix + "." + seg
}

// validKey reports whether a map or slice key can be a name segment.
func validKey(k string) bool {
	return k != "" && !strings.ContainsFunc(k, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
}

func keyString(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	}
	return strconv.FormatUint(v.Uint(), 10)
}

// each calls emit with every counter under v (addressable), named below
// prefix.
func each(v reflect.Value, prefix string, names func(int) string, emit func(name, value string)) error {
	if v.Kind() != reflect.Pointer && v.Addr().Type().Implements(counterSetType) {
		v.Addr().Interface().(counterSet).EachCounter(func(name string, u uint64) {
			emit(join(prefix, name), strconv.FormatUint(u, 10))
		})
		return nil
	}
	switch v.Kind() {
	case reflect.Bool:
		emit(prefix, map[bool]string{false: "0", true: "1"}[v.Bool()])
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		emit(prefix, strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		emit(prefix, strconv.FormatUint(v.Uint(), 10))
	case reflect.Pointer:
		if !v.IsNil() {
			return each(v.Elem(), prefix, names, emit)
		}
	case reflect.Struct:
		t := v.Type()
		k := keyField(t)
		for i := 0; i < t.NumField(); i++ {
			fd := fieldOf(t.Field(i))
			if fd.skip || i == k {
				continue
			}
			p := join(prefix, fd.name)
			if fd.inline {
				p = prefix
			}
			if err := each(v.Field(i), p, arrayNames(t, t.Field(i)), emit); err != nil {
				return err
			}
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if err := each(v.Index(i), join(prefix, names(i)), strconv.Itoa, emit); err != nil {
				return err
			}
		}
	case reflect.Slice:
		k := keyField(v.Type().Elem())
		if k < 0 {
			return fmt.Errorf("%s: a slice of %s has no key", prefix, v.Type().Elem())
		}
		for i := 0; i < v.Len(); i++ {
			key := keyString(v.Index(i).Field(k))
			if !validKey(key) {
				return fmt.Errorf("%s: key %q cannot be a name", prefix, key)
			}
			if err := each(v.Index(i), join(prefix, key), strconv.Itoa, emit); err != nil {
				return err
			}
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("%s: map keys are not strings", prefix)
		}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !validKey(k) {
				return fmt.Errorf("%s: key %q cannot be a name", prefix, k)
			}
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key())))
			if err := each(e, join(prefix, k), strconv.Itoa, emit); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%s: %s is not a counter", prefix, v.Type())
	}
	return nil
}

// set stores value in the counter segs names under v (addressable).
func set(v reflect.Value, segs []string, value string, names func(int) string) error {
	if v.Kind() != reflect.Pointer && v.Addr().Type().Implements(counterSetType) {
		if len(segs) == 0 {
			return errNoName
		}
		u, err := parseUint(value, 64)
		if err != nil {
			return err
		}
		return v.Addr().Interface().(counterSet).SetCounter(strings.Join(segs, "."), u)
	}
	switch v.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if len(segs) != 0 {
			return errNoName
		}
		return setLeaf(v, value)
	case reflect.Pointer:
		if !v.IsNil() {
			return set(v.Elem(), segs, value, names)
		}
		p := reflect.New(v.Type().Elem())
		if err := set(p.Elem(), segs, value, names); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Struct:
		if len(segs) == 0 {
			return errNoName
		}
		t := v.Type()
		k := keyField(t)
		for i := 0; i < t.NumField(); i++ {
			fd := fieldOf(t.Field(i))
			switch {
			case fd.skip || i == k:
			case fd.inline:
				if err := set(v.Field(i), segs, value, names); !errors.Is(err, errNoName) {
					return err
				}
			case fd.name == segs[0]:
				return set(v.Field(i), segs[1:], value, arrayNames(t, t.Field(i)))
			}
		}
	case reflect.Array:
		if len(segs) == 0 {
			return errNoName
		}
		for i := 0; i < v.Len(); i++ {
			if names(i) == segs[0] {
				return set(v.Index(i), segs[1:], value, strconv.Itoa)
			}
		}
	case reflect.Slice:
		if len(segs) == 0 {
			return errNoName
		}
		k := keyField(v.Type().Elem())
		if k < 0 {
			return errNoName
		}
		for i := 0; i < v.Len(); i++ {
			if keyString(v.Index(i).Field(k)) == segs[0] {
				return set(v.Index(i), segs[1:], value, strconv.Itoa)
			}
		}
		e := reflect.New(v.Type().Elem()).Elem()
		if kf := e.Field(k); kf.Kind() == reflect.String {
			if !validKey(segs[0]) {
				return errNoName
			}
			kf.SetString(segs[0])
		} else if setLeaf(kf, segs[0]) != nil {
			return errNoName
		}
		if err := set(e, segs[1:], value, strconv.Itoa); err != nil {
			return err
		}
		v.Set(reflect.Append(v, e))
		return nil
	case reflect.Map:
		if len(segs) == 0 || !validKey(segs[0]) {
			return errNoName
		}
		key := reflect.ValueOf(segs[0]).Convert(v.Type().Key())
		e := reflect.New(v.Type().Elem()).Elem()
		if old := v.MapIndex(key); old.IsValid() {
			e.Set(old)
		}
		if err := set(e, segs[1:], value, strconv.Itoa); err != nil {
			return err
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		v.SetMapIndex(key, e)
		return nil
	}
	return errNoName
}

// setLeaf parses value, in its canonical form only, into v.
func setLeaf(v reflect.Value, value string) error {
	switch v.Kind() {
	case reflect.Bool:
		switch value {
		case "0", "1":
			v.SetBool(value == "1")
			return nil
		}
		return fmt.Errorf("value %q is not 0 or 1", value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := parseInt(value, v.Type().Bits())
		if err != nil {
			return err
		}
		v.SetInt(n)
		return nil
	}
	u, err := parseUint(value, v.Type().Bits())
	if err != nil {
		return err
	}
	v.SetUint(u)
	return nil
}

func parseUint(s string, bits int) (uint64, error) {
	u, err := strconv.ParseUint(s, 10, bits)
	if err != nil || strconv.FormatUint(u, 10) != s {
		return 0, fmt.Errorf("value %q is not a %d-bit unsigned decimal", s, bits)
	}
	return u, nil
}

func parseInt(s string, bits int) (int64, error) {
	n, err := strconv.ParseInt(s, 10, bits)
	if err != nil || strconv.FormatInt(n, 10) != s {
		return 0, fmt.Errorf("value %q is not a %d-bit decimal", s, bits)
	}
	return n, nil
}

func fmtInt(n int64) string { return strconv.FormatInt(n, 10) }
