package pdp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/resolved"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
)

// File is one file of a bundle's Cedar part.
type File struct {
	Name string // path shown in errors, e.g. "pdp/tools.cedar"
	Data []byte
}

// Source is the Cedar part of a bundle.
type Source struct {
	// Schema is the bundle's one *.cedarschema file.
	Schema File
	// Policies are the *.cedar files. Every policy carries a unique @id.
	Policies []File
	// Entities is entities.json (Cedar's JSON entity format); optional.
	Entities *File
	// Mapping is mapping.yaml (see Mapping); optional.
	Mapping *File
	// Grants is grants.yaml (see Grantables); optional.
	Grants *File
	// Fallback is fallback.yaml (see Fallback); optional.
	Fallback *File
	// Revision names this bundle version in decisions. Default: a hash of
	// every file.
	Revision string
}

// PolicyIDAnnotation is the annotation that names a policy.
const PolicyIDAnnotation = "id"

// ReadDir reads the Cedar part of the bundle rooted at dir; see ReadFS.
func ReadDir(dir string) (Source, error) {
	src, err := ReadFS(os.DirFS(dir))
	if err != nil {
		return src, fmt.Errorf("read bundle %q: %w", dir, err)
	}
	return src, nil
}

// ReadFS reads the Cedar part of the bundle rooted at fsys: pdp/*.cedar,
// exactly one pdp/*.cedarschema, and the optional pdp/entities.json and
// pdp/mapping.yaml, pdp/grants.yaml and pdp/fallback.yaml. The revision comes from .manifest
// when it has one.
func ReadFS(fsys fs.FS) (Source, error) {
	var src Source
	ents, err := fs.ReadDir(fsys, "pdp")
	if err != nil {
		return src, err
	}
	var schemas []File
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		name := path.Join("pdp", e.Name())
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return src, err
		}
		f := File{Name: name, Data: data}
		switch {
		case strings.HasSuffix(name, ".cedarschema"):
			schemas = append(schemas, f)
		case strings.HasSuffix(name, ".cedar"):
			src.Policies = append(src.Policies, f)
		case e.Name() == "entities.json":
			src.Entities = &f
		case e.Name() == "mapping.yaml":
			src.Mapping = &f
		case e.Name() == "grants.yaml":
			src.Grants = &f
		case e.Name() == "fallback.yaml":
			src.Fallback = &f
		}
	}
	if len(schemas) != 1 {
		return src, &LoadError{File: "pdp/", Err: fmt.Errorf("want exactly one *.cedarschema file, found %d", len(schemas))}
	}
	src.Schema = schemas[0]
	if m, err := fs.ReadFile(fsys, ".manifest"); err == nil {
		var man struct {
			Revision string `json:"revision"`
		}
		if err := json.Unmarshal(m, &man); err != nil {
			return src, &LoadError{File: ".manifest", Err: err}
		}
		src.Revision = man.Revision
	}
	return src, nil
}

// Load reads the bundle rooted at dir and builds an Engine from it.
func Load(dir string, opts Options) (*Engine, error) {
	src, err := ReadDir(dir)
	if err != nil {
		return nil, err
	}
	return New(src, opts)
}

// policy is one named, validated policy.
type policy struct {
	id    cedar.PolicyID
	p     *cedar.Policy
	multi bool // indexed under several keys (action in [..])

	// scope is p's scope and body p with an unconstrained one, when the
	// index can match the scope itself (body != nil); see scope.go.
	scope scope
	body  *policy
}

// newPolicy files a bundle policy with its scope and body.
func newPolicy(id cedar.PolicyID, p *cedar.Policy, in interner) *policy {
	out := &policy{id: id, p: p}
	if s, ok := compileScope(p); ok {
		out.scope, out.body = s, &policy{id: id, p: bodyOnly(p, in)}
	}
	return out
}

// compiled is everything New derives from a Source.
type compiled struct {
	schema     *resolved.Schema
	validator  *validate.Validator
	policies   []*policy
	entities   types.EntityMap
	mapping    *Mapping
	grantables *Grantables
	fallback   *Fallback
	revision   string
}

