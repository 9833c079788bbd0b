package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads, expands, defaults and validates the file at path. On failure the error is an
// Errors listing every problem found, or a plain error when the file cannot be read or parsed.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data, os.LookupEnv)
}

// Parse is Load for bytes already read; lookupEnv resolves ${NAME} references.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	cfg := &Config{}
	d := decoder{lookupEnv: lookupEnv}
	if len(root.Content) > 0 {
		d.decode(root.Content[0], reflect.ValueOf(cfg).Elem(), "")
	}
	cfg.applyDefaults()
	errs := d.errs
	for _, e := range cfg.validate() {
		if !errs.has(e.Path) { // a value that did not decode is reported once
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// FieldError is one problem in the config, at a key path such as "upstreams[2].timeout".
type FieldError struct {
	Path string
	Line int // 0 when the problem is not tied to one line (a missing key, a default)
	Msg  string
}

func (e FieldError) String() string {
	path := e.Path
	if path == "" {
		path = "(top level)"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", path, e.Msg, e.Line)
	}
	return path + ": " + e.Msg
}

// Errors is every problem found in a config, in file order for decoding problems followed by
// validation problems.
type Errors []FieldError

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.String()
	}
	return strings.Join(lines, "\n")
}

func (e Errors) has(path string) bool {
	for _, fe := range e {
		if fe.Path == path || strings.HasPrefix(path, fe.Path+".") {
			return true
		}
	}
	return false
}

// scalarParser is implemented by value types written as one string (durations, rates).
type scalarParser interface {
	parseScalar(string) error
}

// decoder maps a YAML node tree onto the Config struct by reflection. Unlike yaml.Decode it keeps
// going after a problem, so that every problem is reported with its key path, and it rejects keys
// the schema does not know.
type decoder struct {
	lookupEnv func(string) (string, bool)
	errs      Errors
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, FieldError{Path: path, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // absent and null are the same: the default applies
	}
	if p, ok := v.Addr().Interface().(scalarParser); ok {
		if s, ok := d.scalar(n, path); ok {
			if err := p.parseScalar(s); err != nil {
				d.fail(n, path, "%v", err)
			}
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decode(n, elem.Elem(), path)
		v.Set(elem)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if s, ok := d.scalar(n, path); ok {
			v.SetString(s)
		}
	case reflect.Int:
		if s, ok := d.scalar(n, path); ok {
			i, err := strconv.Atoi(s)
			if err != nil {
				d.fail(n, path, "want an integer, got %q", s)
				return
			}
			v.SetInt(int64(i))
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path); ok {
			b, err := strconv.ParseBool(s)
			if err != nil {
				d.fail(n, path, "want true or false, got %q", s)
				return
			}
			v.SetBool(b)
		}
	default:
		panic("config: unsupported field kind " + v.Kind().String())
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping of keys")
		return
	}
	fields := yamlFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		keyPath := join(path, key.Value)
		if seen[key.Value] {
			d.fail(key, keyPath, "key appears twice")
			continue
		}
		seen[key.Value] = true
		idx, ok := fields[key.Value]
		if !ok {
			d.fail(key, keyPath, "unknown key")
			continue
		}
		d.decode(val, v.FieldByIndex(idx), keyPath)
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping of keys")
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		keyPath := fmt.Sprintf("%s[%q]", path, key.Value)
		if m.MapIndex(reflect.ValueOf(key.Value)).IsValid() {
			d.fail(key, keyPath, "key appears twice")
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, keyPath)
		m.SetMapIndex(reflect.ValueOf(key.Value), elem)
	}
	v.Set(m)
}

// scalar returns n's text with ${ENV} references expanded.
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want a single value")
		return "", false
	}
	s, err := expandEnv(n.Value, d.lookupEnv)
	if err != nil {
		d.fail(n, path, "%v", err)
		return "", false
	}
	return s, true
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// expandEnv replaces ${NAME} with the variable's value and ${NAME:-fallback} with the value or,
// when NAME is unset or empty, the fallback. An unset NAME without fallback is an error, so that a
// missing secret is caught before the gateway starts rather than sent as an empty header.
func expandEnv(s string, lookupEnv func(string) (string, bool)) (string, error) {
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := envRef.FindStringSubmatch(ref)
		val, ok := lookupEnv(m[1])
		if m[2] != "" && val == "" {
			return m[2][2:]
		}
		if !ok {
			missing = append(missing, m[1])
		}
		return val
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	return out, nil
}

// yamlFields maps the yaml key of each field of t to its index; the keys of a field tagged
// ",inline" (a struct) are t's own.
func yamlFields(t reflect.Type) map[string][]int {
	fields := make(map[string][]int, t.NumField())
	for i := range t.NumField() {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" && opts == "inline" {
			for key, idx := range yamlFields(t.Field(i).Type) {
				fields[key] = append([]int{i}, idx...)
			}
			continue
		}
		if name != "" && name != "-" {
			fields[name] = []int{i}
		}
	}
	return fields
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
