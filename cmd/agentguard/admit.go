package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/agentguard/agentguard/webhook"
	"github.com/agentguard/agentguard/webhook/guardrails"
)

type admitOptions struct {
	file            string
	bundle          string
	noMutate        bool
	namespaceLabels string
	output          string
	user            string
	groups          []string
}

func newAdmitCmd(_ *globalFlags) *cobra.Command {
	o := &admitOptions{}
	cmd := &cobra.Command{
		Use:   "admit -f FILE",
		Short: "Evaluate Kubernetes manifests offline, as the admission webhook would",
		Long: `Evaluate Kubernetes manifests without a cluster, through the same code path as
the admission webhook: secure defaults are applied (the mutating webhook), then
the guardrails and the bundle's Rego rules run (the validating webhook).

FILE holds one or more YAML or JSON documents, including List objects; "-"
reads standard input. Namespace objects in the input supply the labels of
their namespace; other namespaces get --namespace-labels.

Exit status: 0 when every object is admitted, 1 when any is denied, 2 on bad
input.`,
		Example: `  agentguard admit -f deploy/agent.yaml
  helm template charts/agent | agentguard admit -f - -o json
  agentguard admit -f pod.yaml --no-mutate --namespace-labels agentguard.io/tenant=team-a`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAdmit(cmd.Context(), o, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", `manifest file ("-" for standard input)`)
	f.StringVar(&o.bundle, "bundle", "policies/", "bundle directory (its admission/ part)")
	f.BoolVar(&o.noMutate, "no-mutate", false, "validate the objects as written, without secure defaults")
	f.StringVar(&o.namespaceLabels, "namespace-labels", guardrails.LabelTenant+"=default",
		"labels (k=v,...) of namespaces not defined in the input; the default makes them agent tenant namespaces")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	f.StringVar(&o.user, "user", "", "requesting user (enables the protected-label check)")
	f.StringSliceVar(&o.groups, "groups", nil, "groups of --user")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// admitEntry is one object in the JSON output.
type admitEntry struct {
	Kind       string               `json:"kind"`
	Namespace  string               `json:"namespace,omitempty"`
	Name       string               `json:"name"`
	Allowed    bool                 `json:"allowed"`
	Exempt     string               `json:"exempt,omitempty"`
	Violations []admitViolation     `json:"violations"`
	Warnings   []string             `json:"warnings"`
	Patch      []webhook.PatchOp    `json:"patch"`
	decision   *guardrails.Decision `json:"-"`
}

type admitViolation struct {
	ID      string          `json:"id"`
	Message string          `json:"message"`
	Mode    guardrails.Mode `json:"mode"`
}

func badInput(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

func runAdmit(ctx context.Context, o *admitOptions, stdin io.Reader, stdout io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.output != "table" && o.output != "json" {
		return badInput("--output %q: want table or json", o.output)
	}
	defaultLabels, err := parseLabels(o.namespaceLabels)
	if err != nil {
		return badInput("--namespace-labels: %v", err)
	}
	var data []byte
	if o.file == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(o.file)
	}
	if err != nil {
		return badInput("read %s: %v", o.file, err)
	}
	objs, err := splitObjects(data)
	if err != nil {
		return badInput("%s: %v", o.file, err)
	}
	e, err := guardrails.LoadBundle(ctx, o.bundle)
	if err != nil {
		return badInput("%v", err)
	}
	nsLabels := map[string]map[string]string{}
	for _, obj := range objs {
		if obj.gk == (schema.GroupKind{Kind: "Namespace"}) {
			nsLabels[obj.name] = obj.labels
		}
	}
	var user *guardrails.User
	if o.user != "" || len(o.groups) > 0 {
		user = &guardrails.User{Username: o.user, Groups: o.groups}
	}
	rv := &webhook.Reviewer{Offline: true}
	entries := make([]admitEntry, 0, len(objs))
	denied := 0
	for _, obj := range objs {
		labels, ok := nsLabels[obj.namespace]
		if !ok {
			labels = defaultLabels
		}
		req := &webhook.Request{
			Kind: obj.gk, Operation: "CREATE", Namespace: obj.namespace, Name: obj.name,
			Object: obj.raw, User: user, NamespaceLabels: labels,
		}
		if obj.gk.Kind == "Namespace" {
			req.Namespace = ""
		}
		res, err := rv.Admit(ctx, e, req, !o.noMutate)
		if err != nil {
			return badInput("%s %s/%s: %v", obj.gk.Kind, obj.namespace, obj.name, err)
		}
		ent := admitEntry{Kind: obj.gk.Kind, Namespace: req.Namespace, Name: obj.name, Allowed: res.Allowed(),
			Violations: []admitViolation{}, Warnings: []string{}, Patch: res.Mutation.Patch, decision: res.Decision}
		if ent.Patch == nil {
			ent.Patch = []webhook.PatchOp{}
		}
		if d := res.Decision; d != nil {
			ent.Exempt = d.Exempt
			for _, v := range d.Violations {
				ent.Violations = append(ent.Violations, admitViolation{ID: v.ID, Message: v.Message, Mode: v.Mode})
			}
			if w := d.Warnings(); w != nil {
				ent.Warnings = w
			}
		}
		if !ent.Allowed {
			denied++
		}
		entries = append(entries, ent)
	}
	if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(entries); err != nil {
			return err
		}
	} else {
		writeAdmitTable(stdout, entries)
	}
	if denied > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d objects denied", denied, len(entries))}
	}
	return nil
}

func writeAdmitTable(w io.Writer, entries []admitEntry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tRESULT\tVIOLATIONS\tMUTATIONS")
	for _, e := range entries {
		result := "allowed"
		switch {
		case !e.Allowed:
			result = "DENIED"
		case e.Exempt != "":
			result = "exempt"
		case len(e.Warnings) > 0:
			result = "allowed (warnings)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", e.Kind, dash(e.Namespace), e.Name, result, len(e.Violations), len(e.Patch))
	}
	_ = tw.Flush()
	for _, e := range entries {
		if len(e.Violations) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s %s/%s:\n", e.Kind, dash(e.Namespace), e.Name)
		for _, v := range e.Violations {
			fmt.Fprintf(w, "  %-7s %s\n", v.Mode, v.Message)
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

// inputObject is one object of the admit input.
type inputObject struct {
	gk        schema.GroupKind
	namespace string
	name      string
	labels    map[string]string
	raw       []byte
}

type objHeader struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name         string            `json:"name"`
		GenerateName string            `json:"generateName"`
		Namespace    string            `json:"namespace"`
		Labels       map[string]string `json:"labels"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

// splitObjects decodes multi-document YAML or JSON, expanding Lists.
func splitObjects(data []byte) ([]inputObject, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []inputObject
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		objs, err := expand(raw, fmt.Sprintf("document %d", doc))
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	if len(out) == 0 {
		return nil, errors.New("no Kubernetes objects found")
	}
	return out, nil
}

func expand(raw []byte, where string) ([]inputObject, error) {
	var h objHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("%s: not a Kubernetes object: %w", where, err)
	}
	if h.APIVersion == "" || h.Kind == "" {
		return nil, fmt.Errorf("%s: apiVersion and kind are required", where)
	}
	gv, err := schema.ParseGroupVersion(h.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if h.Kind == "List" || (strings.HasSuffix(h.Kind, "List") && h.Items != nil) {
		var out []inputObject
		for i, it := range h.Items {
			objs, err := expand(it, fmt.Sprintf("%s items[%d]", where, i))
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	}
	name := h.Metadata.Name
	if name == "" {
		name = h.Metadata.GenerateName
	}
	ns := h.Metadata.Namespace
	if ns == "" && h.Kind != "Namespace" {
		ns = "default"
	}
	return []inputObject{{
		gk: schema.GroupKind{Group: gv.Group, Kind: h.Kind}, namespace: ns, name: name,
		labels: h.Metadata.Labels, raw: raw,
	}}, nil
}
