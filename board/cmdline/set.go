package cmdline

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Value is a parameter's value, as flag.Value. Set must leave the value
// as it was when it returns an error.
type Value interface {
	String() string
	Set(string) error
}

// BoolValue is a Value that a bare word sets to true.
type BoolValue interface {
	Value
	IsBool() bool
}

// Param is one parameter of a Set.
type Param struct {
	// Name is the name after Namespace, e.g. "addr" or "test.panic".
	Name  string
	Usage string
	Value Value
	// Default is the value's String when it was registered.
	Default string
}

// Test reports whether the parameter is one of the test-only hooks.
func (p *Param) Test() bool { return strings.HasPrefix(Namespace+p.Name, TestNamespace) }

// Set is the parameters a program takes in Namespace. The zero Set is
// empty and ready to use.
type Set struct {
	byName map[string]*Param
	params []*Param
}

// Var registers v under Namespace+name. It panics if name is empty or
// taken: parameters are fixed when the program is written.
func (s *Set) Var(v Value, name, usage string) {
	key := normalize(name)
	if name == "" || strings.HasPrefix(name, Namespace) {
		panic("cmdline: bad parameter name " + strconv.Quote(name))
	}
	if _, dup := s.byName[key]; dup {
		panic("cmdline: parameter " + Namespace + name + " registered twice")
	}
	if s.byName == nil {
		s.byName = map[string]*Param{}
	}
	p := &Param{Name: name, Usage: usage, Value: v, Default: v.String()}
	s.byName[key] = p
	s.params = append(s.params, p)
}

// Bool registers a flag, false unless the word is present (or =1, y,
// yes, on, true; =0, n, no, off, false clear it, as Linux's kstrtobool).
func (s *Set) Bool(p *bool, name, usage string) {
	s.BoolDefault(p, name, false, usage)
}

// BoolDefault registers a flag as Bool does, with def its value when no
// word sets it (true: on unless =off, =0 … clears it).
func (s *Set) BoolDefault(p *bool, name string, def bool, usage string) {
	*p = def
	s.Var((*boolValue)(p), name, usage)
}

// Duration registers a duration (time.ParseDuration's syntax) that must
// not be negative.
func (s *Set) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	s.Var((*durationValue)(p), name, usage)
}

// Uint registers an unsigned decimal number.
func (s *Set) Uint(p *uint64, name string, def uint64, usage string) {
	*p = def
	s.Var((*uintValue)(p), name, usage)
}

// Params returns the parameters in the order they were registered.
func (s *Set) Params() []*Param { return s.params }

// Lookup returns the parameter named name (after Namespace), or nil.
func (s *Set) Lookup(name string) *Param { return s.byName[normalize(name)] }

// Parse applies the kaidoku words of line to their parameters, in order,
// and returns what it could not apply: a *ValueError for each refused
// value, then one *UnknownError listing the kaidoku words that name no
// parameter. Other words are not kaidoku's and are skipped.
func (s *Set) Parse(line string) []error {
	var errs []error
	var unknown []Word
	for _, w := range Split(line) {
		name, ok := strings.CutPrefix(w.Name, Namespace)
		if !ok {
			continue
		}
		p := s.byName[normalize(name)]
		if p == nil {
			unknown = append(unknown, w)
			continue
		}
		var err error
		switch b, isBool := p.Value.(BoolValue); {
		case !w.HasValue && isBool && b.IsBool():
			err = p.Value.Set("1")
		case !w.HasValue:
			err = errors.New("needs a value (" + Namespace + p.Name + "=...)")
		default:
			err = p.Value.Set(w.Value)
		}
		if err != nil {
			errs = append(errs, &ValueError{Word: w, Err: err, Kept: p.Value.String()})
		}
	}
	if len(unknown) > 0 {
		errs = append(errs, &UnknownError{Words: unknown})
	}
	return errs
}

type boolValue bool

func (b *boolValue) IsBool() bool { return true }

func (b *boolValue) String() string {
	if *b {
		return "on"
	}
	return "off"
}

func (b *boolValue) Set(s string) error {
	switch strings.ToLower(s) {
	case "1", "y", "yes", "on", "true":
		*b = true
	case "0", "n", "no", "off", "false":
		*b = false
	default:
		return fmt.Errorf("want on or off, not %q", s)
	}
	return nil
}

type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("want a duration such as 200us or 1s, not %q", s)
	}
	*d = durationValue(v)
	return nil
}

type uintValue uint64

func (u *uintValue) String() string { return strconv.FormatUint(uint64(*u), 10) }

func (u *uintValue) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a decimal number, not %q", s)
	}
	*u = uintValue(v)
	return nil
}
