package config

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
	"go.yaml.in/yaml/v3"
)

// YAML is a kong.ConfigurationLoader for s3gate's YAML file. A value from
// the file applies only when the setting's environment variable is unset,
// so the environment overrides the file (kong itself would let the file win).
// Unknown keys are an error: a misspelt setting must not be ignored.
func YAML(r io.Reader) (kong.Resolver, error) {
	var doc map[string]any
	if err := yaml.NewDecoder(r).Decode(&doc); err != nil && err != io.EOF {
		return nil, fmt.Errorf("config file: %w", err)
	}
	values := map[string]any{}
	if err := flatten("", doc, values); err != nil {
		return nil, err
	}
	return &yamlResolver{values: values}, nil
}

type yamlResolver struct {
	values map[string]any // flag name -> value
}

// flatten turns {http: {idle_timeout: 5s}} into {"http-idle-timeout": "5s"}.
func flatten(prefix string, m map[string]any, out map[string]any) error {
	for k, v := range m {
		if prefix == "" && structured(k) {
			continue // LoadStorage and LoadAuth read these
		}
		name := strings.ReplaceAll(k, "_", "-")
		if prefix != "" {
			name = prefix + "-" + name
		}
		if sub, ok := v.(map[string]any); ok {
			if prefix != "" {
				return fmt.Errorf("config file: %s: settings nest one level deep at most", YAMLKey(name))
			}
			if err := flatten(name, sub, out); err != nil {
				return err
			}
			continue
		}
		out[name] = v
	}
	return nil
}

func (y *yamlResolver) Resolve(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
	if len(flag.Envs) == 0 {
		return nil, nil // a command's own argument (keys create --user), not a setting
	}
	for _, env := range flag.Envs {
		if _, set := os.LookupEnv(env); set {
			return nil, nil
		}
	}
	v, ok := y.values[flag.Name]
	if !ok {
		return nil, nil
	}
	if list, ok := v.([]any); ok {
		// kong takes a list as one comma-separated value.
		parts := make([]string, len(list))
		for i, e := range list {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ","), nil
	}
	return fmt.Sprint(v), nil
}

func (y *yamlResolver) Validate(app *kong.Application) error {
	known := map[string]bool{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			if len(f.Envs) > 0 {
				known[f.Name] = true
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(app.Node)
	var unknown []string
	for name := range y.values {
		if !known[name] || name == "config" || name == "help" {
			unknown = append(unknown, YAMLKey(name))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config file: unknown setting(s) %s (see s3gate serve --help)", strings.Join(unknown, ", "))
	}
	return nil
}