func compile(src Source) (*compiled, error) {
	c := &compiled{revision: src.Revision}
	if c.revision == "" {
		c.revision = contentRevision(src)
	}

	var sch schema.Schema
	sch.SetFilename(src.Schema.Name)
	if err := sch.UnmarshalCedar(src.Schema.Data); err != nil {
		return nil, &LoadError{File: src.Schema.Name, Line: lineOf(err), Err: err}
	}
	rs, err := sch.Resolve()
	if err != nil {
		return nil, &LoadError{File: src.Schema.Name, Line: lineOf(err), Err: err}
	}
	c.schema = rs
	c.validator = validate.New(rs, validate.WithStrict())

	var errs []error
	in := interner{} // strings shared by the policies' bodies and the entities
	seen := map[cedar.PolicyID]cedar.Position{}
	for _, f := range src.Policies {
		list, err := cedar.NewPolicyListFromBytes(f.Name, f.Data)
		if err != nil {
			errs = append(errs, &LoadError{File: f.Name, Line: lineOf(err), Err: err})
			continue
		}
		for _, p := range list {
			pos := p.Position()
			id, ok := p.Annotations()[PolicyIDAnnotation]
			if !ok || id == "" {
				errs = append(errs, &LoadError{File: f.Name, Line: pos.Line, Err: errors.New(`policy has no @id("...") annotation`)})
				continue
			}
			pid := cedar.PolicyID(id)
			if prev, dup := seen[pid]; dup {
				errs = append(errs, &LoadError{File: f.Name, Line: pos.Line, Err: fmt.Errorf("policy id %q already used at %s:%d", id, prev.Filename, prev.Line)})
				continue
			}
			seen[pid] = pos
			if err := guard(func() error { return c.validator.Policy(string(id), (*xast.Policy)(p.AST())) }); err != nil {
				errs = append(errs, &LoadError{File: f.Name, Line: pos.Line, Err: fmt.Errorf("policy %q does not validate against the schema: %w", id, err)})
				continue
			}
			c.policies = append(c.policies, newPolicy(pid, p, in))
		}
	}

	c.entities = types.EntityMap{}
	if src.Entities != nil {
		if err := c.loadEntities(*src.Entities); err != nil {
			errs = append(errs, err)
		}
	}
	// Action entities (and their groups) come from the schema, so that
	// `action in Action::"group"` works.
	for uid, a := range rs.Actions {
		ent := a.Entity
		ent.UID = uid
		c.entities[uid] = ent
	}

	c.mapping = defaultMapping(rs)
	if src.Mapping != nil {
		m, err := parseMapping(src.Mapping.Data)
		if err == nil {
			err = m.check(rs)
		}
		if err != nil {
			errs = append(errs, &LoadError{File: src.Mapping.Name, Err: err})
		} else {
			c.mapping = m
		}
	}
	if src.Grants != nil {
		g, err := parseGrantables(src.Grants.Data)
		if err == nil {
			err = g.check(c.mapping, c.entities)
		}
		if err != nil {
			errs = append(errs, &LoadError{File: src.Grants.Name, Err: err})
		} else {
			c.grantables = g
		}
	}
	if src.Fallback != nil {
		f, err := parseFallback(src.Fallback.Data)
		if err == nil {
			err = f.check(c.mapping, c.entities)
		}
		if err != nil {
			errs = append(errs, &LoadError{File: src.Fallback.Name, Err: err})
		} else {
			c.fallback = f
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.entities = in.entities(c.entities)
	in.mapping(c.mapping)
	return c, nil
}

func (c *compiled) loadEntities(f File) error {
	var list []json.RawMessage
	if err := json.Unmarshal(f.Data, &list); err != nil {
		return &LoadError{File: f.Name, Err: fmt.Errorf("want a JSON array of entities: %w", err)}
	}
	var errs []error
	for i, raw := range list {
		var e types.Entity
		if err := e.UnmarshalJSON(raw); err != nil {
			errs = append(errs, &LoadError{File: f.Name, Err: fmt.Errorf("entity #%d: %w", i, err)})
			continue
		}
		if _, isAction := c.schema.Actions[e.UID]; isAction || strings.HasSuffix(string(e.UID.Type), "Action") {
			errs = append(errs, &LoadError{File: f.Name, Err: fmt.Errorf("entity %s: actions come from the schema, not from entities.json", e.UID)})
			continue
		}
		if _, dup := c.entities[e.UID]; dup {
			errs = append(errs, &LoadError{File: f.Name, Err: fmt.Errorf("entity %s is defined twice", e.UID)})
			continue
		}
		if err := guard(func() error { return c.validator.Entity(e) }); err != nil {
			errs = append(errs, &LoadError{File: f.Name, Err: fmt.Errorf("entity %s does not conform to the schema: %w", e.UID, err)})
			continue
		}
		c.entities[e.UID] = e
	}
	return errors.Join(errs...)
}

func contentRevision(src Source) string {
	h := sha256.New()
	files := append([]File{src.Schema}, src.Policies...)
	if src.Entities != nil {
		files = append(files, *src.Entities)
	}
	if src.Mapping != nil {
		files = append(files, *src.Mapping)
	}
	if src.Grants != nil {
		files = append(files, *src.Grants)
	}
	if src.Fallback != nil {
		files = append(files, *src.Fallback)
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Name, len(f.Data))
		h.Write(f.Data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

var lineRE = regexp.MustCompile(`:(\d+):\d+`)

// lineOf finds "file:line:col" in a cedar-go error, or returns 0.
func lineOf(err error) int {
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}
